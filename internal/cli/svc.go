package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// newSvcCmd is hermes svc: the control API's client for a person.
func newSvcCmd(e *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "svc",
		Short: "list, start, stop, add and remove supervised services",
		Long:  "The services of the supervisor this process belongs to (hermes init's control socket).",
	}
	var statusJSON bool
	status := &cobra.Command{
		Use:   "status [NAME] [--json]",
		Short: "show services (all, or one)",
		RunE: func(c *cobra.Command, args []string) error {
			return svcStatus(c.Context(), e, e.localClient(), args, statusJSON)
		},
	}
	status.Flags().BoolVar(&statusJSON, "json", false, "print JSON")
	c.AddCommand(status)
	for _, verb := range []string{"start", "stop", "restart"} {
		var asJSON bool
		change := &cobra.Command{
			Use:   verb + " NAME [--json]",
			Short: verb + " a service and wait for it",
			RunE: func(c *cobra.Command, args []string) error {
				return svcChange(c.Context(), e, e.localClient(), verb, args[0], asJSON)
			},
		}
		change.Flags().BoolVar(&asJSON, "json", false, "print the resulting status as JSON")
		c.AddCommand(change)
	}
	var o svcAddOptions
	o.env = envFlags{}
	add := &cobra.Command{
		Use:   "add NAME [flags] -- CMD [ARGS...]",
		Short: "register (or replace) a service",
		Long: `Registers a service with the supervisor (or replaces the one of that name) and
starts it unless --down. Everything after -- is the service's command, as it is:
never a flag of hermes. A service added without --save is gone after a restart;
--save keeps it in $HERMES_HOME/services.d/NAME.yaml, which the boot loads with
the hermes user's rights (hermes svc rm removes it).`,
		Args: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			switch {
			case len(args) == 0 || dash == 0:
				return usageError("missing NAME: usage: %s", usageLine(c))
			case dash < 0:
				return usageError("missing -- CMD: the service's command follows --: usage: %s", usageLine(c))
			case dash > 1:
				return usageError("unexpected argument %q before --: usage: %s", args[1], usageLine(c))
			case len(args) == dash:
				return usageError("missing CMD after --: usage: %s", usageLine(c))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return svcAdd(c.Context(), e, e.localClient(), args[0], args[1:], o)
		},
	}
	add.Flags().StringVar(&o.restart, "restart", "", "when to restart it (`POLICY`): always, on-failure (default) or never")
	add.Flags().BoolVar(&o.down, "down", false, "register without starting")
	add.Flags().Var(o.env, "env", "`K=V` added to the service's environment (repeatable)")
	repeatable(add, "env")
	add.Flags().StringVar(&o.user, "user", "", "user `U` to run as (default: the hermes user)")
	add.Flags().StringVar(&o.logFile, "log-file", "", "log file `F` (default: $HERMES_HOME/logs/NAME/current)")
	add.Flags().BoolVar(&o.save, "save", false, "keep it in $HERMES_HOME/services.d: it survives a restart")
	add.Flags().BoolVar(&o.asJSON, "json", false, "print the resulting status as JSON")
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "stop and remove a service (and its saved file)",
		RunE: func(c *cobra.Command, args []string) error {
			return svcRemove(c.Context(), e, e.localClient(), args[0])
		},
	}
	var lo svcLogsOptions
	logs := &cobra.Command{
		Use:   "logs NAME [-n N] [-f] [--json]",
		Short: "print a service's log",
		RunE: func(c *cobra.Command, args []string) error {
			return svcLogs(c.Context(), e, e.localClient(), args[0], lo)
		},
	}
	logs.Flags().IntVarP(&lo.n, "lines", "n", control.DefaultTail, "print the last `N` lines of history")
	logs.Flags().BoolVarP(&lo.follow, "follow", "f", false, "follow: keep printing new lines")
	logs.Flags().BoolVar(&lo.asJSON, "json", false, "print one JSON object per line ({time, stream, line})")
	signal := &cobra.Command{
		Use:   "signal NAME SIG",
		Short: "send a signal to a service",
		RunE: func(c *cobra.Command, args []string) error {
			return svcSignal(c.Context(), e, e.localClient(), args[0], args[1])
		},
	}
	var timeout time.Duration
	var readyJSON bool
	ready := &cobra.Command{
		Use:   "ready [--timeout DURATION] [--json]",
		Short: "wait until the supervisor has booted",
		RunE: func(c *cobra.Command, _ []string) error {
			return svcReady(c.Context(), e, e.localClient(), timeout, readyJSON)
		},
	}
	ready.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "wait at most `DURATION`")
	ready.Flags().BoolVar(&readyJSON, "json", false, "print the health as JSON")
	c.AddCommand(add, rm, logs, signal, ready, newSvcMetricsCmd(e))
	return c
}

