package e2e

// Container tests of the gateways (reference-system.md §7.1 items 23-30
// and 32): docker restart on a named volume (stopped stays stopped, running
// comes back, stale pid files swept, the default slot always), the default
// CMD (gateway run) under supervision, its opt-outs, no recursion, and the
// gateway's output in both docker logs and its log file. The gateway's
// /health is probed from inside the container (probeHTTP: bash /dev/tcp).

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svcStatesIn returns name → "want/state" from hermes svc status --json in c.
func svcStatesIn(t *testing.T, c *container) map[string]string {
	t.Helper()
	var list []struct {
		Name, Want, State string
		PID               int
	}
	if err := json.Unmarshal([]byte(mustExec(t, c, "", hermesInContainer, "svc", "status", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, s := range list {
		m[s.Name] = s.Want + "/" + s.State
	}
	return m
}

func waitSvcState(t *testing.T, c *container, service, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, func() error {
		if got := svcStatesIn(t, c)[service]; got != want {
			return fmt.Errorf("%s is %q, want %q", service, got, want)
		}
		return nil
	})
}

// TestContainerRestartKeepsGateways: docker restart on a named volume brings
// back the gateways that were running; one stopped by gateway stop stays
// down; the default slot is always there.
func TestContainerRestartKeepsGateways(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	c := startContainer(t, containerOpts{Volume: true, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 60*time.Second)
	mustExec(t, c, "", hermesInContainer, "profile", "create", "writer")
	mustExec(t, c, "", hermesInContainer, "profile", "create", "coder")
	mustExec(t, c, "", hermesInContainer, "-p", "writer", "gateway", "start")
	mustExec(t, c, "", hermesInContainer, "-p", "coder", "gateway", "start")
	mustExec(t, c, "", hermesInContainer, "-p", "coder", "gateway", "stop")
	waitSvcState(t, c, "gateway-writer", "up/running")
	for restart := 1; restart <= 2; restart++ {
		mustDocker(t, "restart", "-t", "10", c.Name)
		waitReady(t, c, 60*time.Second)
		waitSvcState(t, c, "gateway-writer", "up/running")
		states := svcStatesIn(t, c)
		if states["gateway-coder"] != "down/stopped" || states["gateway-default"] != "down/stopped" {
			t.Errorf("restart %d: coder %q, default %q; want both down/stopped", restart, states["gateway-coder"], states["gateway-default"])
		}
		port, err := strconv.Atoi(strings.TrimSpace(mustExec(t, c, "", hermesInContainer, "-p", "writer", "config", "get", "gateway.port")))
		if err != nil {
			t.Fatalf("gateway.port of writer: %v", err)
		}
		if a := waitHTTP(t, c, 30*time.Second, port, "GET", "/health"); a.Status != 200 || !strings.Contains(a.Body, "writer") {
			t.Errorf("restart %d: GET /health of the writer gateway on %d: %d %q, want 200", restart, port, a.Status, a.Body)
		}
	}
}

// TestContainerRestartReconciles (reference §7.1 items 23-26, with the
// state files written as the reference's tests wrote them): on docker
// restart with a named volume, a profile recorded stopped is registered
// down, one recorded running is started, stale gateway.pid and
// processes.json of the dead PID namespace are swept, and every boot logs
// profile=default and registers gateway-default. The reference looked for
// /run/service/gateway-<p> and its down file; we ask hermes svc status.
func TestContainerRestartReconciles(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Volume: true, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	for _, p := range []string{"writer", "runner", "ghost"} {
		mustExec(t, c, "", hermesInContainer, "profile", "create", p)
	}
	// Written as the hermes uid, like the reference's harness.
	write := func(path, content string) {
		t.Helper()
		mustExec(t, c, "", "sh", "-c", `printf '%s\n' "$1" > "$2"`, "write", content, path)
	}
	write("/opt/data/profiles/writer/gateway_state.json", `{"gateway_state":"stopped","timestamp":1}`)
	write("/opt/data/profiles/runner/gateway_state.json", `{"gateway_state":"running","timestamp":1}`)
	write("/opt/data/profiles/ghost/gateway_state.json", `{"gateway_state":"stopped","timestamp":1}`)
	write("/opt/data/profiles/ghost/gateway.pid", `{"pid":99999,"host":"old"}`)
	write("/opt/data/profiles/ghost/processes.json", `[]`)

	mustDocker(t, "restart", "-t", "10", c.Name)
	waitReady(t, c, 60*time.Second)

	bootLog, _ := catIn(t, c, "", "/opt/data/logs/container-boot.log")
	// 26: one profile=default line per boot (two boots so far).
	if n := strings.Count(bootLog, " profile=default "); n != 2 {
		t.Errorf("container-boot.log has %d profile=default lines after two boots, want 2:\n%s", n, indent(bootLog))
	}
	for _, want := range []string{
		"profile=writer prior_state=stopped action=registered",
		"profile=runner prior_state=running action=started",
		"profile=ghost prior_state=stopped action=registered",
	} {
		if !strings.Contains(bootLog, want) {
			t.Errorf("container-boot.log lacks %q:\n%s", want, indent(bootLog))
		}
	}
	// 23: stopped stays stopped (registered, wanted down).
	waitService(t, c, "gateway-writer", 10*time.Second, "writer registered down", func(s svcStatus) bool {
		return s.Want == "down" && s.State == "stopped"
	})
	// 24: running comes back.
	waitService(t, c, "gateway-runner", 30*time.Second, "runner wanted up and running", func(s svcStatus) bool {
		return s.Want == "up" && s.State == "running"
	})
	// 26: the default slot, always.
	waitService(t, c, "gateway-default", 10*time.Second, "default slot registered", func(s svcStatus) bool { return true })
	// 25: stale pid files of the previous PID namespace are gone.
	for _, f := range []string{"gateway.pid", "processes.json"} {
		if r := dockerExec(t, c, "", "test", "-e", "/opt/data/profiles/ghost/"+f); r.Code == 0 {
			t.Errorf("profiles/ghost/%s survived the restart", f)
		}
	}
}

// TestContainerGatewayRunSupervised: the default CMD (gateway run) starts
// gateway-default under supervision with its notice, keeps the container up
// while the gateway is killed (it is restarted), and the gateway's banner
// reaches both docker logs and logs/gateways/default/current.
func TestContainerGatewayRunSupervised(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	c := startContainer(t, containerOpts{})
	waitReady(t, c, 60*time.Second)
	waitSvcState(t, c, "gateway-default", "up/running")
	waitFor(t, 20*time.Second, func() error {
		logs := dockerLogs(t, c)
		for _, want := range []string{"supervision", "--no-supervise", "HERMES_GATEWAY_NO_SUPERVISE", "Hermes Gateway Starting"} {
			if !strings.Contains(logs, want) {
				return fmt.Errorf("docker logs lack %q:\n%s", want, logs)
			}
		}
		return nil
	})
	file := mustExec(t, c, "", "cat", "/opt/data/logs/gateways/default/current")
	if !strings.Contains(file, "Hermes Gateway Starting") {
		t.Errorf("the banner is not in logs/gateways/default/current:\n%s", file)
	}
	// Kill the gateway: the container stays up and the gateway comes back.
	var st struct{ PID int }
	json.Unmarshal([]byte(mustExec(t, c, "", hermesInContainer, "svc", "status", "gateway-default", "--json")), &st)
	if st.PID == 0 {
		t.Fatal("gateway-default has no pid")
	}
	mustExec(t, c, "", "kill", "-9", strconv.Itoa(st.PID))
	waitFor(t, 30*time.Second, func() error {
		var now struct {
			PID   int
			State string
		}
		json.Unmarshal([]byte(mustExec(t, c, "", hermesInContainer, "svc", "status", "gateway-default", "--json")), &now)
		if now.State != "running" || now.PID == st.PID || now.PID == 0 {
			return fmt.Errorf("gateway-default %s pid %d (killed %d)", now.State, now.PID, st.PID)
		}
		return nil
	})
	if _, running := inspectExitCode(t, c); !running {
		t.Fatal("the container died with its gateway")
	}
	// 30, no recursion: the main command (hermes gateway run, waiting in
	// place of the reference's sleep infinity) and exactly one supervised
	// gateway (gateway run --replace, marked as the supervised child), both
	// children of PID 1; nothing else runs a gateway.
	var main, supervised []proc
	ps := procsIn(t, c)
	for _, p := range ps {
		switch {
		case p.PID == 1 || !strings.Contains(p.Args, "gateway run"):
		case strings.Contains(p.Args, "--replace"):
			supervised = append(supervised, p)
		default:
			main = append(main, p)
		}
	}
	if len(main) != 1 || main[0].PPID != 1 || len(supervised) != 1 || supervised[0].PPID != 1 {
		t.Fatalf("want one main gateway run and one supervised gateway run --replace, both children of PID 1:\n%s", formatProcs(ps))
	}
	if env := procEnv(t, c, "", supervised[0].PID); env["HERMES_SUPERVISED_CHILD"] != "1" || env["HERMES_S6_SUPERVISED_CHILD"] != "1" {
		t.Errorf("the supervised gateway lacks the supervised-child markers (HERMES_SUPERVISED_CHILD=%q, HERMES_S6_SUPERVISED_CHILD=%q)",
			env["HERMES_SUPERVISED_CHILD"], env["HERMES_S6_SUPERVISED_CHILD"])
	}
	if a := waitHTTP(t, c, 30*time.Second, 8642, "GET", "/health"); a.Status != 200 {
		t.Errorf("GET /health on 8642: %d %q, want 200", a.Status, a.Body)
	}
}

// TestContainerGatewayRunOptOuts (28-29): gateway run --no-supervise, or
// HERMES_GATEWAY_NO_SUPERVISE true, or the supervised-child marker, runs
// the gateway in the foreground as the main command: no notice, and
// gateway-default is not wanted up. A false value keeps the redirect. (The
// reference accepted an exited container too; ours must keep running and
// serve /health.)
func TestContainerGatewayRunOptOuts(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		supervised bool
	}{
		{name: "--no-supervise", args: []string{"gateway", "run", "--no-supervise"}},
		{name: "HERMES_GATEWAY_NO_SUPERVISE=1", args: []string{"gateway", "run"}, env: map[string]string{"HERMES_GATEWAY_NO_SUPERVISE": "1"}},
		{name: "HERMES_GATEWAY_NO_SUPERVISE=TRUE", args: []string{"gateway", "run"}, env: map[string]string{"HERMES_GATEWAY_NO_SUPERVISE": "TRUE"}},
		{name: "HERMES_S6_SUPERVISED_CHILD=1", args: []string{"gateway", "run"}, env: map[string]string{"HERMES_S6_SUPERVISED_CHILD": "1"}},
		{name: "HERMES_GATEWAY_NO_SUPERVISE=0 keeps the redirect", args: []string{"gateway", "run"}, env: map[string]string{"HERMES_GATEWAY_NO_SUPERVISE": "0"}, supervised: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startContainer(t, containerOpts{Image: image, Args: tt.args, Env: tt.env})
			waitReady(t, c, 30*time.Second)
			if a := waitHTTP(t, c, 30*time.Second, 8642, "GET", "/health"); a.Status != 200 {
				t.Fatalf("GET /health on 8642: %d %q, want 200", a.Status, a.Body)
			}
			want := "down/stopped"
			if tt.supervised {
				want = "up/running"
			}
			waitSvcState(t, c, "gateway-default", want)
			logs := dockerLogs(t, c)
			if strings.Contains(logs, "supervision") != tt.supervised {
				t.Errorf("docker logs: notice about supervision present=%v, want %v:\n%s", !tt.supervised, tt.supervised, indent(logs))
			}
			if !strings.Contains(logs, "Hermes Gateway Starting") {
				t.Errorf("docker logs lack the gateway's banner:\n%s", indent(logs))
			}
			if tt.supervised {
				return
			}
			// The gateway is the main command: one gateway process, a
			// child of PID 1, without --replace; it is still running.
			var gws []proc
			ps := procsIn(t, c)
			for _, p := range ps {
				if p.PID != 1 && strings.Contains(p.Args, "gateway run") {
					gws = append(gws, p)
				}
			}
			if len(gws) != 1 || gws[0].PPID != 1 || strings.Contains(gws[0].Args, "--replace") {
				t.Errorf("want exactly one gateway process, the main command:\n%s", formatProcs(ps))
			}
			if _, running := inspectExitCode(t, c); !running {
				t.Errorf("the container exited")
			}
		})
	}
}
