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

// newSessionsCmd is hermes [-p P] sessions list|show on the state.db of
// the profile chosen by -p, else the active profile, else default.
func newSessionsCmd(e *Env) *cobra.Command {
	c := profiled(&cobra.Command{
		Use:   "sessions",
		Short: "a profile's conversations: list and show them",
		Long:  "The sessions are read from the profile's state.db, read-only, while its gateway writes.",
	})
	var lo sessionsListOptions
	list := &cobra.Command{
		Use:   "list [--json] [--active] [-n N]",
		Short: "the profile's sessions, most recent activity first",
		RunE:  func(c *cobra.Command, _ []string) error { return sessionsList(c.Context(), e, lo) },
	}
	list.Flags().BoolVar(&lo.asJSON, "json", false, "print JSON")
	list.Flags().BoolVar(&lo.active, "active", false, "only the sessions active in the last 5 minutes and not ended")
	list.Flags().IntVarP(&lo.n, "limit", "n", 20, "at most `N` sessions (0: all)")
	var showJSON bool
	show := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "a session and its messages",
		RunE:  func(c *cobra.Command, args []string) error { return sessionsShow(c.Context(), e, args[0], showJSON) },
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	c.AddCommand(list, show)
	return c
}

// sessionsFile is the name of a profile's sessions store (CONTRACT §2).
const sessionsFile = profiles.FileSessions

// sessionsListOptions are hermes sessions list's flags.
type sessionsListOptions struct {
	asJSON, active bool
	n              int
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

func sessionsList(ctx context.Context, e *Env, o sessionsListOptions) error {
	if o.n < 0 {
		return usageError("-n %d: want 0 (all) or more", o.n)
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
	list, err := st.List(ctx, sessions.ListOptions{Limit: limit, ActiveOnly: o.active, Now: now})
	if err != nil {
		return err
	}
	more := o.n > 0 && len(list) > o.n
	if more {
		list = list[:o.n]
	}
	if o.asJSON {
		if list == nil {
			list = []sessions.Session{}
		}
		return printJSON(e.Stdout, list)
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
func sessionState(s sessions.Session, now time.Time) string {
	switch {
	case s.EndedAt != nil:
		return "ended"
	case s.Active(now):
		return "active"
	}
	return "idle"
}

// sessionTime prints a stored time: UTC, to the second.
func sessionTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func tokens(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// sessionDetail is hermes sessions show --json.
type sessionDetail struct {
	Session  sessions.Session   `json:"session"`
	Messages []sessions.Message `json:"messages"`
}

func sessionsShow(ctx context.Context, e *Env, id string, asJSON bool) error {
	if err := sessions.ValidSessionID(id); err != nil {
		return usageError("%s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
	}
	st, profile, err := openSessions(e)
	if err != nil {
		return err
	}
	defer st.Close()
	s, msgs, err := st.Get(ctx, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return fmt.Errorf("profile %s has no session %s (see hermes sessions list)", profile, id)
	}
	if err != nil {
		return err
	}
	if asJSON {
		if msgs == nil {
			msgs = []sessions.Message{}
		}
		return printJSON(e.Stdout, sessionDetail{Session: s, Messages: msgs})
	}
	writeSession(e.Stdout, s, msgs, time.Now())
	return nil
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
