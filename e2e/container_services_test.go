package e2e

// Services registered and removed at run time, and the profile gateways'
// slots and want-states (reference-system.md §7.1 items 19-22), as the
// hermes uid: the reference's registration silently never happened in
// production because its tests ran docker exec as root (its §8 items 1-3).

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestContainerRuntimeServices (19-20, adapted): there is no scandir and no
// s6-svstat; a service is registered through the control socket by the
// hermes uid (hermes svc add), runs as that uid with its log in
// logs/<name>/current and in docker logs, shows in hermes svc status, and
// hermes svc rm stops and removes it. The reserved names stay the
// runtime's. A profile's gateway slot (the reference's
// register_profile_gateway) is registered by profile create and removed by
// profile delete.
func TestContainerRuntimeServices(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)

	// Register, as the hermes uid.
	out := mustExec(t, c, "", hermesInContainer, "svc", "add", "probe", "--",
		"sh", "-c", "echo probe-says-hello; exec sleep infinity")
	if !strings.Contains(out, "✓") {
		t.Errorf("hermes svc add: no ✓ line:\n%s", out)
	}
	st := waitService(t, c, "probe", 15*time.Second, "probe runs", func(s svcStatus) bool {
		return s.Want == "up" && s.State == "running" && s.PID > 0
	})
	if st.UID != 10000 {
		t.Errorf("probe runs as uid %d, want 10000", st.UID)
	}
	if env := procEnv(t, c, "", st.PID); env["HERMES_HOME"] != "/opt/data" || env["HOME"] != "/opt/data" {
		t.Errorf("probe's HERMES_HOME=%q HOME=%q, want /opt/data for both", env["HERMES_HOME"], env["HOME"])
	}
	waitFor(t, 10*time.Second, func() error {
		if log, _ := catIn(t, c, "", "/opt/data/logs/probe/current"); !strings.Contains(log, " probe-says-hello") {
			return fmt.Errorf("logs/probe/current lacks the line:\n%s", indent(log))
		}
		if !strings.Contains(dockerLogs(t, c), "probe-says-hello") {
			return fmt.Errorf("docker logs lack the probe's line")
		}
		return nil
	})
	if got := statIn(t, c, "%u:%g %a", "/opt/data/logs/probe/current"); got != "10000:10000 640" {
		t.Errorf("logs/probe/current: owner and mode %q, want 10000:10000 640", got)
	}

	// The runtime's names are not the hermes uid's to register or remove.
	for _, args := range [][]string{
		{"svc", "rm", "gateway-default"},
		{"svc", "rm", "dashboard"},
		{"svc", "add", "dashboard", "--", "sleep", "1"},
		{"svc", "add", "gateway-evil", "--", "sleep", "1"},
	} {
		r := dockerExec(t, c, "", append([]string{hermesInContainer}, args...)...)
		if r.Code != 1 || !strings.HasPrefix(strings.TrimSpace(r.Stdout), "✗") {
			t.Errorf("hermes %s as the hermes uid: want exit 1 with a ✗ line: %s", strings.Join(args, " "), r)
		}
	}

	// Remove: stopped, gone from the status, no process left.
	mustExec(t, c, "", hermesInContainer, "svc", "rm", "probe")
	if _, found := svcStatuses(t, c)["probe"]; found {
		t.Errorf("probe is still listed after hermes svc rm")
	}
	for _, p := range procsIn(t, c) {
		if p.PID == st.PID || strings.Contains(p.Args, "probe-says-hello") {
			t.Errorf("probe's process is still there after hermes svc rm:\n%s", formatProcs(procsIn(t, c)))
		}
	}
	// Removing an absent service is not an error (DELETE is idempotent).
	mustExec(t, c, "", hermesInContainer, "svc", "rm", "probe")

	// A profile's gateway slot: registered down by profile create, gone
	// with profile delete.
	mustExec(t, c, "", hermesInContainer, "profile", "create", "phase3test")
	waitService(t, c, "gateway-phase3test", 10*time.Second, "slot registered down", func(s svcStatus) bool {
		return s.Want == "down" && s.State == "stopped"
	})
	if out := mustExec(t, c, "", hermesInContainer, "svc", "status"); !strings.Contains(out, "gateway-phase3test") {
		t.Errorf("hermes svc status does not list gateway-phase3test:\n%s", out)
	}
	mustExec(t, c, "", hermesInContainer, "profile", "delete", "phase3test", "-y")
	if _, found := svcStatuses(t, c)["gateway-phase3test"]; found {
		t.Errorf("gateway-phase3test is still registered after profile delete")
	}
	if r := dockerExec(t, c, "", "test", "-e", "/opt/data/profiles/phase3test"); r.Code == 0 {
		t.Errorf("profiles/phase3test still exists after profile delete")
	}
}

