package e2e

// End-to-end tests of configuration, secrets and profiles as an operator
// uses them (issue 12), with the real binary: init as PID 1 of its own PID
// namespace on the host's network, the CLI run as the hermes uid (as the
// docker exec drop runs it) and, where root is the point, as root.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// cfgUpstream is an OpenAI-compatible provider that records the system
// prompt and the key of each chat call; name tells two apart.
type cfgUpstream struct {
	name   string
	mu     sync.Mutex
	system []string
	keys   []string
}

func (u *cfgUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/models":
		if r.Header.Get("Authorization") != "Bearer sk-or-test" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"object":"list","data":[]}`)
		return
	case "/v1/chat/completions":
	default:
		w.WriteHeader(404)
		return
	}
	var req struct {
		Messages []map[string]any `json:"messages"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	u.mu.Lock()
	if len(req.Messages) > 0 && req.Messages[0]["role"] == "system" {
		u.system = append(u.system, fmt.Sprint(req.Messages[0]["content"]))
	}
	u.keys = append(u.keys, r.Header.Get("Authorization"))
	u.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{
		"id": "c1", "object": "chat.completion", "model": "m",
		"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": "from " + u.name}, "finish_reason": "stop"}},
	})
}

// cli runs hermes as uid (10000: the hermes user, 0: root) with stdin.
func (h nsHome) cli(t *testing.T, uid int, stdin string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(hermesBin, args...)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+h.home, "HERMES_CONTROL_SOCKET="+h.socket, "HOME="+h.home)
	cmd.Dir = h.dir
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmdResult{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

// ok runs hermes as the hermes user and fails the test unless it exits 0.
func (h nsHome) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := h.cli(t, 10000, "", args...)
	if r.Code != 0 {
		t.Fatalf("hermes %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// refused runs hermes as the hermes user and wants exit 1 with one ✗ line
// saying says, and file unchanged byte for byte.
func (h nsHome) refused(t *testing.T, file, says string, args ...string) {
	t.Helper()
	before, _ := os.ReadFile(file)
	r := h.cli(t, 10000, "", args...)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "✗ ") || !strings.Contains(r.Stdout, says) {
		t.Errorf("hermes %s: want exit 1 and one ✗ line saying %q; got %s", strings.Join(args, " "), says, r)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Errorf("hermes %s changed %s:\n%s\nwas:\n%s", strings.Join(args, " "), file, after, before)
	}
}

// gwCall sends one chat completion to the gateway on port with key.
func gwCall(t *testing.T, port int, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", port),
		strings.NewReader(`{"model":"hermes-agent","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func envKey(t *testing.T, path, name string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `=(.*)$`).FindStringSubmatch(string(b))
	if m == nil {
		return ""
	}
	return m[1]
}

// TestConfigEndToEnd walks every stuck point of issue 12 as a new user
// would, on the real binary.
func TestConfigEndToEnd(t *testing.T) {
	h := newNSHome(t)
	cmd := h.initCmd(pidNS, nil, "sleep", "100000")
	var initOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &initOut, &initOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(initPID(t, pidNS, cmd), syscall.SIGTERM); cmd.Wait() }()
	h.waitReady(t)
	cfg := filepath.Join(h.home, "config.yaml")
	envFile := filepath.Join(h.home, ".env")
	up1, up2 := &cfgUpstream{name: "one"}, &cfgUpstream{name: "two"}
	srv1, srv2 := httptest.NewServer(up1), httptest.NewServer(up2)
	defer srv1.Close()
	defer srv2.Close()

	// 1. config set refuses what cannot work, leaving the file alone.
	h.refused(t, cfg, "hermes env set OPENROUTER_API_KEY", "config", "set", "OPENROUTER_API_KEY", "sk-or-test")
	h.refused(t, cfg, "unknown key model.temperature", "config", "set", "model.temperature", "0.3")
	h.refused(t, cfg, "no host", "config", "set", "model.base_url", "http://:9998/v1")
	h.refused(t, cfg, "HERMES_", "config", "set", "model.api_key_env", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD")
	h.refused(t, cfg, "API_SERVER_KEY", "config", "set", "model.api_key_env", "API_SERVER_KEY")
	port := freePort(t)
	h.ok(t, "config", "set", "gateway.port", fmt.Sprint(port))
	if out := h.ok(t, "config", "set", "model.base_url", srv1.URL+"/v1"); !strings.Contains(out, "used from the gateway's next request") {
		t.Errorf("model.base_url's effect: %s", out)
	}
	h.ok(t, "config", "set", "model.name", "m")
	h.ok(t, "config", "set", "model.api_key_env", "OPENROUTER_API_KEY")
	list := h.ok(t, "config", "list")
	if !regexp.MustCompile(`gateway\.max_concurrent\s+32\s+32\s+-\s+after a gateway restart`).MatchString(list) ||
		!regexp.MustCompile(`model\.name\s+m\s+-\s+yes\s+from the next request`).MatchString(list) {
		t.Errorf("config list:\n%s", list)
	}
	h.ok(t, "config", "set", "gateway.max_concurrent", "8")
	if out := h.ok(t, "config", "unset", "gateway.max_concurrent"); !strings.Contains(out, "its default, 32") {
		t.Errorf("config unset: %s", out)
	}

	// 4. doctor: the key variable unset is not all green.
	h.ok(t, "gateway", "start")
	if r := h.cli(t, 10000, "", "doctor"); r.Code != 1 || !strings.Contains(r.Stdout, "✗ model default: model.api_key_env names OPENROUTER_API_KEY, which is set neither") {
		t.Errorf("doctor with the key unset: %s", r)
	}

	// 2. env set from stdin, as root: the file stays the hermes uid's,
	// 0600, its comment kept; masked in list; get only with --reveal.
	if r := h.cli(t, 0, "sk-or-test\n", "env", "set", "OPENROUTER_API_KEY"); r.Code != 0 {
		t.Fatalf("env set as root: %s", r)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(envFile, &st); err != nil || st.Uid != 10000 || st.Mode&0o777 != 0o600 {
		t.Errorf(".env after a root env set: uid %d mode %o (%v), want 10000 0600", st.Uid, st.Mode&0o777, err)
	}
	if b, _ := os.ReadFile(envFile); !strings.HasPrefix(string(b), "#") {
		t.Errorf(".env lost its comment:\n%s", b)
	}
	if out := h.ok(t, "env", "list"); strings.Contains(out, "sk-or-test") || !strings.Contains(out, "OPENROUTER_API_KEY") {
		t.Errorf("env list:\n%s", out)
	}
	h.refused(t, envFile, "--reveal", "env", "get", "OPENROUTER_API_KEY")
	if out := h.ok(t, "env", "get", "OPENROUTER_API_KEY", "--reveal"); out != "sk-or-test\n" {
		t.Errorf("env get --reveal = %q", out)
	}
	h.refused(t, envFile, "such as OPENROUTER_KEY", "env", "set", "openrouter-key", "x")
	if out := h.ok(t, "doctor"); !strings.Contains(out, "✓ model default: m at "+srv1.URL+"/v1, key OPENROUTER_API_KEY set in .env") {
		t.Errorf("doctor with the key set:\n%s", out)
	}
	if out := h.ok(t, "doctor", "--online"); !regexp.MustCompile(`✓ model default: .*the upstream answered GET /models with 200 in \d+ms`).MatchString(out) {
		t.Errorf("doctor --online:\n%s", out)
	}
	if out := h.ok(t, "doctor", "--quiet"); out != "" {
		t.Errorf("doctor --quiet on a healthy home printed %q", out)
	}

	// Two env set at once both land.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := h.cli(t, 10000, "", "env", "set", fmt.Sprintf("PARALLEL_%d", i), "v"); r.Code != 0 {
				t.Errorf("parallel env set: %s", r)
			}
		}()
	}
	wg.Wait()
	for i := range 8 {
		if envKey(t, envFile, fmt.Sprintf("PARALLEL_%d", i)) != "v" {
			t.Errorf("PARALLEL_%d was lost", i)
		}
	}

	// "✓ running" is followed by a status that says running, and the
	// gateway serves; the seeded SOUL.md's note never reaches the model.
	if out := h.ok(t, "gateway", "restart"); !strings.Contains(out, "serving") {
		t.Errorf("gateway restart: %s", out)
	}
	if out := h.ok(t, "gateway", "status"); !strings.Contains(out, "gateway   running") {
		t.Errorf("gateway status right after restart:\n%s", out)
	}
	key := envKey(t, envFile, "API_SERVER_KEY")
	if code, body := gwCall(t, port, key); code != 200 || !strings.Contains(body, "from one") {
		t.Fatalf("chat: %d %s", code, body)
	}
	up1.mu.Lock()
	system := up1.system[0]
	up1.mu.Unlock()
	if strings.Contains(system, "<!--") || strings.Contains(system, "SOUL.md of hermes profile") || !strings.HasPrefix(system, "You are Hermes") {
		t.Errorf("the model got the note for people: %q", system)
	}

	// A new base_url is used from the next request, as config set says.
	h.ok(t, "config", "set", "model.base_url", srv2.URL+"/v1")
	if code, body := gwCall(t, port, key); code != 200 || !strings.Contains(body, "from two") {
		t.Errorf("after model.base_url changed: %d %s", code, body)
	}

	// env rotate: the running gateway takes the new key from its next
	// request, and the old one stops working then.
	out := h.ok(t, "env", "rotate", "API_SERVER_KEY")
	fresh := regexp.MustCompile(`(?m)^[0-9a-f]{64}$`).FindString(out)
	if fresh == "" || fresh == key || !strings.Contains(out, "from its next request") {
		t.Fatalf("env rotate printed %q", out)
	}
	if code, _ := gwCall(t, port, key); code != 401 {
		t.Errorf("the old key after rotate: %d, want 401", code)
	}
	if code, _ := gwCall(t, port, fresh); code != 200 {
		t.Errorf("the new key after rotate: %d, want 200", code)
	}

	// A .env with a broken line: named with its number, left alone.
	f, _ := os.OpenFile(envFile, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("this is not a pair\n")
	f.Close()
	h.refused(t, envFile, "line ", "env", "set", "A", "1")

	// 3. Profiles that start ready.
	fixEnv, _ := os.ReadFile(envFile)
	os.WriteFile(envFile, bytes.ReplaceAll(fixEnv, []byte("this is not a pair\n"), nil), 0o600)
	out = h.ok(t, "profile", "create", "coder", "--clone", "--description", "writes code")
	if !strings.Contains(out, "cloned from default") {
		t.Errorf("profile create --clone: %s", out)
	}
	coderEnv := filepath.Join(h.home, "profiles", "coder", ".env")
	if envKey(t, coderEnv, "OPENROUTER_API_KEY") != "sk-or-test" || envKey(t, coderEnv, "API_SERVER_KEY") == fresh || len(envKey(t, coderEnv, "API_SERVER_KEY")) != 64 {
		t.Errorf("the clone's .env:\n%s", func() string { b, _ := os.ReadFile(coderEnv); return string(b) }())
	}
	show := h.ok(t, "profile", "show", "coder")
	coderKey := envKey(t, coderEnv, "API_SERVER_KEY")
	if strings.Contains(show, coderKey) || !regexp.MustCompile(`gateway key\s+API_SERVER_KEY sha256:[0-9a-f]{12}`).MatchString(show) ||
		!strings.Contains(show, "writes code") || !regexp.MustCompile(`model\s+m\n`).MatchString(show) {
		t.Errorf("profile show coder:\n%s", show)
	}
	if p := h.ok(t, "-p", "coder", "config", "get", "gateway.port"); strings.TrimSpace(p) == fmt.Sprint(port) {
		t.Errorf("the clone has the same port %s", p)
	}
	out = h.ok(t, "profile", "create", "full", "--clone-from", "coder", "--clone-all")
	if !strings.Contains(out, "cloned from coder: everything") {
		t.Errorf("--clone-all: %s", out)
	}
	h.refused(t, cfg, "cannot clone profile ghost", "profile", "create", "x", "--clone-from", "ghost")

	// 5. Small truths.
	h.ok(t, "gateway", "stop")
	if st := h.ok(t, "gateway", "status"); strings.Contains(st, "stopped: stopped") {
		t.Errorf("gateway status after stop:\n%s", st)
	}
	if r := h.cli(t, 10000, "", "profile", "delete", "default", "-y"); r.Code != 1 || strings.Contains(r.Stdout, "choose another name") || !strings.Contains(r.Stdout, "cannot be deleted") {
		t.Errorf("profile delete default: %s", r)
	}
	dport := freePort(t)
	first := exec.Command(hermesBin, "dashboard", "--no-open", "--port", fmt.Sprint(dport))
	first.Env = append(os.Environ(), "HERMES_HOME="+h.home, "HERMES_CONTROL_SOCKET="+h.socket)
	first.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 10000, Gid: 10000}, Pdeathsig: syscall.SIGKILL}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { first.Process.Kill(); first.Wait() }()
	testenv.EventuallyNil(t, 10*time.Second, "the first dashboard to listen", func() error {
		_, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", dport))
		return err
	})
	r := h.cli(t, 10000, "", "dashboard", "--no-open", "--port", fmt.Sprint(dport))
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, fmt.Sprintf("held by pid %d", first.Process.Pid)) {
		t.Errorf("a second dashboard on a taken port: %s", r)
	}
}
