package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func newDashboardCmd(e *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "dashboard [--host H] [--port P] [--insecure] [--no-open]",
		Short: "serve the web dashboard: status, services, sessions, logs",
		Long: `Serves the dashboard on H:P (default: HERMES_DASHBOARD_HOST, else 127.0.0.1;
HERMES_DASHBOARD_PORT, else 9119). On a loopback bind without
HERMES_DASHBOARD_PUBLIC_URL it is open to this machine (open-local: a per-process
token guards the API); on any other bind a login is required (gated), and with no
login provider configured the dashboard refuses to start (exit 78).

Without --no-open, on a desktop session ($DISPLAY or $WAYLAND_DISPLAY, outside a
container) the dashboard's URL is opened with xdg-open; it is always printed.`,
	}
	raw := defineDashboardFlags(e, c.Flags())
	c.RunE = func(c *cobra.Command, _ []string) error {
		f, err := raw.check()
		if err != nil {
			return configExit(e, err)
		}
		return runDashboard(c.Context(), e, f)
	}
	return c
}

// dashboardArgs are hermes dashboard's flags as given.
type dashboardArgs struct {
	host, port       string
	insecure, noOpen bool
}

// defineDashboardFlags defines the dashboard's flags on fs, defaulting to
// HERMES_DASHBOARD_HOST, _PORT and _INSECURE: flags win.
func defineDashboardFlags(e *Env, fs *pflag.FlagSet) *dashboardArgs {
	defHost, defPort := dashboard.Bind(e.Host)
	a := &dashboardArgs{}
	fs.StringVar(&a.host, "host", defHost, "bind address `H` (HERMES_DASHBOARD_HOST)")
	fs.StringVar(&a.port, "port", defPort, "bind port `P` (HERMES_DASHBOARD_PORT)")
	fs.BoolVar(&a.insecure, "insecure", e.Host.Bool("HERMES_DASHBOARD_INSECURE"), "no login on a non-loopback bind (also HERMES_DASHBOARD_INSECURE=1):\nanyone who reaches the port controls the services")
	fs.BoolVar(&a.noOpen, "no-open", false, "do not open a browser (the supervised dashboard always passes it)")
	return a
}

// dashboardFlags are the values hermes dashboard runs with: the flags,
// defaulting to HERMES_DASHBOARD_HOST, _PORT and _INSECURE.
type dashboardFlags struct {
	host     string
	port     int
	insecure bool
	noOpen   bool
}

// dashboardDefaults are the values hermes dashboard runs with when given
// no flag (the environment's), as hermes doctor checks them.
func dashboardDefaults(e *Env) (dashboardFlags, error) {
	return defineDashboardFlags(e, pflag.NewFlagSet("dashboard", pflag.ContinueOnError)).check()
}

// check validates the flags' values.
func (a *dashboardArgs) check() (dashboardFlags, error) {
	p, err := strconv.Atoi(strings.TrimSpace(a.port))
	if err != nil || p < 0 || p > 65535 {
		return dashboardFlags{}, fmt.Errorf("dashboard port %q: want a port number from 1 to 65535 (HERMES_DASHBOARD_PORT or --port)", a.port)
	}
	h := strings.TrimSpace(a.host)
	if h == "" {
		return dashboardFlags{}, errors.New("dashboard host is empty: set HERMES_DASHBOARD_HOST or --host (0.0.0.0 for every interface)")
	}
	return dashboardFlags{host: h, port: p, insecure: a.insecure, noOpen: a.noOpen}, nil
}

