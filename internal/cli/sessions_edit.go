package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// The sessions commands that search, export or change the store: each
// body is a function of its parsed options (sessionsSearchOpts, ...).

// sessionsSearch is hermes sessions search TEXT [--json] [-n N].
func sessionsSearch(ctx context.Context, e *Env, args []string) error {
	fs := newCmdFlags("hermes sessions search")
	asJSON := fs.Bool("json", false, "print JSON")
	n := fs.Int("n", 20, "at most `N` sessions (0: all)")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) == 0 || *n < 0 {
		return usageError("usage: hermes sessions search TEXT [--json] [-n N]")
	}
	return searchSessions(ctx, e, strings.Join(pos, " "), *n, *asJSON)
}

func searchSessions(ctx context.Context, e *Env, query string, n int, asJSON bool) error {
	st, profile, err := openSessions(e)
	if err != nil {
		return err
	}
	defer st.Close()
	limit := n
	if limit > 0 {
		limit++
	}
	list, err := st.Search(ctx, sessions.SearchOptions{Query: query, Limit: limit})
	if errors.Is(err, sessions.ErrInvalid) {
		return usageError("%s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
	}
	if err != nil {
		return err
	}
	more := n > 0 && len(list) > n
	if more {
		list = list[:n]
	}
	now := time.Now()
	if asJSON {
		return printJSON(e.Stdout, items(list, now))
	}
	if len(list) == 0 {
		fmt.Fprintf(e.Stdout, "✓ no session of profile %s holds %q\n", profile, query)
		return nil
	}
	writeSessionList(e.Stdout, list, now)
	if more {
		fmt.Fprintf(e.Stdout, "(the %d most recent; -n 0 lists them all)\n", n)
	}
	return nil
}

// openSessionsForWrite opens the chosen profile's store for a change,
// with its sessions.idle_timeout (what counts as in use). A profile whose
// gateway never ran has no state.db, and so no session: ok is false and
// nothing is created.
func openSessionsForWrite(e *Env) (st *sessions.Store, profile string, ok bool, err error) {
	home, err := e.Host.Home()
	if err != nil {
		return nil, "", false, err
	}
	name, err := profiles.Resolve(home, e.Profile)
	if err != nil {
		return nil, "", false, err
	}
	if err := gateway.CheckFiles(home, name); err != nil {
		return nil, "", false, err
	}
	if name != profiles.Default && !profiles.Exists(home, name) {
		return nil, "", false, fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	c, err := profiles.LoadConfig(profiles.ConfigPath(home, name))
	if err != nil {
		return nil, "", false, err
	}
	sc, err := c.Sessions()
	if err != nil {
		return nil, "", false, err
	}
	path := filepath.Join(profiles.Dir(home, name), sessionsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, name, false, nil
	}
	st, err = sessions.Open(path, sessions.Options{IdleTimeout: sc.IdleTimeout})
	if err != nil {
		return nil, "", false, err
	}
	return st, name, true, nil
}

// sessionsRename is hermes sessions rename ID TITLE.
func sessionsRename(ctx context.Context, e *Env, args []string) error {
	pos, _, err := parseSvcArgs(newCmdFlags("hermes sessions rename"), args, false)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageError("usage: hermes sessions rename ID TITLE")
	}
	return renameSession(ctx, e, pos[0], strings.Join(pos[1:], " "))
}

func renameSession(ctx context.Context, e *Env, id, title string) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	t, err := sessions.CheckTitle(title)
	if err != nil {
		return usageError("%s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
	}
	st, profile, ok, err := openSessionsForWrite(e)
	if err != nil {
		return err
	}
	if !ok {
		return noSession(profile, id)
	}
	defer st.Close()
	if _, err := st.Rename(ctx, id, t); errors.Is(err, sessions.ErrNotFound) {
		return noSession(profile, id)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ renamed session %s to %q\n", id, t)
	return nil
}

// sessionsExport is hermes sessions export ID [--format F] [-o FILE].
func sessionsExport(ctx context.Context, e *Env, args []string) error {
	fs := newCmdFlags("hermes sessions export")
	format := fs.String("format", "markdown", "`markdown` or json")
	out := fs.String("o", "", "write into `FILE` instead of stdout")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: hermes sessions export ID [--format markdown|json] [-o FILE]")
	}
	f, err := sessions.ParseFormat(*format)
	if err != nil {
		return usageError("%s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
	}
	return exportSession(ctx, e, pos[0], f, *out)
}

func exportSession(ctx context.Context, e *Env, id string, f sessions.Format, out string) error {
	d, err := showSession(ctx, e, id)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := sessions.Export(&b, d, f); err != nil {
		return err
	}
	if out == "" || out == "-" {
		_, err := e.Stdout.Write(b.Bytes())
		return err
	}
	// Whole or not at all: a temporary file beside it, renamed over it.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("exporting session %s: %w", id, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("exporting session %s to %s: %w", id, out, err)
	}
	fmt.Fprintf(e.Stderr, "✓ exported session %s to %s (%s, %s)\n", id, out, f, plural(len(d.Messages), "message"))
	return nil
}

// sessionsDelete is hermes sessions delete ID... [--yes].
func sessionsDelete(ctx context.Context, e *Env, args []string) error {
	fs := newCmdFlags("hermes sessions delete")
	yes := fs.Bool("y", false, "do not ask for confirmation")
	fs.BoolVar(yes, "yes", false, "do not ask for confirmation")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError("usage: hermes sessions delete ID... [--yes]")
	}
	return deleteSessions(ctx, e, pos, *yes)
}

