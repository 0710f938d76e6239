package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/procmem"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// newGatewayCmd is hermes gateway: a profile's gateway (the profile is -p,
// else the active profile, else default).
func newGatewayCmd(e *Env) *cobra.Command {
	c := profiled(&cobra.Command{
		Use:   "gateway",
		Short: "run, start, stop, restart and show a profile's gateway",
		Long:  "The profile is -p PROFILE, else the active profile (hermes profile use), else default.",
	})
	var noSupervise, replace bool
	run := &cobra.Command{
		Use:   "run [--no-supervise] [--replace]",
		Short: "run the gateway: under the supervisor when one answers, else in the foreground",
		RunE: func(c *cobra.Command, _ []string) error {
			return gatewayRun(c.Context(), e, noSupervise, replace)
		},
	}
	run.Flags().BoolVar(&noSupervise, "no-supervise", false, "run in the foreground even under a supervisor")
	run.Flags().BoolVar(&replace, "replace", false, "take over from a running gateway of this profile")
	var force, startAll bool
	start := &cobra.Command{
		Use:   "start [--force]",
		Short: "start the profile's gateway (it stays up across restarts)",
		Long: `Starts the profile's gateway under the supervisor, registering its slot first
when the profile has none; it stays up across container restarts. A gateway
whose slot is failed is started again (--force, the reference's spelling, is
accepted and means the same).`,
		RunE: func(c *cobra.Command, _ []string) error {
			if startAll {
				return usageError("gateway start --all is not supported: a stopped gateway stays stopped until started on purpose; start one with hermes -p NAME gateway start")
			}
			return gatewayChange(c.Context(), e, "start", false)
		},
	}
	start.Flags().BoolVar(&force, "force", false, "start even if the slot is failed (as start always does)")
	start.Flags().BoolVar(&startAll, "all", false, "refused: start gateways one by one")
	_ = start.Flags().MarkHidden("all")
	var stopAll bool
	stop := &cobra.Command{
		Use:   "stop [--all]",
		Short: "stop it (it stays stopped across restarts); --all: every gateway",
		Long:  "Stops the profile's gateway; it stays stopped across container restarts until\nstarted again. With --all, every profile's gateway.",
		RunE:  func(c *cobra.Command, _ []string) error { return gatewayChange(c.Context(), e, "stop", stopAll) },
	}
	stop.Flags().BoolVar(&stopAll, "all", false, "every profile's gateway")
	var restartAll bool
	restart := &cobra.Command{
		Use:   "restart [--all]",
		Short: "restart it; --all: every gateway that is up",
		Long:  "Restarts the profile's gateway (a config.yaml change of gateway.* takes effect).\nWith --all, every profile's gateway that is up; a stopped one stays stopped.",
		RunE:  func(c *cobra.Command, _ []string) error { return gatewayChange(c.Context(), e, "restart", restartAll) },
	}
	restart.Flags().BoolVar(&restartAll, "all", false, "every profile's gateway that is up")
	var asJSON bool
	status := &cobra.Command{
		Use:   "status [--json]",
		Short: "the gateway's state, its service and its gateway_state.json",
		RunE:  func(c *cobra.Command, _ []string) error { return gatewayStatus(c.Context(), e, asJSON) },
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	install := &cobra.Command{
		Use:   "install",
		Short: "how gateways are installed (nothing to do under hermes init)",
		RunE:  func(*cobra.Command, []string) error { return gatewayGuidance(e, "install") },
	}
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "how gateways are removed",
		RunE:  func(*cobra.Command, []string) error { return gatewayGuidance(e, "uninstall") },
	}
	c.AddCommand(run, start, stop, restart, status, install, uninstall)
	return c
}

// gatewayProfile returns HERMES_HOME and the profile the command acts on.
func gatewayProfile(e *Env) (profiles.Ref, error) {
	home, err := e.Host.Home()
	if err != nil {
		return profiles.Ref{}, err
	}
	return profiles.Resolve(home, e.Profile)
}

