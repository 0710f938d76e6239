package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/privdrop"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func newDoctorCmd(e *Env) *cobra.Command {
	var asJSON, quiet, online bool
	c := &cobra.Command{
		Use:   "doctor [--json] [--quiet] [--online]",
		Short: "check the installation (exit 1 when a check fails)",
		Long: `Checks the installation (supervisor, services, volume, credentials, ports,
each profile's model and key, secrets in config.yaml, dashboard gate, logs,
disk); exit 1 when a check fails. --online also sends each configured upstream
one request (GET /models) and reports its status and latency; the image's
HEALTHCHECK, hermes doctor --quiet, never does.`,
		RunE: func(c *cobra.Command, _ []string) error { return runDoctor(c.Context(), e, asJSON, quiet, online) },
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().BoolVar(&quiet, "quiet", false, "print only the failing checks (nothing when all is well)")
	c.Flags().BoolVar(&online, "online", false, "also ask each configured upstream once (GET /models): its status and latency")
	return c
}

// Outcome of a check.
const (
	checkOK   = "ok"
	checkWarn = "warn" // worth a look, does not fail the doctor
	checkFail = "fail"
)

// check is one line of the doctor's report.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do when the check does not pass.
	Fix string `json:"fix,omitempty"`
}

// minFreeBytes is the free space below which the disk check fails.
const minFreeBytes = 100 << 20

// doctor gathers what the checks read once.
type doctor struct {
	e        *Env
	home     string
	uid, gid int
	groups   []int
	client   *control.Client
	health   *control.Health
	services []supervise.Status
	svcErr   error
}

// runDoctor is `hermes doctor [--json] [--quiet]` (CONTRACT §8), the image's
// HEALTHCHECK: every check of the installation, exit 1 when one fails.
// --quiet prints nothing when all is well and only the failing checks
// otherwise.
func runDoctor(ctx context.Context, e *Env, asJSON, quiet, online bool) error {
	d, checks := runChecks(ctx, e, online)
	failed := false
	for _, c := range checks {
		failed = failed || c.Status == checkFail
	}
	switch {
	case asJSON:
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		counters := map[string]uint64{}
		if h := d.health; h != nil && h.Counters != nil {
			counters = h.Counters
		}
		if err := enc.Encode(map[string]any{"ok": !failed, "checks": checks, "counters": counters}); err != nil {
			return err
		}
	default:
		for _, c := range checks {
			if quiet && c.Status != checkFail {
				continue
			}
			mark := map[string]string{checkOK: "✓", checkWarn: "⚠", checkFail: "✗"}[c.Status]
			mark = paint(e.colour(e.Stdout), map[string]string{checkOK: colourGreen, checkWarn: colourYellow, checkFail: colourRed}[c.Status], mark)
			fmt.Fprintf(e.Stdout, "%s %s: %s\n", mark, c.Name, c.Detail)
			if c.Fix != "" && c.Status != checkOK {
				fmt.Fprintf(e.Stdout, "    fix: %s\n", c.Fix)
			}
		}
	}
	if failed {
		return &ExitError{Code: 1}
	}
	return nil
}

// runChecks runs every check, in the order a person reads them, and
// returns them with what they read.
func runChecks(ctx context.Context, e *Env, online bool) (*doctor, []check) {
	d := &doctor{e: e}
	home, err := e.Host.Home()
	if err != nil {
		return d, []check{{Name: "home", Status: checkFail, Detail: err.Error(), Fix: "set HERMES_HOME"}}
	}
	d.home = home
	ids, err := e.Host.HermesIDs(os.Getgid)
	if err != nil {
		return d, []check{{Name: "hermes user", Status: checkFail, Detail: err.Error(), Fix: "fix HERMES_UID/PUID and HERMES_GID/PGID"}}
	}
	d.uid, d.gid = ids.UID, ids.GID
	if os.Geteuid() != 0 && os.Geteuid() != ids.UID {
		d.uid, d.gid = os.Geteuid(), os.Getegid()
	}
	d.groups = privdrop.Groups(hostenv.UserName(d.uid), d.gid, privdrop.CurrentGroups())

	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d.client = e.gatewayClient(probe)
	if h, err := d.client.Health(probe); err == nil {
		d.health = &h
		d.services, d.svcErr = d.client.List(probe)
	}
	checks := []check{
		d.supervisor(),
		d.servicesUp(),
		d.mainGateway(ctx),
		d.rootServices(),
		d.volume(),
		d.authFiles(),
		d.ports(),
	}
	checks = append(checks, d.models(ctx, online)...)
	return d, append(checks,
		d.configSecrets(),
		d.gate(),
		d.logLoss(),
		d.refusals(),
		d.disk(),
	)
}

