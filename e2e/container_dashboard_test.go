package e2e

// The dashboard in a container (reference-system.md §7.1 items 9-17 and
// 31; CONTRACT §3 step 5, §4 and §7): the supervised "dashboard" slot, its
// bind, its restart policy, and its login gate, probed from inside the
// container the way a portal would (probeHTTP: bash's /dev/tcp, since the
// test base has neither the reference's Python nor curl). As the
// reference learned (its §8 item 14), a test pins the gate's configuration
// itself and asserts a listening socket, never a sampled want-state alone.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const dashboardPort = 9119

// dashboardEnv is the environment of a container whose dashboard can start
// on the image's 0.0.0.0 bind: enabled, with the password provider (the
// reference's later tests pinned basic auth the same way), plus extra.
func dashboardEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"HERMES_DASHBOARD":                     "1",
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME": "admin",
		"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD": "correct horse battery staple",
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// dashboardPIDs returns the pids of pgrep -f 'hermes dashboard' in c (run as
// the hermes uid, as the reference did), oldest first; none when pgrep
// finds nothing.
func dashboardPIDs(t *testing.T, c *container) []int {
	t.Helper()
	r := dockerExec(t, c, "", "pgrep", "-f", "hermes dashboard")
	if r.Code == 1 {
		return nil
	}
	if r.Code != 0 {
		t.Fatalf("pgrep in %s: %s", c.Name, r)
	}
	var pids []int
	for _, f := range strings.Fields(r.Stdout) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pgrep in %s: %q", c.Name, r.Stdout)
		}
		pids = append(pids, n)
	}
	return pids
}

// dashboardBroken fails the test at once when the dashboard, expected to
// start, has failed or is in a restart loop (three restarts without a kill
// from the test): waiting would only hide the reason, which its log tail
// gives.
func dashboardBroken(t *testing.T, c *container, st svcStatus) {
	t.Helper()
	if st.State == "failed" || st.Restarts >= 3 && st.State != "running" {
		logs, _ := catIn(t, c, "", "/opt/data/logs/dashboard/current")
		lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
		t.Fatalf("the dashboard does not start: %s\nlogs/dashboard/current (last lines):\n%s", st, indent(strings.Join(lines[max(0, len(lines)-8):], "\n")))
	}
}

// waitDashboard is waitService for the dashboard when it is expected to
// start: it stops at once when the dashboard cannot (dashboardBroken).
func waitDashboard(t *testing.T, c *container, timeout time.Duration, what string, ok func(svcStatus) bool) svcStatus {
	t.Helper()
	return waitService(t, c, "dashboard", timeout, what, func(s svcStatus) bool {
		if ok(s) {
			return true
		}
		dashboardBroken(t, c, s)
		return false
	})
}

// waitListening waits until port listens in c; it fails at once when the
// dashboard cannot start (dashboardBroken).
func waitListening(t *testing.T, c *container, port int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		if listeningPorts(t, c)[port] {
			return nil
		}
		st := svcStatuses(t, c)["dashboard"]
		dashboardBroken(t, c, st)
		return fmt.Errorf("nothing listens on port %d (dashboard: %s)", port, st)
	})
}

// dashboardStatus is the part of /api/status the tests read.
type dashboardStatus struct {
	Version        string   `json:"version"`
	AuthRequired   *bool    `json:"auth_required"`
	AuthProviders  []string `json:"auth_providers"`
	Mode           string   `json:"mode"`
	GatewayState   string   `json:"gateway_state"`
	GatewayRunning *bool    `json:"gateway_running"`
}

// apiStatus waits for GET /api/status to answer and decodes it; it must be
// 200 (the portal's liveness probe, in every mode).
func apiStatus(t *testing.T, c *container, port int) dashboardStatus {
	t.Helper()
	a := waitHTTP(t, c, 30*time.Second, port, "GET", "/api/status")
	if a.Status != 200 {
		t.Fatalf("GET /api/status: %d, want 200\n%s", a.Status, indent(a.Header+"\n\n"+a.Body))
	}
	var st dashboardStatus
	if err := json.Unmarshal([]byte(a.Body), &st); err != nil {
		t.Fatalf("GET /api/status: not JSON: %v\n%s", err, indent(a.Body))
	}
	if st.AuthRequired == nil {
		t.Fatalf("GET /api/status: no auth_required key:\n%s", indent(a.Body))
	}
	return st
}

