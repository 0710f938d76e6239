package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestInitWithholdsSecrets: issue 9's attack. Every service inherited
// init's whole environment, the dashboard's and OIDC secrets included. Now
// a service's /proc/PID/environ lacks them, the dashboard's has the gate's
// own and no other, the main command keeps the container's whole
// environment (CONTRACT §3), and neither hermes svc status, hermes dump
// nor the dashboard's /api/status shows any of them.
func TestInitWithholdsSecrets(t *testing.T) {
	h := newNSHome(t)
	h.service(t, "worker", `argv: ["sleep", "100000"]`+"\n")
	secrets := map[string]string{
		"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD":      "secret-password-1",
		"HERMES_DASHBOARD_OIDC_CLIENT_SECRET":       "secret-oidc-2",
		"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD_FILE": "/run/secrets/secret-file-3",
		"GITHUB_CLIENT_SECRET":                      "secret-github-4",
		"HERMES_AUTH_JSON_BOOTSTRAP":                `{"version":1,"providers":{"x":{"key":"secret-bootstrap-5"}}}`,
		"HERMES_METRICS_TOKEN":                      "secret-metrics-6",
	}
	// What the dashboard needs: the gate's own secrets.
	// The dashboard gets its gate's secrets and the metrics token (its
	// /metrics accepts it, issue 16); ordinary services get none of them.
	dashboardGets := []string{"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD", "HERMES_DASHBOARD_OIDC_CLIENT_SECRET", hostenv.EnvMetricsToken}
	port := freePort(t)
	env := []string{"HERMES_DASHBOARD=1", "HERMES_DASHBOARD_HOST=127.0.0.1", fmt.Sprintf("HERMES_DASHBOARD_PORT=%d", port),
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME=admin", "PLAIN_MARKER=kept"}
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	mainEnv := filepath.Join(h.home, "main.env")
	cmd := h.initCmd(subreaper, env, "sh", "-c", `cat /proc/self/environ > "$HERMES_HOME/main.env.tmp" && mv "$HERMES_HOME/main.env.tmp" "$HERMES_HOME/main.env" && exec sleep 100000`)
	startInit(t, cmd, nil)
	h.waitReady(t)

	// The two services' pids, once both run.
	pids := map[string]int{}
	testenv.EventuallyNil(t, 30*time.Second, "worker and dashboard to run", func() error {
		var list []struct {
			Name, State string
			PID         int
		}
		json.Unmarshal([]byte(h.mustHermes(t, h.socket, "svc", "status", "--json")), &list)
		for _, s := range list {
			if (s.Name == "worker" || s.Name == "dashboard") && s.State == "running" && s.PID > 0 {
				pids[s.Name] = s.PID
			}
		}
		if len(pids) < 2 {
			return fmt.Errorf("running: %v", pids)
		}
		return nil
	})
	environ := func(what string, b []byte) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(string(b), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		if len(m) == 0 {
			t.Fatalf("%s: empty environment", what)
		}
		return m
	}
	procEnv := func(name string) map[string]string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[name]))
		if err != nil {
			t.Fatal(err)
		}
		return environ(name, b)
	}
	worker, dash := procEnv("worker"), procEnv("dashboard")
	var main map[string]string
	testenv.EventuallyNil(t, 10*time.Second, "the main command to write its environment", func() error {
		b, err := os.ReadFile(mainEnv)
		if err == nil {
			main = environ("main command", b)
		}
		return err
	})
	for k, v := range secrets {
		if got, ok := worker[k]; ok {
			t.Errorf("the service has %s=%s", k, got)
		}
		if main[k] != v {
			t.Errorf("the main command has %s=%q, want %q", k, main[k], v)
		}
		want := ""
		for _, d := range dashboardGets {
			if d == k {
				want = v
			}
		}
		if got := dash[k]; got != want {
			t.Errorf("the dashboard has %s=%q, want %q", k, got, want)
		}
	}
	for _, m := range []map[string]string{worker, dash, main} {
		if m["PLAIN_MARKER"] != "kept" || m["HERMES_DASHBOARD_BASIC_AUTH_USERNAME"] != "admin" || m["HERMES_HOME"] != h.home {
			t.Errorf("an ordinary variable is missing: %v", m)
		}
	}

	// No answer shows a secret.
	answers := map[string]string{
		"hermes svc status --json": h.mustHermes(t, h.socket, "svc", "status", "--json"),
		"hermes svc status":        h.mustHermes(t, h.socket, "svc", "status"),
		"hermes dump":              h.mustHermes(t, h.socket, "dump"),
	}
	client := &http.Client{Timeout: 2 * time.Second}
	testenv.EventuallyNil(t, 20*time.Second, "the dashboard's /api/status to answer 200", func() error {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/api/status", port))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		answers["GET /api/status"] = string(b)
		return nil
	})
	for what, body := range answers {
		for k, v := range secrets {
			if strings.Contains(body, v) {
				t.Errorf("%s shows %s:\n%s", what, k, body)
			}
		}
	}
}