// refusals shows, on one line, what init has refused, skipped or limited
// since it started (GET /v1/health counters; all of them in --json): worth
// a look, never a failure.
func (d *doctor) refusals() check {
	c := check{Name: "refusals"}
	if d.health == nil {
		c.Status, c.Detail = checkOK, "unknown: no supervisor"
		return c
	}
	var seen []string
	for _, name := range slices.Sorted(maps.Keys(d.health.Counters)) {
		// Requests are traffic, not refusals.
		if v := d.health.Counters[name]; v > 0 && name != "control_requests" {
			seen = append(seen, fmt.Sprintf("%s=%d", name, v))
		}
	}
	if len(seen) == 0 {
		c.Status, c.Detail = checkOK, "nothing refused, skipped or limited since init started"
		return c
	}
	c.Status, c.Detail = checkWarn, "counted since init started: "+strings.Join(seen, ", ")
	return c
}

// gate checks the dashboard's login gate against its bind (CONTRACT §7),
// with the very functions the dashboard decides with: a gated bind without
// a usable provider fails (the dashboard would refuse to start), a public
// bind opened with --insecure warns.
func (d *doctor) gate() (c check) {
	c = check{Name: "dashboard gate"}
	// Whether the dashboard runs is the supervisor's to say, as in
	// hermes svc status (it may have been started by hand); the
	// variable decides only when no supervisor answers.
	svc, known := d.service(dashboard.ServiceName)
	running := known && (svc.State == supervise.Running || svc.Want == supervise.WantUp)
	switch {
	case known && !running:
		c.Status, c.Detail = checkOK, fmt.Sprintf("the supervised dashboard is %s, want %s (hermes svc status %s)", describe(svc), svc.Want, dashboard.ServiceName)
		return c
	case !known && !d.e.Host.Bool("HERMES_DASHBOARD"):
		c.Status, c.Detail = checkOK, "dashboard not supervised (HERMES_DASHBOARD is not true)"
		return c
	}
	defer func() {
		if running {
			c.Detail = fmt.Sprintf("the supervised dashboard is %s; %s", describe(svc), c.Detail)
		}
	}()
	f, err := dashboardDefaults(d.e)
	if err != nil {
		c.Status, c.Detail, c.Fix = checkFail, err.Error(), "fix HERMES_DASHBOARD_HOST / HERMES_DASHBOARD_PORT"
		return c
	}
	cfg, err := authgate.FromEnv(d.e.Host, f.host, f.port, f.insecure)
	if err != nil {
		c.Status, c.Detail, c.Fix = checkFail, err.Error(), "fix the HERMES_DASHBOARD_* variable named"
		return c
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	g, err := authgate.New(cfg)
	if err != nil {
		c.Status, c.Detail = checkFail, oneLine(err.Error())
		c.Fix = "configure a login provider (HERMES_DASHBOARD_BASIC_AUTH_USERNAME and _PASSWORD, HERMES_DASHBOARD_OAUTH_CLIENT_ID=agent:<id>, or HERMES_DASHBOARD_OIDC_*), or bind 127.0.0.1"
		return c
	}
	bind := net.JoinHostPort(f.host, strconv.Itoa(f.port))
	switch g.Mode() {
	case authgate.Gated:
		var names []string
		for _, p := range g.Providers() {
			names = append(names, p.Name)
		}
		c.Status, c.Detail = checkOK, fmt.Sprintf("gated on %s (providers: %s)", bind, strings.Join(names, ", "))
	case authgate.OpenLocal:
		c.Status, c.Detail = checkOK, fmt.Sprintf("open on loopback %s (DNS-rebinding Host check and a per-process token)", bind)
	default:
		c.Status, c.Detail = checkWarn, fmt.Sprintf("served WITHOUT A LOGIN on %s (HERMES_DASHBOARD_INSECURE / --insecure)", bind)
		c.Fix = "configure a login provider and drop HERMES_DASHBOARD_INSECURE"
	}
	return c
}

// service returns the supervisor's status of the service name.
func (d *doctor) service(name string) (supervise.Status, bool) {
	for _, s := range d.services {
		if s.Name == name {
			return s, true
		}
	}
	return supervise.Status{}, false
}

func (d *doctor) supervisor() check {
	c := check{Name: "supervisor"}
	if d.health == nil {
		c.Status, c.Detail = checkFail, "none answers on "+d.client.Path()
		c.Fix = "start the container (or hermes init); in a container, the entrypoint is hermes init"
		return c
	}
	c.Status = checkOK
	c.Detail = fmt.Sprintf("%s answers (boot %s, owner %v)", d.client.Path(), d.health.Boot, d.health.Owner)
	if d.health.Boot != control.BootReady {
		c.Status, c.Fix = checkFail, "wait for the boot to finish (hermes svc ready), or read the container's log"
	}
	return c
}

func (d *doctor) servicesUp() check {
	c := check{Name: "services"}
	switch {
	case d.health == nil:
		c.Status, c.Detail = checkFail, "unknown: no supervisor"
		return c
	case d.svcErr != nil:
		c.Status, c.Detail = checkFail, d.svcErr.Error()
		return c
	}
	var bad []string
	up := 0
	for _, s := range d.services {
		if s.Want != supervise.WantUp {
			continue
		}
		up++
		if s.State != supervise.Running {
			why := describe(s)
			if p, ok := gateway.ProfileOf(d.home, s.Name); ok {
				why += d.gatewayRecord(p, s)
			}
			bad = append(bad, fmt.Sprintf("%s is %s", s.Name, why))
		}
	}
	if len(bad) > 0 {
		c.Status, c.Detail = checkFail, strings.Join(bad, "; ")
		c.Fix = "read its log (hermes logs SERVICE or hermes svc logs SERVICE), fix the cause, then hermes svc restart SERVICE"
		return c
	}
	c.Status, c.Detail = checkOK, fmt.Sprintf("%d wanted up, all running", up)
	return c
}

// gatewayRecord adds to a gateway service that is not running what its
// gateway says of itself (gateway.Observe): its state and why it ended.
func (d *doctor) gatewayRecord(profile profiles.Ref, st supervise.Status) string {
	o := gateway.Observe(profile, &st)
	s := "; the gateway is " + o.State
	if r := o.File.ExitReason; r != "" {
		s += " (" + shorten(firstLine(r), 160) + ")"
	}
	return s
}

// volume checks that the hermes uid can use the home and that the files
// holding secrets are not readable by others.
func (d *doctor) volume() check {
	c := check{Name: "volume"}
	var problems []string
	if !privdrop.CanEnter(d.home, d.uid, d.gid, d.groups) {
		problems = append(problems, fmt.Sprintf("uid %d cannot enter %s%s", d.uid, d.home, describePath(d.home)))
	} else if err := unix.Access(d.home, unix.W_OK); err != nil && os.Geteuid() == d.uid {
		problems = append(problems, fmt.Sprintf("%s is not writable%s", d.home, describePath(d.home)))
	}
	names, _ := profiles.List(d.home)
	for _, p := range names {
		for _, e := range profiles.Layout(profiles.Guarded) {
			path := filepath.Join(p.Dir(), e.Path)
			fi, err := os.Stat(path)
			if err != nil {
				continue
			}
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) != d.uid {
				problems = append(problems, fmt.Sprintf("%s is owned by uid %d, not the hermes uid %d", path, st.Uid, d.uid))
			}
			if fi.Mode().Perm()&^e.Mode != 0 {
				problems = append(problems, fmt.Sprintf("%s has mode %04o, want at most %04o", path, fi.Mode().Perm(), e.Mode))
			}
		}
	}
	if len(problems) > 0 {
		c.Status, c.Detail = checkFail, strings.Join(problems, "; ")
		c.Fix = fmt.Sprintf("chown %d:%d and chmod the files named (a restart of the container repairs what hermes manages)", d.uid, d.gid)
		return c
	}
	c.Status, c.Detail = checkOK, fmt.Sprintf("%s usable by uid %d; secrets not readable by others", d.home, d.uid)
	return c
}

