package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestContainerConfig: configuration, secrets and profiles in the image,
// as a new user tries them with docker exec (issue 12), in one container:
// config set refuses a secret and a URL that cannot work (the file byte
// for byte), hermes env set takes a pasted key as the hermes user also
// from root, doctor is not green while the key is missing, env rotate
// works from the gateway's next request, and a clone starts ready; then
// the rest of TestConfigEndToEnd's points (containerConfigMore).
func TestContainerConfig(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Volume: true})
	waitReady(t, c, 30*time.Second)
	hermes := func(user string, args ...string) cmdResult {
		t.Helper()
		return dockerExec(t, c, user, append([]string{"hermes"}, args...)...)
	}
	cfgBefore, _ := catIn(t, c, "", "/opt/data/config.yaml")
	for _, args := range [][]string{
		{"config", "set", "OPENROUTER_API_KEY", "sk-or-test"},
		{"config", "set", "model.base_url", "http://:9998/v1"},
		{"config", "set", "model.temperature", "0.3"},
	} {
		r := hermes("root", args...)
		if r.Code != 1 || strings.Count(strings.TrimSpace(r.Stdout), "\n") != 0 || !strings.HasPrefix(r.Stdout, "✗ ") {
			t.Errorf("hermes %s: %s", strings.Join(args, " "), r)
		}
	}
	if r := hermes("root", "config", "set", "OPENROUTER_API_KEY", "sk-or-test"); !strings.Contains(r.Stdout, "hermes env set OPENROUTER_API_KEY") {
		t.Errorf("a secret in config set does not point to env set: %s", r)
	}
	if after, _ := catIn(t, c, "", "/opt/data/config.yaml"); after != cfgBefore {
		t.Errorf("refused sets changed config.yaml:\n%s", after)
	}
	for _, kv := range [][2]string{{"model.base_url", "https://openrouter.ai/api/v1"}, {"model.name", "openai/gpt-4o-mini"}, {"model.api_key_env", "OPENROUTER_API_KEY"}} {
		if r := hermes("root", "config", "set", kv[0], kv[1]); r.Code != 0 || !strings.Contains(r.Stdout, "next request") {
			t.Errorf("config set %s: %s", kv[0], r)
		}
	}
	if r := hermes("", "doctor"); r.Code != 1 || !strings.Contains(r.Stdout, "✗ model default") {
		t.Errorf("doctor with the key unset: %s", r)
	}

	// Pasted on stdin, as root: docker exec drops to the hermes user; and
	// kept as root on purpose, .env is still the hermes user's.
	r, err := runCommand(dockerTimeout, strings.NewReader("sk-or-test\n"), "docker", "exec", "-i", c.Name, "hermes", "env", "set", "OPENROUTER_API_KEY")
	if err != nil || r.Code != 0 {
		t.Fatalf("env set from stdin: %v %s", err, r)
	}
	if r := dockerExec(t, c, "root", "env", "HERMES_DOCKER_EXEC_AS_ROOT=1", "hermes", "env", "set", "SECOND_KEY", "x-0123456789abcdef"); r.Code != 0 {
		t.Errorf("env set as root: %s", r)
	}
	if got := statIn(t, c, "%u:%g %a", "/opt/data/.env"); got != "10000:10000 600" {
		t.Errorf(".env is %s, want 10000:10000 600", got)
	}
	if out := mustExec(t, c, "", "hermes", "env", "list"); strings.Contains(out, "sk-or-test") || !strings.Contains(out, "OPENROUTER_API_KEY") {
		t.Errorf("env list:\n%s", out)
	}
	if r := hermes("", "doctor"); r.Code != 0 || !strings.Contains(r.Stdout, "key OPENROUTER_API_KEY set in .env") {
		t.Errorf("doctor with the key set: %s", r)
	}
	if r := dockerExec(t, c, "", "sh", "-c", "hermes doctor --quiet"); r.Code != 0 || r.Stdout != "" {
		t.Errorf("the HEALTHCHECK's doctor --quiet: %s", r)
	}

	// env rotate: the running gateway takes the new key from its next
	// request.
	env, _ := catIn(t, c, "", "/opt/data/.env")
	old := regexp.MustCompile(`(?m)^API_SERVER_KEY=(.*)$`).FindStringSubmatch(env)[1]
	models := func(key string) int {
		t.Helper()
		var a httpAnswer
		waitFor(t, 30*time.Second, func() error {
			var err error
			a, err = probeHTTP(t, c, gatewayPort, "GET", "/v1/models", "Authorization: Bearer "+key)
			return err
		})
		return a.Status
	}
	if got := models(old); got != 200 {
		t.Fatalf("GET /v1/models with the seeded key: %d", got)
	}
	out := mustExec(t, c, "", "hermes", "env", "rotate", "API_SERVER_KEY")
	fresh := regexp.MustCompile(`(?m)^[0-9a-f]{64}$`).FindString(out)
	if fresh == "" || fresh == old {
		t.Fatalf("env rotate: %s", out)
	}
	if got := models(old); got != 401 {
		t.Errorf("the old key after env rotate: %d, want 401", got)
	}
	if got := models(fresh); got != 200 {
		t.Errorf("the new key after env rotate: %d, want 200", got)
	}

	// A clone starts ready: its model and key, its own port and API key.
	if out := mustExec(t, c, "root", "hermes", "profile", "create", "coder", "--clone", "--description", "writes code"); !strings.Contains(out, "gateway port 8643") || !strings.Contains(out, "cloned from default") {
		t.Errorf("profile create --clone: %s", out)
	}
	show := mustExec(t, c, "", "hermes", "profile", "show", "coder")
	if !strings.Contains(show, "openai/gpt-4o-mini") || !regexp.MustCompile(`API_SERVER_KEY sha256:[0-9a-f]{12}`).MatchString(show) || strings.Contains(show, fresh) {
		t.Errorf("profile show coder:\n%s", show)
	}
	if r := hermes("", "-p", "coder", "doctor"); !strings.Contains(r.Stdout, "model coder: openai/gpt-4o-mini at https://openrouter.ai/api/v1, key OPENROUTER_API_KEY set in .env") {
		t.Errorf("doctor of the clone: %s", r)
	}
	if soul, _ := catIn(t, c, "", "/opt/data/SOUL.md"); !strings.HasPrefix(soul, "<!--") {
		t.Errorf("the seeded SOUL.md keeps its note outside a comment block:\n%s", soul)
	}
	if r := hermes("", "profile", "delete", "default", "-y"); r.Code != 1 || strings.Contains(r.Stdout, "choose another name") {
		t.Errorf("profile delete default: %s", r)
	}
	containerConfigMore(t, c, fresh)
}

