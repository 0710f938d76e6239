package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestContainerOrchestratorKey: the key an orchestrator hands in. The
// first boot of an empty volume seeds API_SERVER_KEY_FILE's key (a file
// mounted the way Swarm and Kubernetes mount secrets) into .env, and the
// gateway takes it; a later boot with another key in the environment
// keeps .env's and says so in one warning line; a key that cannot work
// stops the boot with a line naming the variable, before anything is
// written.
func TestContainerOrchestratorKey(t *testing.T) {
	t.Parallel()
	key := randomHex(32)
	first := startContainer(t, containerOpts{
		Volume: true,
		Env:    map[string]string{"API_SERVER_KEY_FILE": "/run/secrets/hermes_api_key"},
		Files:  []containerFile{{Path: "/run/secrets/hermes_api_key", Content: key + "\n", Mode: 0o400}},
	})
	waitReady(t, first, 30*time.Second)
	if env, _ := catIn(t, first, "", "/opt/data/.env"); !regexp.MustCompile(`(?m)^API_SERVER_KEY=` + key + `$`).MatchString(env) {
		t.Errorf("the first boot did not seed the key of API_SERVER_KEY_FILE:\n%s", indent(env))
	}
	answers := func(c *container, key string) int {
		t.Helper()
		var a httpAnswer
		waitFor(t, 30*time.Second, func() error {
			var err error
			a, err = probeHTTP(t, c, gatewayPort, "GET", "/v1/models", "Authorization: Bearer "+key)
			return err
		})
		return a.Status
	}
	if got := answers(first, key); got != 200 {
		t.Errorf("GET /v1/models with the orchestrator's key: %d, want 200", got)
	}
	if logs := dockerLogs(t, first); !strings.Contains(logs, "hermes init: API_SERVER_KEY in /opt/data/.env is the one from API_SERVER_KEY_FILE (/run/secrets/hermes_api_key)") {
		t.Errorf("the first boot does not say where the key came from:\n%s", indent(logs))
	}
	stopContainer(t, first, 10)

	other := randomHex(32)
	second := startContainer(t, containerOpts{Env: map[string]string{"API_SERVER_KEY": other}, Flags: []string{"-v", first.Volume + ":/opt/data"}})
	waitReady(t, second, 30*time.Second)
	if got := answers(second, key); got != 200 {
		t.Errorf("after the second boot, GET /v1/models with .env's key: %d, want 200", got)
	}
	if got := answers(second, other); got != 401 {
		t.Errorf("after the second boot, GET /v1/models with the environment's other key: %d, want 401", got)
	}
	var warnings []string
	for _, l := range strings.Split(dockerLogs(t, second), "\n") {
		if strings.Contains(l, "API_SERVER_KEY") {
			warnings = append(warnings, l)
		}
	}
	const want = "hermes init: warning: the API_SERVER_KEY from API_SERVER_KEY differs from the one in /opt/data/.env; " +
		"the gateway uses the one in /opt/data/.env. To use the environment's instead, delete the API_SERVER_KEY line from /opt/data/.env " +
		"and restart: the next boot writes the environment's key there"
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("the second boot said %q about the key, want the one line %q", warnings, want)
	}
	stopContainer(t, second, 10)

	for _, tt := range []struct{ name, value, msg string }{
		{"two lines", key + "\n" + key, "API_SERVER_KEY: the key spans 2 lines"},
		{"empty", "", "API_SERVER_KEY: the key is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, r := runContainer(t, containerOpts{Volume: true, Env: map[string]string{"API_SERVER_KEY": tt.value}, Args: []string{"true"}}, dockerTimeout)
			if r.Code == 0 {
				t.Fatalf("a container whose API_SERVER_KEY is refused started: %s", r)
			}
			out := r.Stdout + r.Stderr
			if !strings.Contains(out, tt.msg) || strings.Contains(out, key) || strings.Contains(out, "goroutine ") {
				t.Errorf("the refusal does not say %q (or quotes the key, or is a stack trace):\n%s", tt.msg, indent(out))
			}
			if ls := mustExecStopped(t, c); ls != "" {
				t.Errorf("a refused key left files in the volume: %s", ls)
			}
		})
	}
}

// mustExecStopped lists the volume of the stopped container c (through a
// throwaway container on the same volume).
func mustExecStopped(t *testing.T, c *container) string {
	t.Helper()
	_, r := runContainer(t, containerOpts{Flags: []string{"-v", c.Volume + ":/opt/data"}, Entrypoint: "ls", Args: []string{"-A", "/opt/data"}}, dockerTimeout)
	if r.Code != 0 {
		t.Fatalf("listing the volume %s: %s", c.Volume, r)
	}
	return strings.Join(strings.Fields(r.Stdout), " ")
}