// authFiles checks that every profile's auth.json is readable by the hermes
// uid (the reference's root-owned 0600 auth.json made every message fail
// with "not logged in").
func (d *doctor) authFiles() check {
	c := check{Name: "credentials"}
	names, _ := profiles.List(d.home)
	var bad []string
	n := 0
	for _, p := range names {
		path := filepath.Join(p.Dir(), profiles.FileAuth)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		n++
		if err != nil || !privdrop.CanRead(path, d.uid, d.gid, d.groups) {
			bad = append(bad, fmt.Sprintf("%s is not readable by uid %d%s", path, d.uid, describePath(path)))
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			bad = append(bad, fmt.Sprintf("%s has mode %04o: others can read the credentials", path, fi.Mode().Perm()))
		}
	}
	if len(bad) > 0 {
		c.Status, c.Detail = checkFail, strings.Join(bad, "; ")
		c.Fix = fmt.Sprintf("chown %d:%d and chmod 0600 the file (never run hermes login as root without the docker exec drop)", d.uid, d.gid)
		return c
	}
	c.Status, c.Detail = checkOK, fmt.Sprintf("%d auth.json file(s), all readable by uid %d and private", n, d.uid)
	return c
}

// ports fails when two profiles' gateways would bind the same port.
func (d *doctor) ports() check {
	c := check{Name: "ports"}
	names, err := profiles.List(d.home)
	if err != nil {
		c.Status, c.Detail = checkFail, err.Error()
		return c
	}
	byPort := map[int][]string{}
	var missing []string
	for _, ref := range names {
		p := ref.Name()
		port, err := profiles.Port(ref)
		if err != nil {
			missing = append(missing, p)
			continue
		}
		byPort[port] = append(byPort[port], p)
	}
	var clashes []string
	for port, ps := range byPort {
		if len(ps) > 1 {
			clashes = append(clashes, fmt.Sprintf("%s share port %d", strings.Join(ps, ", "), port))
		}
	}
	sort.Strings(clashes)
	if len(clashes) > 0 {
		c.Status, c.Detail = checkFail, strings.Join(clashes, "; ")
		c.Fix = "give each profile its own port: hermes -p NAME config set gateway.port N"
		return c
	}
	c.Status, c.Detail = checkOK, fmt.Sprintf("%d profile(s), no two on one port", len(names))
	if len(missing) > 0 {
		c.Status = checkWarn
		c.Detail += fmt.Sprintf("; %s have no port yet (one is allocated at their first start)", strings.Join(missing, ", "))
	}
	return c
}