// TestContainerConfig, continued in the same container (issue 12's points
// that TestConfigEndToEnd checks outside the image): gateway start says
// "✓ running" and status agrees; doctor --online reaches an upstream and
// gives its status and latency; 8 env set at once all land; a broken .env
// line is named with its number and left alone; a second dashboard on a
// taken port names the pid holding it; gateway stop says one clean line.
func containerConfigMore(t *testing.T, c *container, fresh string) {
	hermes := func(args ...string) cmdResult {
		t.Helper()
		return dockerExec(t, c, "", append([]string{"hermes"}, args...)...)
	}
	// refused wants exit 1, one ✗ line saying says, and file unchanged
	// byte for byte.
	refused := func(file, says string, args ...string) {
		t.Helper()
		before, _ := catIn(t, c, "", file)
		r := hermes(args...)
		if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); r.Code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "✗ ") || !strings.Contains(r.Stdout, says) {
			t.Errorf("hermes %s: want exit 1 and one ✗ line saying %q; got %s", strings.Join(args, " "), says, r)
		}
		if after, _ := catIn(t, c, "", file); after != before {
			t.Errorf("hermes %s changed %s:\n%s\nwas:\n%s", strings.Join(args, " "), file, after, before)
		}
	}

	// gateway start: "✓ running" and a status that agrees at once (the
	// same pid, never "starting").
	out := mustExec(t, c, "", "hermes", "-p", "coder", "gateway", "start")
	m := regexp.MustCompile(`(?m)^✓ gateway-coder running \(pid (\d+)\), serving$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("gateway start: %s", out)
	}
	st := mustExec(t, c, "", "hermes", "-p", "coder", "gateway", "status")
	if !regexp.MustCompile(`(?m)^gateway\s+running `).MatchString(st) || !strings.Contains(st, "gateway-coder: running (pid "+m[1]+"), want up") || strings.Contains(st, "starting") {
		t.Errorf("gateway status right after %q:\n%s", strings.TrimSpace(out), st)
	}

	// doctor --online: each profile's gateway is the other's upstream (an
	// OpenAI-compatible server the container reaches without a network;
	// GET /v1/models wants its API_SERVER_KEY).
	coderEnv, _ := catIn(t, c, "", "/opt/data/profiles/coder/.env")
	coderKey := regexp.MustCompile(`(?m)^API_SERVER_KEY=(.*)$`).FindStringSubmatch(coderEnv)[1]
	for _, p := range []struct{ flag, url, key string }{
		{"default", "http://127.0.0.1:8643/v1", coderKey},
		{"coder", "http://127.0.0.1:8642/v1", fresh},
	} {
		mustExec(t, c, "", "hermes", "-p", p.flag, "env", "set", "UPSTREAM_KEY", p.key)
		mustExec(t, c, "", "hermes", "-p", p.flag, "config", "set", "model.api_key_env", "UPSTREAM_KEY")
		mustExec(t, c, "", "hermes", "-p", p.flag, "config", "set", "model.base_url", p.url)
	}
	r := hermes("doctor", "--online")
	for _, want := range []string{
		`(?m)^✓ model default: openai/gpt-4o-mini at http://127\.0\.0\.1:8643/v1, key UPSTREAM_KEY set in \.env; the upstream answered GET /models with 200 in \d+ms$`,
		`(?m)^✓ model coder: openai/gpt-4o-mini at http://127\.0\.0\.1:8642/v1, key UPSTREAM_KEY set in \.env; the upstream answered GET /models with 200 in \d+ms$`,
	} {
		if r.Code != 0 || !regexp.MustCompile(want).MatchString(r.Stdout) {
			t.Errorf("doctor --online: want %s; got %s", want, r)
		}
	}

	// 8 env set at once, as the hermes uid through docker exec: all land.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := runCommand(dockerTimeout, nil, "docker", "exec", "--user", hermesUser, c.Name, "hermes", "env", "set", fmt.Sprintf("PARALLEL_%d", i), fmt.Sprintf("v%d", i))
			if err != nil || r.Code != 0 {
				t.Errorf("parallel env set PARALLEL_%d: %v %s", i, err, r)
			}
		}()
	}
	wg.Wait()
	env, _ := catIn(t, c, "", "/opt/data/.env")
	for i := range 8 {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^PARALLEL_%d=v%d$`, i, i)).MatchString(env) {
			t.Errorf("PARALLEL_%d was lost:\n%s", i, env)
		}
	}
	if got := statIn(t, c, "%u:%g %a", "/opt/data/.env"); got != "10000:10000 600" {
		t.Errorf(".env after 8 env set at once is %s, want 10000:10000 600", got)
	}

	// A .env with a broken line: named with its number, left as it was.
	mustExec(t, c, "", "sh", "-c", "echo 'this is not a pair' >> /opt/data/.env")
	broken := strings.Count(env, "\n") + 1
	refused("/opt/data/.env", fmt.Sprintf(".env line %d: ", broken), "env", "set", "A", "1")
	restore, err := runCommand(dockerTimeout, strings.NewReader(env), "docker", "exec", "-i", "--user", hermesUser, c.Name, "sh", "-c", "cat > /opt/data/.env")
	if err != nil || restore.Code != 0 {
		t.Fatalf("restoring .env: %v %s", err, restore)
	}

	// A second dashboard on a taken port names the pid that holds it.
	mustDocker(t, "exec", "-d", "--user", hermesUser, c.Name, "hermes", "dashboard", "--no-open", "--host", "127.0.0.1")
	waitHTTP(t, c, 10*time.Second, dashboardPort, "GET", "/")
	pids := dashboardPIDs(t, c)
	if len(pids) != 1 {
		t.Fatalf("pgrep -f 'hermes dashboard' after one started: %v", pids)
	}
	r = hermes("dashboard", "--no-open", "--host", "127.0.0.1")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, fmt.Sprintf("held by pid %d", pids[0])) {
		t.Errorf("a second dashboard on a taken port: %s; want it to name pid %d", r, pids[0])
	}
	mustExec(t, c, "", "kill", fmt.Sprint(pids[0]))

	// gateway stop: one clean line, and no "stopped: stopped" after it.
	if out := mustExec(t, c, "", "hermes", "-p", "coder", "gateway", "stop"); out != "✓ gateway-coder stopped\n" {
		t.Errorf("gateway stop printed %q", out)
	}
	if st := mustExec(t, c, "", "hermes", "-p", "coder", "gateway", "status"); strings.Contains(st, "stopped: stopped") || !regexp.MustCompile(`(?m)^gateway\s+stopped `).MatchString(st) {
		t.Errorf("gateway status after stop:\n%s", st)
	}
}