// svcAddOptions are hermes svc add's flags.
type svcAddOptions struct {
	restart, user, logFile string
	down, save, asJSON     bool
	env                    envFlags
}

// svcLogsOptions are hermes svc logs' flags.
type svcLogsOptions struct {
	n              int
	follow, asJSON bool
}

func svcStatus(ctx context.Context, e *Env, c *control.Client, args []string, asJSON bool) error {
	var list []supervise.Status
	var err error
	switch len(args) {
	case 0:
		if list, err = c.List(ctx); err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.Stdout, list)
		}
	default:
		st, err := c.Status(ctx, args[0])
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.Stdout, st)
		}
		list = []supervise.Status{st}
	}
	writeStatusTable(e.Stdout, list, time.Now())
	return nil
}

// writeStatusTable prints statuses as a table, then one line per service
// whose log lost lines (nothing is lost silently).
func writeStatusTable(w io.Writer, list []supervise.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWANT\tSTATE\tPID\tUPTIME/SINCE\tRESTARTS\t"+resourceHeader+"\tLAST-EXIT\tREASON")
	for _, st := range list {
		pid := "-"
		if st.PID > 0 {
			pid = strconv.Itoa(st.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", st.Name, orDash(string(st.Want)), orDash(string(st.State)),
			pid, age(st.Since, now), st.Restarts, resourceCells(st), lastExit(st.LastExit), orDash(shorten(st.Reason, 60)))
	}
	tw.Flush()
	for _, st := range list {
		if st.Logs.Dropped > 0 || st.Logs.WriteErrors > 0 {
			fmt.Fprintf(w, "! %s: %d log lines dropped, %d log write errors\n", st.Name, st.Logs.Dropped, st.Logs.WriteErrors)
		}
	}
}

// age is how long ago since was: 42s, 3m12s, 5h3m, 2d4h, or the date when
// it is a week or more.
func age(since, now time.Time) string {
	if since.IsZero() {
		return "-"
	}
	d := max(now.Sub(since), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	return since.UTC().Format("2006-01-02")
}

func lastExit(x *supervise.Exit) string {
	switch {
	case x == nil:
		return "-"
	case x.Signal != "":
		return x.Signal
	case x.Code != nil:
		return strconv.Itoa(*x.Code)
	}
	return "-"
}

// shorten folds s onto one line and cuts it to n runes.
func shorten(s string, n int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firstLine is the first meaningful line of a failure's text: a reason
// that carries the last lines of a log, or an error wrapped over several
// lines, reads from its first line that says something (not blank, not a
// bare "exit status", not a Go "goroutine" dump), folded onto one line.
func firstLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "goroutine ") || strings.HasPrefix(l, "exit status") {
			continue
		}
		if len(lines) > 1 {
			return oneLine(l) + " …"
		}
		return oneLine(l)
	}
	return oneLine(s)
}

// describe says what state a service is in, for ✓/✗ lines.
func describe(st supervise.Status) string {
	switch {
	case st.State == supervise.Running:
		return fmt.Sprintf("running (pid %d)", st.PID)
	case st.Reason != "":
		// A reason that starts with the state's word ("stopped (exited
		// with status 0)") is not prefixed with it again.
		r := firstLine(st.Reason)
		if rest, ok := strings.CutPrefix(r, string(st.State)); ok && (rest == "" || rest[0] == ' ' || rest[0] == ':') {
			return r
		}
		return fmt.Sprintf("%s: %s", st.State, r)
	}
	return string(st.State)
}

// notUp reports whether a service that was asked to run did not.
func notUp(st supervise.Status) bool {
	switch st.State {
	case supervise.Failed, supervise.Backoff, supervise.Stopped:
		return true
	}
	return false
}