// logLoss shows lines lost by the log pipeline (nothing is lost silently);
// a full disk that has cleared is history, not an outage, so it warns.
func (d *doctor) logLoss() check {
	c := check{Name: "logs"}
	var lossy []string
	for _, s := range d.services {
		if s.Logs.Dropped > 0 || s.Logs.WriteErrors > 0 {
			lossy = append(lossy, fmt.Sprintf("%s dropped %d lines (%d write errors)", s.Name, s.Logs.Dropped, s.Logs.WriteErrors))
		}
	}
	if len(lossy) > 0 {
		c.Status, c.Detail = checkWarn, strings.Join(lossy, "; ")
		c.Fix = "check the free space and the health of the volume holding HERMES_HOME/logs"
		return c
	}
	c.Status, c.Detail = checkOK, "no log line lost"
	return c
}

func (d *doctor) disk() check {
	c := check{Name: "disk"}
	var st unix.Statfs_t
	if err := unix.Statfs(d.home, &st); err != nil {
		c.Status, c.Detail = checkFail, err.Error()
		return c
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	c.Detail = fmt.Sprintf("%.1f GiB free on %s", float64(free)/(1<<30), d.home)
	c.Status = checkOK
	if free < minFreeBytes {
		c.Status, c.Fix = checkFail, "free space on the volume holding HERMES_HOME"
	}
	return c
}
