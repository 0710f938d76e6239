package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func init() {
	register(command{name: "svc", summary: "list, start, stop, add and remove supervised services", run: runSvc})
}

const svcUsage = `usage: hermes svc <command> [arguments]

commands:
  status [NAME] [--json]           show services (all, or one)
  start|stop|restart NAME [--json] change a service and wait for it
  add NAME [--restart always|on-failure|never] [--down] [--env K=V]...
      [--user U] [--log-file F] [--save] [--json] -- CMD [ARGS...]
                                   register (or replace) a service; --save
                                   keeps it in $HERMES_HOME/services.d so
                                   that it survives a restart
  rm NAME                          stop and remove a service (and its saved file)
  logs NAME [-n N] [-f] [--json]   print a service's log
  signal NAME SIG                  send a signal to a service
  ready [--timeout 30s] [--json]   wait until the supervisor has booted
`

// runSvc is hermes svc: the control API's client for a person.
func runSvc(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stdout, svcUsage)
		return nil
	}
	c := e.localClient()
	err := runSvcCommand(ctx, e, c, args[0], args[1:])
	if errors.Is(err, errSvcHelp) {
		fmt.Fprint(e.Stdout, svcUsage)
		return nil
	}
	return err
}

// errSvcHelp is returned by parseSvcArgs for -h and --help.
var errSvcHelp = errors.New("help requested")

func runSvcCommand(ctx context.Context, e *Env, c *control.Client, sub string, args []string) error {
	switch sub {
	case "status":
		return svcStatus(ctx, e, c, args)
	case "start", "stop", "restart":
		return svcChange(ctx, e, c, sub, args)
	case "add":
		return svcAdd(ctx, e, c, args)
	case "rm":
		return svcRemove(ctx, e, c, args)
	case "logs":
		return svcLogs(ctx, e, c, args)
	case "signal":
		return svcSignal(ctx, e, c, args)
	case "ready":
		return svcReady(ctx, e, c, args)
	}
	return usageError("unknown svc command %q (see hermes svc help)", sub)
}

func svcStatus(ctx context.Context, e *Env, c *control.Client, args []string) error {
	fs := newSvcFlags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	var list []supervise.Status
	switch len(pos) {
	case 0:
		if list, err = c.List(ctx); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, list)
		}
	case 1:
		st, err := c.Status(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, st)
		}
		list = []supervise.Status{st}
	default:
		return usageError("usage: hermes svc status [NAME] [--json]")
	}
	writeStatusTable(e.Stdout, list, time.Now())
	return nil
}