func svcChange(ctx context.Context, e *Env, c *control.Client, verb, name string, asJSON bool) error {
	do := map[string]func(context.Context, string) (supervise.Status, error){
		"start": c.Start, "stop": c.Stop, "restart": c.Restart,
	}[verb]
	st, err := do(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.Stdout, st)
	}
	if verb != "stop" && notUp(st) {
		return fmt.Errorf("%s %s", st.Name, describe(st))
	}
	fmt.Fprintf(e.Stdout, "✓ %s %s\n", st.Name, describe(st))
	return nil
}

// envFlags collects repeated --env K=V.
type envFlags map[string]string

func (f envFlags) String() string { return "" }

func (f envFlags) Type() string { return "K=V" }

func (f envFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want K=V")
	}
	f[k] = val
	return nil
}

func svcAdd(ctx context.Context, e *Env, c *control.Client, name string, argv []string, o svcAddOptions) error {
	env := o.env
	// Dir stays empty: the supervisor runs the service in HERMES_HOME, never
	// in the CLI's working directory.
	spec := supervise.Spec{
		Name: name, Argv: argv, Env: env, User: o.user,
		Restart: supervise.Restart(o.restart), LogFile: o.logFile,
	}
	if len(env) == 0 {
		spec.Env = nil
	}
	verb := "added"
	if _, err := c.Status(ctx, spec.Name); err == nil {
		verb = "replaced"
	}
	register := c.Register
	if o.save {
		register = c.Save
	}
	st, err := register(ctx, spec, !o.down)
	if err != nil {
		return err
	}
	if o.asJSON {
		return printJSON(e.Stdout, st)
	}
	if st.Saved {
		verb += " and saved"
	}
	if !o.down && notUp(st) {
		return fmt.Errorf("%s %s but %s", st.Name, verb, describe(st))
	}
	fmt.Fprintf(e.Stdout, "✓ %s %s, %s\n", st.Name, verb, describe(st))
	return nil
}

func svcRemove(ctx context.Context, e *Env, c *control.Client, name string) error {
	if err := c.Remove(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s removed\n", name)
	return nil
}

func svcLogs(ctx context.Context, e *Env, c *control.Client, name string, o svcLogsOptions) error {
	if o.n < 0 {
		return usageError("-n %d: want 0 or more lines", o.n)
	}
	enc := json.NewEncoder(e.Stdout)
	enc.SetEscapeHTML(false)
	err := c.Logs(ctx, name, o.n, o.follow, func(l control.LogLine) error {
		if o.asJSON {
			return enc.Encode(l)
		}
		_, err := fmt.Fprintln(e.Stdout, l.Line)
		return err
	})
	if o.follow && ctx.Err() != nil {
		return nil // interrupted: the normal end of -f
	}
	return err
}

func svcSignal(ctx context.Context, e *Env, c *control.Client, name, sigName string) error {
	sig, err := supervise.ParseSignal(sigName)
	if err != nil || sigName == "" {
		return usageError("%q is not a signal (try HUP, TERM, USR1 or a number)", sigName)
	}
	signame := unix.SignalName(sig)
	if signame == "" {
		signame = strconv.Itoa(int(sig))
	}
	if err := c.Signal(ctx, name, signame); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ sent %s to %s\n", signame, name)
	return nil
}

// readyPoll is how often svc ready asks.
const readyPoll = 25 * time.Millisecond

func svcReady(ctx context.Context, e *Env, c *control.Client, timeout time.Duration, asJSON bool) error {
	if timeout <= 0 {
		return usageError("--timeout %s: want a duration above zero, such as 30s", timeout)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *control.Health
	var lastErr error
poll:
	for {
		h, err := c.Health(wctx)
		var apiErr *control.APIError
		switch {
		case err == nil:
			last = &h
			if h.Boot == control.BootReady {
				if asJSON {
					return printJSON(e.Stdout, h)
				}
				fmt.Fprintln(e.Stdout, "✓ supervisor ready")
				return nil
			}
		case errors.As(err, &apiErr):
			return err // it answered, and will answer the same
		case wctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-wctx.Done():
			break poll
		case <-time.After(readyPoll):
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if last == nil {
		if lastErr != nil && !errors.Is(lastErr, control.ErrUnavailable) {
			return fmt.Errorf("%w after %s (last error: %v)", ErrNoSupervisor, timeout, lastErr)
		}
		return fmt.Errorf("%w on %s after %s", ErrNoSupervisor, c.Path(), timeout)
	}
	return fmt.Errorf("supervisor not ready after %s (boot: %s)", timeout, last.Boot)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