// TestContainerProfileGatewayLifecycle (21-22): gateway start and stop set
// the profile gateway's want-state (and actually run and stop it: the
// reference asserted only want-state, since its harness profile
// crash-looped; ours has no model and still serves /health), record
// desired_state, and profile delete stops and removes a running gateway.
func TestContainerProfileGatewayLifecycle(t *testing.T) {
	t.Parallel()
	const p = "test-harness-profile"
	c := startContainer(t, containerOpts{Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	mustExec(t, c, "", hermesInContainer, "profile", "create", p)
	waitService(t, c, "gateway-"+p, 10*time.Second, "slot registered down", func(s svcStatus) bool {
		return s.Want == "down" && s.State == "stopped"
	})
	port := strings.TrimSpace(mustExec(t, c, "", hermesInContainer, "-p", p, "config", "get", "gateway.port"))
	portN, err := strconv.Atoi(port)
	if err != nil || portN <= 8642 {
		t.Fatalf("gateway.port of %s is %q, want a port above 8642", p, port)
	}

	out := mustExec(t, c, "", hermesInContainer, "-p", p, "gateway", "start")
	if !strings.Contains(out, "✓") {
		t.Errorf("gateway start: no ✓ line:\n%s", out)
	}
	st := waitService(t, c, "gateway-"+p, 30*time.Second, "gateway wanted up and running", func(s svcStatus) bool {
		return s.Want == "up" && s.State == "running"
	})
	a := waitHTTP(t, c, 30*time.Second, portN, "GET", "/health")
	if a.Status != 200 || !strings.Contains(a.Body, p) {
		t.Errorf("GET /health on %d: %d %q, want 200 naming the profile", portN, a.Status, a.Body)
	}
	if state, _ := catIn(t, c, "", "/opt/data/profiles/"+p+"/gateway_state.json"); !strings.Contains(state, `"desired_state": "running"`) &&
		!strings.Contains(state, `"desired_state":"running"`) {
		t.Errorf("gateway_state.json after start lacks desired_state running:\n%s", state)
	}

	mustExec(t, c, "", hermesInContainer, "-p", p, "gateway", "stop")
	waitService(t, c, "gateway-"+p, 30*time.Second, "gateway wanted down and stopped", func(s svcStatus) bool {
		return s.Want == "down" && s.State == "stopped"
	})
	waitFor(t, 10*time.Second, func() error {
		state, _ := catIn(t, c, "", "/opt/data/profiles/"+p+"/gateway_state.json")
		if !strings.Contains(strings.ReplaceAll(state, " ", ""), `"desired_state":"stopped"`) {
			return fmt.Errorf("gateway_state.json after stop lacks desired_state stopped:\n%s", state)
		}
		return nil
	})
	if listeningPorts(t, c)[portN] {
		t.Errorf("port %d still listens after gateway stop", portN)
	}

	// 22: profile delete stops a running gateway and removes its slot.
	mustExec(t, c, "", hermesInContainer, "-p", p, "gateway", "start")
	st = waitService(t, c, "gateway-"+p, 30*time.Second, "gateway running again", func(s svcStatus) bool {
		return s.State == "running"
	})
	mustExec(t, c, "", hermesInContainer, "profile", "delete", p, "-y")
	if _, found := svcStatuses(t, c)["gateway-"+p]; found {
		t.Errorf("gateway-%s is still registered after profile delete", p)
	}
	for _, proc := range procsIn(t, c) {
		if proc.PID == st.PID || strings.Contains(proc.Args, "-p "+p+" ") {
			t.Errorf("a gateway process of %s survived profile delete:\n%s", p, formatProcs(procsIn(t, c)))
			break
		}
	}
}