// TestContainerDashboardDisabled (9-10): without HERMES_DASHBOARD (or with a
// false value) no dashboard process runs, nothing listens on 9119, and the
// slot is registered and shows down — never "up" (the reference's disabled
// dashboard was a sleep infinity that svstat reported up: its §8 item 11).
func TestContainerDashboardDisabled(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name string
		env  map[string]string
		warn bool // a warning naming HERMES_DASHBOARD in docker logs
	}{
		{name: "unset"},
		{name: "HERMES_DASHBOARD=0", env: map[string]string{"HERMES_DASHBOARD": "0"}},
		{name: "HERMES_DASHBOARD=off", env: map[string]string{"HERMES_DASHBOARD": "off"}, warn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startContainer(t, containerOpts{Image: image, Env: tt.env, Args: []string{"sleep", "infinity"}})
			waitReady(t, c, 30*time.Second)
			st, ok := svcStatuses(t, c)["dashboard"]
			if !ok || st.Want != "down" || st.State != "stopped" || st.PID != 0 {
				t.Errorf("dashboard slot: %s (registered %v); want down, stopped, no pid", st, ok)
			}
			if out := mustExec(t, c, "", hermesInContainer, "svc", "status", "dashboard"); !strings.Contains(out, "down") {
				t.Errorf("hermes svc status dashboard does not say down:\n%s", out)
			}
			if pids := dashboardPIDs(t, c); len(pids) > 0 {
				t.Errorf("pgrep -f 'hermes dashboard' found %v", pids)
			}
			if listeningPorts(t, c)[dashboardPort] {
				t.Errorf("something listens on %d", dashboardPort)
			}
			if got := strings.Contains(dockerLogs(t, c), "HERMES_DASHBOARD"); got != tt.warn {
				t.Errorf("docker logs name HERMES_DASHBOARD: %v, want %v (a warning for a value that is not a boolean)\n%s", got, tt.warn, indent(dockerLogs(t, c)))
			}
		})
	}
}

// TestContainerDashboardEnabled (11-12, and the dashboard parts of 17):
// HERMES_DASHBOARD=1 starts the dashboard under supervision: the slot is
// wanted up and running, pgrep finds it, it listens on 9119 as the hermes
// uid with HOME=/opt/data, its command line carries the image's 0.0.0.0
// bind and never --insecure (the reference derived --insecure from a
// non-loopback host: its §8 item 12), and with a login provider the gate
// is engaged.
func TestContainerDashboardEnabled(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Env: dashboardEnv(nil), Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	st := waitDashboard(t, c, 30*time.Second, "dashboard wanted up and running", func(s svcStatus) bool {
		return s.Want == "up" && s.State == "running" && s.PID > 0
	})
	waitListening(t, c, dashboardPort, 30*time.Second)
	pids := dashboardPIDs(t, c)
	if len(pids) != 1 {
		t.Errorf("pgrep -f 'hermes dashboard': %v, want exactly one process", pids)
	}
	if st.UID != 10000 {
		t.Errorf("the dashboard runs as uid %d, want 10000", st.UID)
	}
	argv := procCmdline(t, c, st.PID)
	if got, want := strings.Join(argv[1:], " "), "dashboard --host 0.0.0.0 --port 9119 --no-open"; got != want {
		t.Errorf("dashboard arguments: %q, want %q", got, want)
	}
	env := procEnv(t, c, "", st.PID)
	if env["HOME"] != "/opt/data" || env["HERMES_HOME"] != "/opt/data" {
		t.Errorf("dashboard HOME=%q HERMES_HOME=%q, want /opt/data for both", env["HOME"], env["HERMES_HOME"])
	}
	status := apiStatus(t, c, dashboardPort)
	if !*status.AuthRequired || status.Mode != "gated" || !slices.Contains(status.AuthProviders, "password") {
		t.Errorf("/api/status: auth_required %v, mode %q, providers %v; want true, gated, password among them", *status.AuthRequired, status.Mode, status.AuthProviders)
	}
	if got := statIn(t, c, "%u:%g", "/opt/data/logs/dashboard/current"); got != "10000:10000" {
		t.Errorf("logs/dashboard/current owner %q, want 10000:10000", got)
	}
}