// gatewayRun is hermes gateway run: the gateway itself in the foreground,
// or, when a supervisor answers, the redirect that starts it under
// supervision and waits (CONTRACT §5). The gates, in order: --no-supervise
// or HERMES_GATEWAY_NO_SUPERVISE true → foreground; the supervised-child
// marker set to anything → foreground (we are the supervised gateway: no
// supervisor is even consulted, so it can never recurse); a supervisor
// that answers → redirect; none → foreground.
func gatewayRun(ctx context.Context, e *Env, noSupervise, replace bool) error {
	profile, err := gatewayProfile(e)
	if err != nil {
		return err
	}
	if !noSupervise && gateway.MayRedirect(e.Host) {
		done, err := redirectRun(ctx, e, profile)
		if done || err != nil {
			return err
		}
	}
	return foregroundGateway(ctx, e, profile, replace)
}

// foregroundGateway runs the gateway in this process until ctx is done.
func foregroundGateway(ctx context.Context, e *Env, profile profiles.Ref, replace bool) error {
	err := gateway.Run(ctx, gateway.Config{
		Profile: profile, Replace: replace,
		Stdout: e.Stdout, Stderr: e.Stderr, Env: e.Host,
		Logger: slog.New(newLineHandler(e.Stderr, "gateway "+profile.Name()+": ")),
	})
	if errors.Is(err, gateway.ErrConfig) {
		// EX_CONFIG: the supervisor marks the service failed rather than
		// restarting it in a loop.
		fmt.Fprintf(e.Stdout, "✗ %s\n", oneLine(err.Error()))
		return &ExitError{Code: gateway.ExitConfig}
	}
	if errors.Is(err, syscall.ENOSPC) {
		// A full volume at start: every restart would fail the same way,
		// so it is explained once and the service marked failed, never a
		// crash loop.
		fmt.Fprintf(e.Stdout, "✗ the volume of %s is full: %s. Free space on it, then: hermes -p %s gateway start\n", profile.Home(), oneLine(err.Error()), profile)
		return &ExitError{Code: gateway.ExitConfig}
	}
	return err
}

// redirectRun starts gateway-<profile> under the supervisor that answers
// and waits until ctx is done (SIGTERM, SIGINT). done is false when no
// supervisor answers or none manages gateways: the caller then runs the
// gateway in the foreground.
func redirectRun(ctx context.Context, e *Env, profile profiles.Ref) (done bool, err error) {
	c := e.gatewayClient(ctx)
	name := gateway.ServiceName(profile.Name())
	st, err := func() (supervise.Status, error) {
		cctx, cancel := context.WithTimeout(ctx, supervisorTimeout)
		defer cancel()
		return startGateway(cctx, e, c, profile)
	}()
	switch {
	case ctx.Err() != nil:
		return true, nil // stopped while starting: an intended stop
	case errors.Is(err, control.ErrUnavailable):
		return false, nil
	case errors.Is(err, control.ErrNotManaged):
		fmt.Fprintf(e.Stderr, "hermes: the supervisor on %s does not manage gateways; running the gateway in the foreground\n", c.Path())
		return false, nil
	case err != nil:
		return true, err
	}
	dashboard := ""
	if v, ok := e.Host.Getenv("HERMES_DASHBOARD"); ok {
		if on, _ := hostenv.ParseBool(v); on {
			dashboard = "; the dashboard is supervised alongside"
		}
	}
	fmt.Fprintf(e.Stderr, "hermes: %s runs under supervision (restarted if it fails%s); this process waits until the container stops. To run the gateway in the foreground instead, pass --no-supervise or set %s=1.\n",
		name, dashboard, gateway.EnvNoSupervise)
	if st.State != supervise.Running {
		fmt.Fprintf(e.Stderr, "hermes: %s is %s; see hermes logs %s\n", name, describe(st), name)
	}
	// From here on this process only waits: the pages that starting it
	// touched need not stay mapped.
	_, _ = procmem.ReleaseStartupPages()
	<-ctx.Done()
	return true, nil
}

