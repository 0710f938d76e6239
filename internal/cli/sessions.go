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

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// newSessionsCmd is hermes [-p P] sessions list|show|search|rename|
// export|delete|prune on the state.db of the profile chosen by -p, else
// the active profile, else default.
func newSessionsCmd(e *Env) *cobra.Command {
	c := profiled(&cobra.Command{
		Use:   "sessions",
		Short: "a profile's conversations: list, search, export, prune them",
		Long: `The sessions are read from the profile's state.db while its gateway writes; list, show,
search and export only read it. A search matches its text literally and in any case (% _ ' "
are themselves). A session in use (open, with a turn within sessions.idle_timeout) is never
pruned.`,
	})
	var lo sessionsListOptions
	list := &cobra.Command{
		Use:   "list [--json] [--active] [-n N] [--offset N]",
		Short: "the profile's sessions, most recent activity first",
		RunE:  func(c *cobra.Command, _ []string) error { return sessionsList(c.Context(), e, lo) },
	}
	list.Flags().BoolVar(&lo.asJSON, "json", false, "print JSON")
	list.Flags().BoolVar(&lo.active, "active", false, "only the sessions active in the last 5 minutes and not ended")
	list.Flags().IntVarP(&lo.n, "limit", "n", 20, "at most `N` sessions (0: all)")
	list.Flags().IntVar(&lo.offset, "offset", 0, "skip the `N` most recent first")
	var showJSON bool
	show := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "a session and its messages",
		RunE:  func(c *cobra.Command, args []string) error { return sessionsShow(c.Context(), e, args[0], showJSON) },
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	var so searchOptions
	search := &cobra.Command{
		Use:   "search TEXT... [--json] [-n N]",
		Short: "the sessions whose title or messages hold TEXT, most recent first",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("missing TEXT: usage: %s", usageLine(c))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			so.query = strings.Join(args, " ")
			return searchSessions(c.Context(), e, so)
		},
	}
	search.Flags().BoolVar(&so.asJSON, "json", false, "print JSON")
	search.Flags().IntVarP(&so.n, "limit", "n", 20, "at most `N` sessions (0: all)")
	rename := &cobra.Command{
		Use:   "rename ID TITLE...",
		Short: "set a session's title (one line, 1-200 characters)",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError("missing TITLE: usage: %s", usageLine(c))
			}
			return renameSession(c.Context(), e, args[0], strings.Join(args[1:], " "))
		},
	}
	var xo exportOptions
	export := &cobra.Command{
		Use:   "export ID [--format markdown|json] [-o FILE]",
		Short: "a session as Markdown (the default) or JSON, on stdout or into FILE",
		RunE: func(c *cobra.Command, args []string) error {
			xo.id = args[0]
			return exportSession(c.Context(), e, xo)
		},
	}
	export.Flags().StringVar(&xo.format, "format", "markdown", "`markdown` or json")
	export.Flags().StringVarP(&xo.out, "output", "o", "", "write into `FILE` (whole or not at all) instead of stdout")
	var yes bool
	del := &cobra.Command{
		Use:   "delete ID... [--yes]",
		Short: "delete sessions and their messages (asks first on a terminal)",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("missing ID: usage: %s", usageLine(c))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return deleteSessions(c.Context(), e, args, yes) },
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	var po pruneOptions
	prune := &cobra.Command{
		Use:   "prune [--older-than AGE] [--keep N] [--dry-run] [--json]",
		Short: "delete the sessions older than AGE and/or all but the N most recent (--dry-run: say what would go)",
		RunE:  func(c *cobra.Command, _ []string) error { return sessionsPrune(c.Context(), e, po) },
	}
	prune.Flags().StringVar(&po.olderThan, "older-than", "", "the sessions whose last activity is older than `AGE` (30d, 12h, 90m)")
	prune.Flags().IntVar(&po.keep, "keep", 0, "all but the `N` most recent sessions")
	prune.Flags().BoolVar(&po.dryRun, "dry-run", false, "say what would go, delete nothing")
	prune.Flags().BoolVar(&po.asJSON, "json", false, "print JSON")
	c.AddCommand(list, show, search, rename, export, del, prune)
	return c
}

// sessionsFile is the name of a profile's sessions store (CONTRACT §2).
const sessionsFile = profiles.FileSessions

// sessionsListOptions are hermes sessions list's flags.
type sessionsListOptions struct {
	asJSON, active bool
	n, offset      int
}

// openSessions opens the sessions store of the chosen profile read-only; a
// named profile must exist. A missing state.db reads as empty.
func openSessions(e *Env) (*sessions.Store, string, error) {
	home, err := e.Host.Home()
	if err != nil {
		return nil, "", err
	}
	ref, err := profiles.Resolve(home, e.Profile)
	if err != nil {
		return nil, "", err
	}
	// As root, SQLite would open (and create the -wal and -shm files of)
	// whatever a planted symlink points at.
	name := ref.Name()
	if err := gateway.CheckFiles(ref); err != nil {
		return nil, "", err
	}
	if !ref.IsDefault() && !profiles.Exists(ref) {
		return nil, "", fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	st, err := sessions.OpenReadOnly(filepath.Join(ref.Dir(), sessionsFile))
	if err != nil {
		return nil, "", err
	}
	return st, name, nil
}

func sessionsList(ctx context.Context, e *Env, o sessionsListOptions) error {
	if o.n < 0 {
		return usageError("-n %d: want 0 (all) or more", o.n)
	}
	if o.offset < 0 {
		return usageError("--offset %d: want 0 or more", o.offset)
	}
	st, profile, err := openSessions(e)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	limit := o.n
	if limit > 0 {
		limit++ // one more, to tell whether -n cut the list
	}
	list, err := st.List(ctx, sessions.ListOptions{Limit: limit, Offset: o.offset, ActiveOnly: o.active, Now: now})
	if err != nil {
		return err
	}
	more := o.n > 0 && len(list) > o.n
	if more {
		list = list[:o.n]
	}
	if o.asJSON {
		return printJSON(e.Stdout, items(list, now))
	}
	if len(list) == 0 {
		what := "sessions"
		if o.active {
			what = "active sessions"
		}
		fmt.Fprintf(e.Stdout, "✓ profile %s has no %s\n", profile, what)
		return nil
	}
	writeSessionList(e.Stdout, list, now)
	if more {
		fmt.Fprintf(e.Stdout, "(the %d most recent; -n 0 lists them all)\n", o.n)
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

func sessionsShow(ctx context.Context, e *Env, id string, asJSON bool) error {
	d, err := showSession(ctx, e, id)
	if err != nil {
		return err
	}
	if asJSON {
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
