package e2e

// Container tests of the gateways: docker restart on a named volume, the
// default CMD (gateway run) under supervision, and the gateway's output in
// both docker logs and its log file.

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
		health := mustExec(t, c, "", "sh", "-c", "curl -s 127.0.0.1:8643/health 2>/dev/null || "+hermesInContainer+" -p writer gateway status --json")
		if !strings.Contains(health, "running") && !strings.Contains(health, "ok") {
			t.Errorf("restart %d: the writer gateway does not answer: %s", restart, health)
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
	// No recursion: exactly one gateway process.
	ps := mustExec(t, c, "", "sh", "-c", "ps -eo args | grep -c '[g]ateway run --replace'")
	if strings.TrimSpace(ps) != "1" {
		t.Errorf("%s supervised gateway processes, want exactly 1", strings.TrimSpace(ps))
	}
}