// startGateway starts gateway-<profile>, registering its slot first when
// the profile exists but has none (a profile created from the host on a
// bind mount), and never for a profile that does not exist.
func startGateway(ctx context.Context, e *Env, c *control.Client, profile profiles.Ref) (supervise.Status, error) {
	name := gateway.ServiceName(profile.Name())
	st, err := c.Start(ctx, name)
	if !errors.Is(err, supervise.ErrNotFound) {
		return st, err
	}
	if !profiles.Exists(profile) {
		return st, noSuchGateway(profile.Name())
	}
	if _, err := c.RegisterGateway(ctx, profile.Name(), false); err != nil {
		return st, err
	}
	fmt.Fprintf(e.Stdout, "✓ registered the gateway slot for profile '%s'\n", profile)
	return c.Start(ctx, name)
}

// noSuchGateway is the message for a gateway that has no slot and no
// profile: a typo never creates anything.
func noSuchGateway(profile string) error {
	return fmt.Errorf("no such gateway '%s': create it with hermes profile create %s", profile, profile)
}

// needsSupervisor adds what to do when no supervisor answers.
func needsSupervisor(err error) error {
	if errors.Is(err, control.ErrUnavailable) {
		return fmt.Errorf("%w: gateways are started and stopped by hermes init's supervisor (in a container, or under hermes init on a host); hermes gateway run --no-supervise runs one in the foreground", err)
	}
	return err
}

// gatewayChange is hermes gateway start|stop|restart [--all].
func gatewayChange(ctx context.Context, e *Env, verb string, all bool) error {
	var profile profiles.Ref
	var err error
	if !all {
		if profile, err = gatewayProfile(e); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, supervisorTimeout)
	defer cancel()
	c := e.gatewayClient(ctx)
	if all {
		return needsSupervisor(gatewayAll(ctx, e, c, verb))
	}
	name := gateway.ServiceName(profile.Name())
	var st supervise.Status
	switch verb {
	case "start":
		st, err = startGateway(ctx, e, c, profile)
	case "stop":
		st, err = c.Stop(ctx, name)
	case "restart":
		st, err = c.Restart(ctx, name)
	}
	if errors.Is(err, supervise.ErrNotFound) {
		if profiles.Exists(profile) {
			// Only start registers a missing slot (as the reference): a stop
			// or restart of a gateway that was never registered has nothing
			// to act on.
			return fmt.Errorf("gateway '%s' is not registered with the supervisor, so there is nothing to %s: hermes -p %s gateway start registers and starts it", profile, verb, profile)
		}
		return noSuchGateway(profile.Name())
	}
	if err != nil {
		return needsSupervisor(err)
	}
	if verb == "stop" {
		fmt.Fprintf(e.Stdout, "✓ %s stopped\n", name)
		return nil
	}
	if notUp(st) {
		return fmt.Errorf("%s %s (see hermes -p %s logs)", name, describe(st), profile)
	}
	return awaitServing(ctx, e, c, profile, st)
}

// servingWait bounds how long gateway start and restart wait for the
// gateway to say it serves, after its process runs (a variable: the tests
// of a fake supervisor, whose processes are no gateways, shorten it).
var servingWait = 10 * time.Second