// TestContainerDashboardPort (13): HERMES_DASHBOARD_PORT moves the bind;
// the reference read /proc/net/tcp for a LISTEN line on 0x23A0, so do we.
func TestContainerDashboardPort(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Env: dashboardEnv(map[string]string{"HERMES_DASHBOARD_PORT": "9120"}), Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	waitListening(t, c, 9120, 60*time.Second)
	if listeningPorts(t, c)[dashboardPort] {
		t.Errorf("the default port %d listens too", dashboardPort)
	}
	apiStatus(t, c, 9120)
}

// TestContainerDashboardRestart (14): a dashboard killed with SIGKILL (as
// the hermes uid) is started again: a new pid within 15 s, listening again.
func TestContainerDashboardRestart(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Env: dashboardEnv(nil), Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	waitListening(t, c, dashboardPort, 30*time.Second)
	var first int
	waitFor(t, 10*time.Second, func() error {
		if pids := dashboardPIDs(t, c); len(pids) > 0 {
			first = pids[0]
			return nil
		}
		return fmt.Errorf("pgrep -f 'hermes dashboard' finds nothing")
	})
	mustExec(t, c, "", "kill", "-9", strconv.Itoa(first))
	waitFor(t, 15*time.Second, func() error {
		pids := dashboardPIDs(t, c)
		if len(pids) == 0 || pids[0] == first {
			return fmt.Errorf("dashboard pids %v (killed %d)", pids, first)
		}
		return nil
	})
	st := waitDashboard(t, c, 15*time.Second, "dashboard running again", func(s svcStatus) bool {
		return s.State == "running" && s.PID != first
	})
	if st.Restarts < 1 || st.LastExit == nil || st.LastExit.Signal != "SIGKILL" {
		t.Errorf("after the kill: %s; want a restart counted and last exit SIGKILL", st)
	}
	waitListening(t, c, dashboardPort, 30*time.Second)
}