// writeStatusTable prints statuses as a table, then one line per service
// whose log lost lines (nothing is lost silently).
func writeStatusTable(w io.Writer, list []supervise.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWANT\tSTATE\tPID\tUPTIME/SINCE\tRESTARTS\tLAST-EXIT\tREASON")
	for _, st := range list {
		pid := "-"
		if st.PID > 0 {
			pid = strconv.Itoa(st.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", st.Name, orDash(string(st.Want)), orDash(string(st.State)),
			pid, age(st.Since, now), st.Restarts, lastExit(st.LastExit), orDash(shorten(st.Reason, 60)))
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

// describe says what state a service is in, for ✓/✗ lines.
func describe(st supervise.Status) string {
	switch {
	case st.State == supervise.Running:
		return fmt.Sprintf("running (pid %d)", st.PID)
	case st.Reason != "":
		return fmt.Sprintf("%s: %s", st.State, oneLine(st.Reason))
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

func svcChange(ctx context.Context, e *Env, c *control.Client, verb string, args []string) error {
	fs := newSvcFlags(verb)
	asJSON := fs.Bool("json", false, "print the resulting status as JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: hermes svc %s NAME", verb)
	}
	do := map[string]func(context.Context, string) (supervise.Status, error){
		"start": c.Start, "stop": c.Stop, "restart": c.Restart,
	}[verb]
	st, err := do(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
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

func (f envFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	f[k] = val
	return nil
}

func svcAdd(ctx context.Context, e *Env, c *control.Client, args []string) error {
	const usage = "usage: hermes svc add NAME [--restart always|on-failure|never] [--down] [--env K=V]... [--user U] [--log-file F] [--save] -- CMD [ARGS...]"
	fs := newSvcFlags("add")
	restart := fs.String("restart", "", "restart policy: always, on-failure (default) or never")
	down := fs.Bool("down", false, "register without starting")
	env := envFlags{}
	fs.Var(env, "env", "K=V added to the service's environment (repeatable)")
	user := fs.String("user", "", "user to run as (default: the hermes user)")
	logFile := fs.String("log-file", "", "log file (default: $HERMES_HOME/logs/NAME/current)")
	save := fs.Bool("save", false, "keep the service in $HERMES_HOME/services.d: it survives a restart")
	asJSON := fs.Bool("json", false, "print the resulting status as JSON")
	pos, argv, err := parseSvcArgs(fs, args, true)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(argv) == 0 {
		return usageError("%s", usage)
	}
	// Dir stays empty: the supervisor runs the service in HERMES_HOME, never
	// in the CLI's working directory.
	spec := supervise.Spec{
		Name: pos[0], Argv: argv, Env: env, User: *user,
		Restart: supervise.Restart(*restart), LogFile: *logFile,
	}
	if len(env) == 0 {
		spec.Env = nil
	}
	verb := "added"
	if _, err := c.Status(ctx, spec.Name); err == nil {
		verb = "replaced"
	}
	register := c.Register
	if *save {
		register = c.Save
	}
	st, err := register(ctx, spec, !*down)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.Stdout, st)
	}
	if !*down && notUp(st) {
		return fmt.Errorf("%s %s but %s", st.Name, verb, describe(st))
	}
	if st.Saved {
		verb += " and saved"
	}
	fmt.Fprintf(e.Stdout, "✓ %s %s, %s\n", st.Name, verb, describe(st))
	return nil
}

func svcRemove(ctx context.Context, e *Env, c *control.Client, args []string) error {
	pos, _, err := parseSvcArgs(newSvcFlags("rm"), args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: hermes svc rm NAME")
	}
	if err := c.Remove(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s removed\n", pos[0])
	return nil
}

func svcLogs(ctx context.Context, e *Env, c *control.Client, args []string) error {
	fs := newSvcFlags("logs")
	n := fs.Int("n", control.DefaultTail, "number of lines of history")
	follow := fs.Bool("f", false, "follow: keep printing new lines")
	asJSON := fs.Bool("json", false, "print NDJSON ({time, stream, line})")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *n < 0 {
		return usageError("usage: hermes svc logs NAME [-n N] [-f] [--json]")
	}
	enc := json.NewEncoder(e.Stdout)
	enc.SetEscapeHTML(false)
	err = c.Logs(ctx, pos[0], *n, *follow, func(l control.LogLine) error {
		if *asJSON {
			return enc.Encode(l)
		}
		_, err := fmt.Fprintln(e.Stdout, l.Line)
		return err
	})
	if *follow && ctx.Err() != nil {
		return nil // interrupted: the normal end of -f
	}
	return err
}

func svcSignal(ctx context.Context, e *Env, c *control.Client, args []string) error {
	pos, _, err := parseSvcArgs(newSvcFlags("signal"), args, false)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError("usage: hermes svc signal NAME SIG")
	}
	sig, err := supervise.ParseSignal(pos[1])
	if err != nil || pos[1] == "" {
		return usageError("%q is not a signal (try HUP, TERM, USR1 or a number)", pos[1])
	}
	name := unix.SignalName(sig)
	if name == "" {
		name = strconv.Itoa(int(sig))
	}
	if err := c.Signal(ctx, pos[0], name); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ sent %s to %s\n", name, pos[0])
	return nil
}

// readyPoll is how often svc ready asks.
const readyPoll = 25 * time.Millisecond

func svcReady(ctx context.Context, e *Env, c *control.Client, args []string) error {
	fs := newSvcFlags("ready")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait")
	asJSON := fs.Bool("json", false, "print the health as JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *timeout <= 0 {
		return usageError("usage: hermes svc ready [--timeout 30s] [--json]")
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
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
				if *asJSON {
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
			return fmt.Errorf("%w after %s (last error: %v)", ErrNoSupervisor, *timeout, lastErr)
		}
		return fmt.Errorf("%w on %s after %s", ErrNoSupervisor, c.Path(), *timeout)
	}
	return fmt.Errorf("supervisor not ready after %s (boot: %s)", *timeout, last.Boot)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func newSvcFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("hermes svc "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseSvcArgs parses flags anywhere among the positional arguments (so
// "status web --json" works). With dashdash, the arguments after "--" are
// returned as cmd and never parsed.
func parseSvcArgs(fs *flag.FlagSet, args []string, dashdash bool) (pos, cmd []string, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, errSvcHelp
			}
			return nil, nil, usageError("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			if !dashdash {
				return append(pos, rest...), nil, nil
			}
			return pos, rest, nil
		}
		if len(rest) == 0 {
			return pos, nil, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}
