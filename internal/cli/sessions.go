package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

func init() {
	register(command{name: "sessions", summary: "a profile's conversations: sessions list|show", run: runSessions})
}

const sessionsUsage = `usage: hermes [-p PROFILE] sessions <command> [arguments]

commands:
  list [--json] [--active] [-n N] [--offset N]
                                    the profile's sessions, most recent activity first
                                    (-n: at most N, default 20, 0 for all; --active: the
                                    sessions active in the last 5 minutes and not ended)
  show ID [--json]                  a session and its messages
  search TEXT [--json] [-n N]       the sessions whose title or messages hold TEXT
                                    (matched literally, any case: % _ ' " are themselves)
  rename ID TITLE                   set a session's title (one line, 1-200 characters)
  export ID [--format markdown|json] [-o FILE]
                                    a session as Markdown (the default) or JSON, on
                                    stdout or into FILE
  delete ID... [--yes]              delete sessions and their messages (asks first on a
                                    terminal; --yes does not ask)
  prune [--older-than AGE] [--keep N] [--dry-run] [--json]
                                    delete the sessions older than AGE (30d, 12h, 90m)
                                    and/or all but the N most recent; a session in use
                                    (open, a turn within sessions.idle_timeout) is
                                    skipped; --dry-run says what would go

The sessions are read from the profile's state.db while its gateway writes; list, show,
search and export only read it.
`

// sessionsFile is the name of a profile's sessions store (CONTRACT §2).
const sessionsFile = profiles.FileSessions

// runSessions is hermes [-p P] sessions list|show on the state.db of the
// profile chosen by -p, else the active profile, else default.
func runSessions(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stdout, sessionsUsage)
		return nil
	}
	var err error
	switch args[0] {
	case "list":
		err = sessionsList(ctx, e, args[1:])
	case "show":
		err = sessionsShow(ctx, e, args[1:])
	case "search":
		err = sessionsSearch(ctx, e, args[1:])
	case "rename":
		err = sessionsRename(ctx, e, args[1:])
	case "export":
		err = sessionsExport(ctx, e, args[1:])
	case "delete":
		err = sessionsDelete(ctx, e, args[1:])
	case "prune":
		err = sessionsPrune(ctx, e, args[1:])
	default:
		return usageError("unknown sessions command %q (see hermes sessions help)", args[0])
	}
	if errors.Is(err, errSvcHelp) {
		fmt.Fprint(e.Stdout, sessionsUsage)
		return nil
	}
	return err
}

// openSessions opens the sessions store of the chosen profile read-only; a
// named profile must exist. A missing state.db reads as empty.
func openSessions(e *Env) (*sessions.Store, string, error) {
	home, err := e.Host.Home()
	if err != nil {
		return nil, "", err
	}
	name, err := profiles.Resolve(home, e.Profile)
	if err != nil {
		return nil, "", err
	}
	// As root, SQLite would open (and create the -wal and -shm files of)
	// whatever a planted symlink points at.
	if err := gateway.CheckFiles(home, name); err != nil {
		return nil, "", err
	}
	if name != profiles.Default && !profiles.Exists(home, name) {
		return nil, "", fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	st, err := sessions.OpenReadOnly(filepath.Join(profiles.Dir(home, name), sessionsFile))
	if err != nil {
		return nil, "", err
	}
	return st, name, nil
}

func sessionsList(ctx context.Context, e *Env, args []string) error {
	fs := newCmdFlags("hermes sessions list")
	asJSON := fs.Bool("json", false, "print JSON")
	active := fs.Bool("active", false, "only the active sessions")
	n := fs.Int("n", 20, "at most `N` sessions (0: all)")
	offset := fs.Int("offset", 0, "skip the `N` most recent first")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *n < 0 || *offset < 0 {
		return usageError("usage: hermes sessions list [--json] [--active] [-n N] [--offset N]")
	}
	st, profile, err := openSessions(e)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	limit := *n
	if limit > 0 {
		limit++ // one more, to tell whether -n cut the list
	}
	list, err := st.List(ctx, sessions.ListOptions{Limit: limit, Offset: *offset, ActiveOnly: *active, Now: now})
	if err != nil {
		return err
	}
	more := *n > 0 && len(list) > *n
	if more {
		list = list[:*n]
	}
	if *asJSON {
		return printJSON(e.Stdout, items(list, now))
	}
	if len(list) == 0 {
		what := "sessions"
		if *active {
			what = "active sessions"
		}
		fmt.Fprintf(e.Stdout, "✓ profile %s has no %s\n", profile, what)
		return nil
	}
	writeSessionList(e.Stdout, list, now)
	if more {
		fmt.Fprintf(e.Stdout, "(the %d most recent; -n 0 lists them all)\n", *n)
	}
	return nil
}

// items are the sessions as the API shows them (their --json).
func items(list []sessions.Session, now time.Time) []sessions.Item {
	out := []sessions.Item{}
	for _, s := range list {
		out = append(out, sessions.NewItem(s, now))
	}
	return out
}

// writeSessionList prints one line per session.
func writeSessionList(w io.Writer, list []sessions.Session, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tLAST ACTIVITY\tMESSAGES\tTOKENS\tMODEL\tTITLE")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, sessionState(s, now), sessionTime(s.LastActivityAt),
			s.MessageCount, tokens(s.TotalTokens), orDash(s.Model), orDash(shorten(s.Title, 50)))
	}
	tw.Flush()
}