// runDashboard is hermes dashboard: it decides the gate's mode once, logs
// it, binds, and serves until ctx is done (SIGTERM, SIGINT), then shuts
// down (dashboard.Server.Run's contract) and exits 0. A configuration that
// cannot work (gated with no usable login provider, a malformed
// HERMES_DASHBOARD_* variable, a bad port) prints why on stderr and exits
// 78 having bound nothing: the supervisor then shows the service failed
// with that reason instead of restarting it. A bind that fails (the port
// is taken) exits 1 and is retried with backoff.
func runDashboard(ctx context.Context, e *Env, f dashboardFlags) error {
	home, err := e.Host.Home()
	if err != nil {
		return configExit(e, err)
	}
	log := slog.New(newLineHandler(e.Stderr, "dashboard: "))
	cfg, err := authgate.FromEnv(e.Host, f.host, f.port, f.insecure)
	if err != nil {
		return configExit(e, err)
	}
	cfg.Logger = log
	gate, err := authgate.New(cfg)
	var refused *authgate.RefuseError
	if errors.As(err, &refused) {
		fmt.Fprintln(e.Stderr, refused.Error())
		fmt.Fprintln(e.Stderr, refusalSummary(refused))
		return &ExitError{Code: supervise.ExitConfig}
	}
	if err != nil {
		return configExit(e, err)
	}
	srv, err := dashboard.New(dashboard.Config{
		Home: home, Gate: gate, Control: e.gatewayClient, Env: e.Host, Logger: log,
		// Its counters go to the supervisor that runs it (none answers
		// when it runs by hand: the reports are then dropped).
		Report:   e.localClient(),
		Counters: gate.Counters,
	})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(f.host, strconv.Itoa(f.port))
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, unix.EADDRINUSE) {
		return fmt.Errorf("dashboard: cannot bind %s: the port is in use: %s: %w", addr, bindHolder(e, f.port), err)
	}
	if err != nil {
		return fmt.Errorf("dashboard: binding %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	publicURL := "http://" + browserAddr(f.host, ln.Addr()) + gate.URL("/")
	if cfg.PublicURL != nil {
		publicURL = cfg.PublicURL.String() + "/"
	}
	mode := gate.Mode()
	log.Info("listening", "addr", bound, "mode", string(mode), "url", publicURL, "providers", strings.Join(providerNames(gate), ","))
	if mode == authgate.OpenInsecure {
		warnInsecure(e, bound, cfg)
	}
	if !f.noOpen {
		openBrowser(e, publicURL)
	}
	err = srv.Run(ctx, ln)
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// configExit prints a configuration error on stderr and exits 78
// (EX_CONFIG), which the supervisor treats as permanent.
func configExit(e *Env, err error) error {
	fmt.Fprintf(e.Stderr, "hermes dashboard: %s\n", oneLine(err.Error()))
	return &ExitError{Code: supervise.ExitConfig}
}

// refusalSummary is the refusal on one short line, printed last: the
// supervisor quotes a failed service's last lines in its reason, and the
// gate's full message is longer than that.
func refusalSummary(r *authgate.RefuseError) string {
	s := "Refusing to bind dashboard to " + r.Host + ": no usable login provider"
	var names []string
	for _, sk := range r.Skipped {
		names = append(names, sk.Provider)
	}
	if len(names) > 0 {
		s += " (configured but unusable: " + strings.Join(names, ", ") + ")"
	}
	return s + "; configure one (see above) or pass --insecure"
}

// providerNames lists the gate's login providers.
func providerNames(g *authgate.Gate) []string {
	var names []string
	for _, p := range g.Providers() {
		names = append(names, p.Name)
	}
	return names
}

// warnInsecure is the loud warning of open-insecure mode: several lines on
// stderr (the dashboard's log), naming the bind and the public URL.
func warnInsecure(e *Env, bound string, cfg authgate.Config) {
	public := "(none: HERMES_DASHBOARD_PUBLIC_URL is not set)"
	if cfg.PublicURL != nil {
		public = cfg.PublicURL.String()
	}
	for _, l := range []string{
		"dashboard: WARNING: ==============================================================",
		"dashboard: WARNING: the dashboard is OPEN: no login is required (--insecure or HERMES_DASHBOARD_INSECURE).",
		"dashboard: WARNING: bind: " + bound + "    public URL: " + public,
		"dashboard: WARNING: anyone who can reach it can read every session and start, stop and restart services.",
		"dashboard: WARNING: configure a login provider (e.g. HERMES_DASHBOARD_BASIC_AUTH_USERNAME and _PASSWORD) and drop --insecure.",
		"dashboard: WARNING: ==============================================================",
	} {
		fmt.Fprintln(e.Stderr, l)
	}
}

// browserAddr is the host:port a browser on this machine would use: the
// bind itself, or loopback for a wildcard bind.
func browserAddr(host string, a net.Addr) string {
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// openBrowser prints the dashboard's URL and, on a desktop session outside
// a container, opens it with xdg-open (started and reaped in the
// background; a failure is only reported).
func openBrowser(e *Env, url string) {
	fmt.Fprintf(e.Stderr, "dashboard: open %s in a browser\n", url)
	_, x := e.Host.Getenv("DISPLAY")
	_, wl := e.Host.Getenv("WAYLAND_DISPLAY")
	if !x && !wl || e.Host.Exists == nil || e.Host.InContainer() {
		return
	}
	path, err := exec.LookPath("xdg-open")
	if err != nil {
		return
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(e.Stderr, "dashboard: could not open a browser: %v\n", err)
		return
	}
	go cmd.Wait()
}
