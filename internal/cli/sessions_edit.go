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
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// The sessions commands that search, export or change the store: each
// body is a function of its parsed options (sessionsSearchOpts, ...).

// searchOptions are hermes sessions search's arguments and flags.
type searchOptions struct {
	query  string
	n      int
	asJSON bool
}

func searchSessions(ctx context.Context, e *Env, o searchOptions) error {
	query, n, asJSON := o.query, o.n, o.asJSON
	if n < 0 {
		return usageError("-n %d: want 0 (all) or more", n)
	}
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
	ref, err := profiles.Resolve(home, e.Profile)
	if err != nil {
		return nil, "", false, err
	}
	name := ref.Name()
	if err := gateway.CheckFiles(ref); err != nil {
		return nil, "", false, err
	}
	if !ref.IsDefault() && !profiles.Exists(ref) {
		return nil, "", false, fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	c, err := profiles.LoadConfig(profiles.ConfigPath(ref))
	if err != nil {
		return nil, "", false, err
	}
	sc, err := c.Sessions()
	if err != nil {
		return nil, "", false, err
	}
	path := filepath.Join(ref.Dir(), sessionsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, name, false, nil
	}
	st, err = sessions.Open(path, sessions.Options{IdleTimeout: sc.IdleTimeout})
	if err != nil {
		return nil, "", false, err
	}
	return st, name, true, nil
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

// exportOptions are hermes sessions export's argument and flags.
type exportOptions struct {
	id, format, out string
}

func exportSession(ctx context.Context, e *Env, o exportOptions) error {
	id, out := o.id, o.out
	f, err := sessions.ParseFormat(o.format)
	if err != nil {
		return usageError("--format: %s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
	}
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
	// Whole or not at all: safefs's one atomic writer, as the caller's own
	// file (a plain Dir).
	dir, err := safefs.OpenPlain(filepath.Dir(out))
	if err != nil {
		return fmt.Errorf("exporting session %s: %w", id, err)
	}
	defer dir.Close()
	if err := dir.WriteFileAtomic(filepath.Base(out), b.Bytes(), 0o644, safefs.Keep); err != nil {
		return fmt.Errorf("exporting session %s to %s: %w", id, out, err)
	}
	fmt.Fprintf(e.Stderr, "✓ exported session %s to %s (%s, %s)\n", id, out, f, plural(len(d.Messages), "message"))
	return nil
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

// pruneOptions are hermes sessions prune's flags.
type pruneOptions struct {
	olderThan      string
	keep           int
	dryRun, asJSON bool
}

// sessionsPrune is hermes sessions prune [--older-than AGE] [--keep N]
// [--dry-run] [--json].
func sessionsPrune(ctx context.Context, e *Env, po pruneOptions) error {
	if po.keep < 0 {
		return usageError("--keep %d: want 1 or more", po.keep)
	}
	if po.olderThan == "" && po.keep == 0 {
		return usageError("prune needs --older-than AGE, --keep N or both (hermes sessions prune --older-than 30d --dry-run)")
	}
	o := sessions.PruneOptions{Keep: po.keep, DryRun: po.dryRun}
	if po.olderThan != "" {
		var err error
		if o.OlderThan, err = parseAge(po.olderThan); err != nil {
			return usageError("%s", err)
		}
	}
	return pruneSessions(ctx, e, o, po.asJSON)
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