// TestContainerDashboardGate (15): on the image's 0.0.0.0 bind with a Nous
// client id the gate engages: the providers list has nous, a gated API
// answers 401 with the contract's JSON, and /api/status (the portal's
// liveness probe) answers 200 with auth_required true. The Nous portal is
// never contacted for this: discovery happens at the first login.
func TestContainerDashboardGate(t *testing.T) {
	t.Parallel()
	// The reference's environment exactly; no insecure opt-out, no other
	// provider.
	env := map[string]string{
		"HERMES_DASHBOARD":                 "1",
		"HERMES_DASHBOARD_HOST":            "0.0.0.0",
		"HERMES_DASHBOARD_OAUTH_CLIENT_ID": "agent:test-instance",
	}
	c := startContainer(t, containerOpts{Env: env, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	waitListening(t, c, dashboardPort, 30*time.Second)

	// (a) the providers list.
	a := waitHTTP(t, c, 30*time.Second, dashboardPort, "GET", "/api/auth/providers")
	var providers struct {
		Providers []struct {
			Name string `json:"name"`
		} `json:"providers"`
	}
	if err := json.Unmarshal([]byte(a.Body), &providers); a.Status != 200 || err != nil {
		t.Errorf("GET /api/auth/providers: %d %q (%v), want 200 with JSON", a.Status, a.Body, err)
	}
	var names []string
	for _, p := range providers.Providers {
		names = append(names, p.Name)
	}
	if !slices.Contains(names, "nous") {
		t.Errorf("GET /api/auth/providers: providers %v, want nous among them\n%s", names, a.Body)
	}

	// (b) a gated API without a session.
	a = waitHTTP(t, c, 30*time.Second, dashboardPort, "GET", "/api/sessions")
	var refusal struct{ Error, Detail, Reason, LoginURL string }
	_ = json.Unmarshal([]byte(a.Body), &refusal)
	if a.Status != 401 || refusal.Error != "unauthenticated" || refusal.Reason != "no_cookie" {
		t.Errorf("GET /api/sessions without a session: %d %q; want 401 with error unauthenticated, reason no_cookie", a.Status, a.Body)
	}

	// (c) the liveness probe.
	st := apiStatus(t, c, dashboardPort)
	if !*st.AuthRequired || st.Mode != "gated" || !slices.Contains(st.AuthProviders, "nous") {
		t.Errorf("/api/status: auth_required %v, mode %q, providers %v; want true, gated, nous", *st.AuthRequired, st.Mode, st.AuthProviders)
	}
}

// TestContainerDashboardRefusesWithoutProvider (16, the reference's later
// fail-closed form): on 0.0.0.0 with no provider and no opt-out the
// dashboard refuses to start (exit 78, "Refusing to bind dashboard to
// 0.0.0.0", naming --insecure): the service is failed with that reason,
// is not restarted in a loop (the reference's #49567), and nothing ever
// listens.
func TestContainerDashboardRefusesWithoutProvider(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Env: map[string]string{"HERMES_DASHBOARD": "1"}, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	st := waitService(t, c, "dashboard", 30*time.Second, "dashboard failed", func(s svcStatus) bool {
		if s.State != "failed" && s.Restarts >= 2 {
			logs, _ := catIn(t, c, "", "/opt/data/logs/dashboard/current")
			t.Fatalf("the dashboard is restarted in a loop instead of failing: %s\nlogs/dashboard/current:\n%s", s, indent(logs))
		}
		return s.State == "failed"
	})
	if st.LastExit == nil || st.LastExit.Code == nil || *st.LastExit.Code != 78 {
		t.Errorf("dashboard: %s; want last exit 78 (EX_CONFIG)", st)
	}
	if !strings.Contains(st.Reason, "Refusing to bind dashboard to 0.0.0.0") {
		t.Errorf("dashboard reason %q lacks the refusal", st.Reason)
	}
	log, _ := catIn(t, c, "", "/opt/data/logs/dashboard/current")
	if !strings.Contains(log, "Refusing to bind dashboard to 0.0.0.0") || !strings.Contains(log, "--insecure") {
		t.Errorf("logs/dashboard/current lacks the refusal naming --insecure:\n%s", indent(log))
	}
	// No restart loop, nothing listening, for a while.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		now := svcStatuses(t, c)["dashboard"]
		if now.State != "failed" || now.Restarts != st.Restarts || now.PID != 0 {
			t.Fatalf("the refused dashboard was started again: %s (was %s)", now, st)
		}
		if listeningPorts(t, c)[dashboardPort] {
			t.Fatalf("something listens on %d", dashboardPort)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if pids := dashboardPIDs(t, c); len(pids) > 0 {
		t.Errorf("pgrep -f 'hermes dashboard' found %v", pids)
	}
	if _, err := probeHTTP(t, c, dashboardPort, "GET", "/api/status", ""); err == nil {
		t.Errorf("GET /api/status answered; want nothing listening")
	}
}

// TestContainerDashboardInsecure (16, the commit-era form): the explicit
// opt-out on a 0.0.0.0 bind serves without a login: --insecure on the
// command line (HERMES_DASHBOARD_INSECURE in any true spelling), and
// /api/status 200 with auth_required false.
func TestContainerDashboardInsecure(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HERMES_DASHBOARD": "1", "HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_INSECURE": "True"}
	c := startContainer(t, containerOpts{Env: env, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	waitListening(t, c, dashboardPort, 30*time.Second)
	st := apiStatus(t, c, dashboardPort)
	if *st.AuthRequired || st.Mode != "open-insecure" {
		t.Errorf("/api/status: auth_required %v, mode %q; want false, open-insecure", *st.AuthRequired, st.Mode)
	}
	svc := svcStatuses(t, c)["dashboard"]
	if argv := procCmdline(t, c, svc.PID); !slices.Contains(argv, "--insecure") {
		t.Errorf("dashboard command line %q lacks --insecure", argv)
	}
}

// TestContainerDashboardAlongsideGateway (31): with the image's CMD
// (gateway run) and HERMES_DASHBOARD=1, both gateway-default and the
// dashboard are wanted up, and running; the notice says so.
func TestContainerDashboardAlongsideGateway(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Env: dashboardEnv(nil)})
	waitReady(t, c, 30*time.Second)
	waitService(t, c, "gateway-default", 30*time.Second, "gateway-default wanted up and running", func(s svcStatus) bool {
		return s.Want == "up" && s.State == "running"
	})
	waitDashboard(t, c, 30*time.Second, "dashboard wanted up and running", func(s svcStatus) bool {
		return s.Want == "up" && s.State == "running"
	})
	waitListening(t, c, dashboardPort, 30*time.Second)
	waitListening(t, c, 8642, 30*time.Second)
	if logs := dockerLogs(t, c); !strings.Contains(logs, "the dashboard is supervised alongside") {
		t.Errorf("the gateway run notice does not mention the dashboard:\n%s", indent(logs))
	}
}