// awaitServing waits until the gateway whose process st is records that it
// serves (gateway.Observe says running with st's pid), so that "✓ running"
// is never followed by a status that says "starting"; it fails when the
// gateway ends first, and says so when it is still starting after
// servingWait.
func awaitServing(ctx context.Context, e *Env, c *control.Client, profile profiles.Ref, st supervise.Status) error {
	name := gateway.ServiceName(profile.Name())
	deadline := time.Now().Add(servingWait)
	for {
		o := gateway.Observe(profile, &st)
		switch {
		case o.State == gateway.StateRunning && (o.File.PID == 0 || o.File.PID == st.PID):
			fmt.Fprintf(e.Stdout, "✓ %s %s, serving\n", name, describe(st))
			return nil
		case o.State == gateway.StateStartupFailed && o.File.PID == st.PID:
			return fmt.Errorf("%s failed to start: %s (see hermes -p %s logs)", name, firstLine(o.File.ExitReason), profile)
		case notUp(st):
			return fmt.Errorf("%s %s (see hermes -p %s logs)", name, describe(st), profile)
		case time.Now().After(deadline):
			fmt.Fprintf(e.Stdout, "✓ %s %s; the gateway is still %s after %s: hermes -p %s gateway status\n", name, describe(st), o.State, servingWait, profile)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if cur, err := c.Status(ctx, name); err == nil {
			st = cur
		}
	}
}

// gatewayAll stops or restarts every gateway the supervisor has, in name
// order, going on after a failure. A restart skips the gateways that are
// wanted down: restarting must not start what an operator stopped.
func gatewayAll(ctx context.Context, e *Env, c *control.Client, verb string) error {
	list, err := c.List(ctx)
	if err != nil {
		return err
	}
	do, done := c.Stop, "Stopped"
	if verb == "restart" {
		do, done = c.Restart, "Restarted"
	}
	var names []string
	registered := 0
	for _, st := range list {
		if _, ok := gateway.ProfileOf("", st.Name); ok {
			registered++
			if verb == "restart" && st.Want != supervise.WantUp {
				continue
			}
			names = append(names, st.Name)
		}
	}
	switch {
	case registered == 0:
		//lint:ignore ST1005 the message is the whole line printed after ✗, worded as the reference's
		return errors.New("No profile gateways registered")
	case len(names) == 0:
		//lint:ignore ST1005 the message is the whole line printed after ✗, worded as the reference's
		return fmt.Errorf("No profile gateway is up (%d registered, all stopped): nothing to restart; start one with hermes -p NAME gateway start", registered)
	}
	n, failed := 0, 0
	for _, name := range names {
		if _, err := do(ctx, name); err != nil {
			fmt.Fprintf(e.Stdout, "✗ Could not %s %s: %s\n", verb, name, oneLine(err.Error()))
			failed++
			continue
		}
		n++
	}
	if n > 0 {
		fmt.Fprintf(e.Stdout, "✓ %s %d profile gateway(s)\n", done, n)
	}
	if failed > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// gatewayStatusJSON is the --json shape of hermes gateway status.
type gatewayStatusJSON struct {
	Profile string `json:"profile"`
	// Gateway is the gateway's state as every reader has it
	// (gateway.Observe: the state file corrected by the pid lock).
	Gateway gatewayObservedJSON `json:"gateway"`
	// Service is the supervisor's status of gateway-<profile>; null when
	// it has no slot or no supervisor answers.
	Service *supervise.Status `json:"service"`
	// Supervisor says why Service is null.
	Supervisor string `json:"supervisor,omitempty"`
	// State is the profile's gateway_state.json; null when there is none.
	State *gatewayStateJSON `json:"state"`
	// StateError says why State is null when the file is unreadable.
	StateError string `json:"state_error,omitempty"`
}

// gatewayObservedJSON is gateway.Observe's answer as status shows it.
type gatewayObservedJSON struct {
	State   string `json:"state"`
	Running bool   `json:"running"`
	PIDLock string `json:"pid_lock"`
}

// gatewayStateJSON is gateway_state.json's keys as status shows them.
type gatewayStateJSON struct {
	GatewayState     string `json:"gateway_state"`
	DesiredState     string `json:"desired_state"`
	PID              int    `json:"pid"`
	StartTime        string `json:"start_time"`
	UpdatedAt        string `json:"updated_at"`
	DesiredUpdatedAt string `json:"desired_updated_at"`
	ExitReason       string `json:"exit_reason"`
}

// gatewayStatus is hermes gateway status: the gateway's state
// (gateway.Observe, as the dashboard shows it), the service as the
// supervisor has it, and what the gateway recorded in the profile's own
// files.
func gatewayStatus(ctx context.Context, e *Env, asJSON bool) error {
	profile, err := gatewayProfile(e)
	if err != nil {
		return err
	}
	out := gatewayStatusJSON{Profile: profile.Name()}
	name := gateway.ServiceName(profile.Name())
	err = withSupervisor(ctx, e, func(ctx context.Context, c *control.Client) error {
		st, err := c.Status(ctx, name)
		switch {
		case err == nil:
			out.Service = &st
		case errors.Is(err, supervise.ErrNotFound):
			out.Supervisor = "not registered"
		case errors.Is(err, control.ErrUnavailable):
			out.Supervisor = "no supervisor answering on " + c.Path()
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	obs := gateway.Observe(profile, out.Service)
	out.Gateway = gatewayObservedJSON{State: obs.State, Running: obs.Running, PIDLock: obs.Lock}
	switch st := obs.File; {
	case obs.HasFile:
		out.State = &gatewayStateJSON{st.GatewayState, st.DesiredState, st.PID, st.StartTime, st.UpdatedAt, st.DesiredUpdatedAt, st.ExitReason}
	case errors.Is(obs.FileErr, gateway.ErrCorrupt):
		out.StateError = obs.FileErr.Error()
	}
	if out.Service == nil && out.State == nil && out.StateError == "" && !profiles.Exists(profile) && !profile.IsDefault() {
		return noSuchGateway(profile.Name())
	}
	if asJSON {
		return printJSON(e.Stdout, out)
	}
	writeGatewayStatus(e.Stdout, out, time.Now())
	return nil
}

func writeGatewayStatus(w io.Writer, s gatewayStatusJSON, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "profile\t%s\n", s.Profile)
	fmt.Fprintf(tw, "gateway\t%s (pid lock %s)\n", s.Gateway.State, s.Gateway.PIDLock)
	name := gateway.ServiceName(s.Profile)
	if st := s.Service; st != nil {
		line := fmt.Sprintf("%s: %s, want %s, since %s, %d restarts", name, describe(*st), st.Want, age(st.Since, now), st.Restarts)
		if st.LastExit != nil {
			line += ", last exit " + lastExit(st.LastExit)
		}
		fmt.Fprintf(tw, "service\t%s\n", line)
	} else {
		fmt.Fprintf(tw, "service\t%s: %s\n", name, s.Supervisor)
	}
	switch st := s.State; {
	case st != nil:
		line := orDash(st.GatewayState)
		var attrs []string
		if st.PID > 0 {
			attrs = append(attrs, "pid "+strconv.Itoa(st.PID))
		}
		if st.UpdatedAt != "" {
			attrs = append(attrs, "updated "+st.UpdatedAt)
		}
		if len(attrs) > 0 {
			line += " (" + strings.Join(attrs, ", ") + ")"
		}
		if st.ExitReason != "" {
			line += ": " + shorten(st.ExitReason, 80)
		}
		fmt.Fprintf(tw, "recorded\t%s\n", line)
		desired := orDash(st.DesiredState)
		if st.DesiredUpdatedAt != "" {
			desired += " (since " + st.DesiredUpdatedAt + ")"
		}
		fmt.Fprintf(tw, "desired\t%s\n", desired)
	case s.StateError != "":
		fmt.Fprintf(tw, "recorded\tunreadable, treated as none: %s\n", oneLine(s.StateError))
	default:
		fmt.Fprintf(tw, "recorded\tnone\n")
	}
	tw.Flush()
}

// gatewayGuidance is hermes gateway install|uninstall: under hermes init
// there is nothing to install, so they say how gateways come and go.
func gatewayGuidance(e *Env, verb string) error {
	if verb == "install" {
		fmt.Fprintln(e.Stdout, "Gateways run under hermes init's supervisor; there is nothing to install.")
		fmt.Fprintln(e.Stdout, "  hermes profile create <name>       registers the gateway of a new profile (stopped)")
		fmt.Fprintln(e.Stdout, "  hermes -p <name> gateway start     starts it; it stays up across container restarts")
		fmt.Fprintln(e.Stdout, "  hermes -p <name> gateway status    shows it")
		return nil
	}
	fmt.Fprintln(e.Stdout, "Gateways run under hermes init's supervisor; there is nothing to uninstall.")
	fmt.Fprintln(e.Stdout, "  hermes profile delete <name>       stops and unregisters a profile's gateway")
	fmt.Fprintln(e.Stdout, "  hermes -p <name> gateway stop      stops it; it stays stopped across container restarts")
	return nil
}