func deleteSessions(ctx context.Context, e *Env, ids []string, yes bool) error {
	for _, id := range ids {
		if err := checkSessionID(id); err != nil {
			return err
		}
	}
	st, profile, ok, err := openSessionsForWrite(e)
	if err != nil {
		return err
	}
	if !ok {
		return noSession(profile, ids[0])
	}
	defer st.Close()
	// Every id must exist before anything is deleted.
	var found []sessions.Session
	for _, id := range ids {
		s, _, err := st.Get(ctx, id)
		if errors.Is(err, sessions.ErrNotFound) {
			return noSession(profile, id)
		}
		if err != nil {
			return err
		}
		found = append(found, s)
	}
	if !yes {
		if !terminal(e.Stdin) {
			return fmt.Errorf("refusing to delete %s without a confirmation: pass --yes (hermes sessions delete %s --yes)", plural(len(ids), "session"), strings.Join(ids, " "))
		}
		for _, s := range found {
			fmt.Fprintf(e.Stderr, "  %s  %s  %s\n", s.ID, plural(s.MessageCount, "message"), orDash(shorten(s.Title, 60)))
		}
		fmt.Fprintf(e.Stderr, "Delete %s of profile %s, with their messages? [y/N] ", plural(len(ids), "session"), profile)
		line, _ := bufio.NewReader(e.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return fmt.Errorf("nothing deleted: the answer was not yes")
		}
	}
	for _, s := range found {
		if err := st.Delete(ctx, s.ID); err != nil && !errors.Is(err, sessions.ErrNotFound) {
			return err
		}
		fmt.Fprintf(e.Stdout, "✓ deleted session %s (%s)\n", s.ID, plural(s.MessageCount, "message"))
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// parseAge reads an age: a Go duration (90m, 12h) or whole days (30d).
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("--older-than %q: want whole days such as 30d, or a duration such as 12h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--older-than %q: want a duration such as 30d, 12h or 90m", s)
	}
	return d, nil
}

// sessionsPrune is hermes sessions prune [--older-than AGE] [--keep N]
// [--dry-run] [--json].
func sessionsPrune(ctx context.Context, e *Env, args []string) error {
	fs := newCmdFlags("hermes sessions prune")
	older := fs.String("older-than", "", "the sessions whose last activity is older than `AGE`")
	keep := fs.Int("keep", 0, "all but the `N` most recent sessions")
	dry := fs.Bool("dry-run", false, "say what would go, delete nothing")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *keep < 0 || *older == "" && *keep == 0 {
		return usageError("usage: hermes sessions prune [--older-than AGE] [--keep N] [--dry-run] [--json] (an age, a count or both)")
	}
	o := sessions.PruneOptions{Keep: *keep, DryRun: *dry}
	if *older != "" {
		if o.OlderThan, err = parseAge(*older); err != nil {
			return usageError("%s", err)
		}
	}
	return pruneSessions(ctx, e, o, *asJSON)
}

func pruneSessions(ctx context.Context, e *Env, o sessions.PruneOptions, asJSON bool) error {
	st, profile, ok, err := openSessionsForWrite(e)
	if err != nil {
		return err
	}
	res := sessions.PruneResult{Pruned: []sessions.Session{}, Skipped: []sessions.Session{}, DryRun: o.DryRun}
	if ok {
		defer st.Close()
		if res, err = st.Prune(ctx, o); err != nil {
			return err
		}
	}
	if asJSON {
		return printJSON(e.Stdout, res)
	}
	verb := "deleted"
	if o.DryRun {
		verb = "would delete"
	}
	for _, s := range res.Pruned {
		fmt.Fprintf(e.Stdout, "  %s %s  %s  %s  %s\n", verb, s.ID, sessionTime(s.LastActivityAt), plural(s.MessageCount, "message"), orDash(shorten(s.Title, 50)))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(e.Stdout, "  skipped %s: in use (open, last turn %s)\n", s.ID, sessionTime(s.LastActivityAt))
	}
	switch {
	case o.DryRun:
		fmt.Fprintf(e.Stdout, "✓ dry run: %s of profile %s would be deleted, %s in use skipped; nothing was deleted\n", plural(len(res.Pruned), "session"), profile, plural(len(res.Skipped), "session"))
	default:
		fmt.Fprintf(e.Stdout, "✓ %s of profile %s deleted, %s in use skipped\n", plural(len(res.Pruned), "session"), profile, plural(len(res.Skipped), "session"))
	}
	return nil
}