// sessionState is "active", "ended" or "idle".
func sessionState(s sessions.Session, now time.Time) string { return s.State(now) }

// sessionTime prints a stored time: UTC, to the second.
func sessionTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func tokens(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func sessionsShow(ctx context.Context, e *Env, args []string) error {
	fs := newCmdFlags("hermes sessions show")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: hermes sessions show ID [--json]")
	}
	d, err := showSession(ctx, e, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.Stdout, d)
	}
	writeSession(e.Stdout, d.Session.Session, d.Messages, time.Now())
	return nil
}

// checkSessionID refuses an id no session can have, as a usage error.
func checkSessionID(id string) error {
	if err := sessions.ValidSessionID(id); err != nil {
		return usageError("%s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
	}
	return nil
}

// noSession is the error of an id the profile does not have.
func noSession(profile, id string) error {
	return fmt.Errorf("profile %s has no session %s (see hermes sessions list)", profile, id)
}

// showSession reads one session of the chosen profile, read-only.
func showSession(ctx context.Context, e *Env, id string) (sessions.Detail, error) {
	if err := checkSessionID(id); err != nil {
		return sessions.Detail{}, err
	}
	st, profile, err := openSessions(e)
	if err != nil {
		return sessions.Detail{}, err
	}
	defer st.Close()
	d, err := st.Show(ctx, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return d, noSession(profile, id)
	}
	return d, err
}

// writeSession prints a session's summary, then its messages.
func writeSession(w io.Writer, s sessions.Session, msgs []sessions.Message, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "session\t%s\n", s.ID)
	fmt.Fprintf(tw, "profile\t%s\n", s.Profile)
	fmt.Fprintf(tw, "state\t%s\n", sessionState(s, now))
	fmt.Fprintf(tw, "model\t%s\n", orDash(s.Model))
	fmt.Fprintf(tw, "title\t%s\n", orDash(s.Title))
	fmt.Fprintf(tw, "started\t%s\n", sessionTime(s.StartedAt))
	fmt.Fprintf(tw, "last activity\t%s\n", sessionTime(s.LastActivityAt))
	if s.EndedAt != nil {
		fmt.Fprintf(tw, "ended\t%s\n", sessionTime(*s.EndedAt))
	}
	fmt.Fprintf(tw, "messages\t%d\n", s.MessageCount)
	if s.TotalTokens != 0 || s.PromptTokens != 0 || s.CompletionTokens != 0 {
		fmt.Fprintf(tw, "tokens\t%d (prompt %d, completion %d)\n", s.TotalTokens, s.PromptTokens, s.CompletionTokens)
	} else {
		fmt.Fprintf(tw, "tokens\t-\n")
	}
	tw.Flush()
	for _, m := range msgs {
		head := fmt.Sprintf("[%d] %s  %s", m.Seq, m.Role, sessionTime(m.CreatedAt))
		var notes []string
		if m.Model != "" {
			notes = append(notes, m.Model)
		}
		if m.Usage != nil {
			notes = append(notes, fmt.Sprintf("%d tokens", m.Usage.TotalTokens))
		}
		if m.ResponseID != "" {
			notes = append(notes, m.ResponseID)
		}
		if len(notes) > 0 {
			head += "  (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(w, "\n%s\n", head)
		body := m.Content
		if body == "" && len(m.Raw) > 0 {
			body = "(no text: " + shorten(string(m.Raw), 200) + ")"
		}
		for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}
