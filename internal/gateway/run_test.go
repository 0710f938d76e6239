package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// freePort is a port free on both of the loopback addresses the gateway
// tests bind (testenv.FreePort).
func freePort(t *testing.T) int { return testenv.FreePort(t, "127.0.0.1", "127.0.0.2") }

// noEnv is an environment with no variables set.
func noEnv() hostenv.Env {
	return hostenv.Env{
		Getenv: func(string) (string, bool) { return "", false },
		Exists: func(string) bool { return false },
		Getuid: os.Getuid,
	}
}

// gatewayHome makes a home whose default profile listens on port.
func gatewayHome(t *testing.T, port int) string {
	t.Helper()
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "SOUL.md"), "default\n")
	writeFile(t, filepath.Join(home, "config.yaml"),
		"gateway:\n  host: 127.0.0.1\n  port: "+strconv.Itoa(port)+"\n  drain_timeout: 2s\n")
	return home
}

// running is a gateway started by startRun.
type running struct {
	states chan string
	stdout *testenv.Buffer
	done   chan struct{} // closed when Run has returned err
	err    error
	cancel context.CancelFunc
}

// wait returns Run's error once it has returned.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func startRun(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{states: make(chan string, 16), stdout: &testenv.Buffer{}, done: make(chan struct{})}
	cfg.Stdout, cfg.Stderr, cfg.Env = r.stdout, io.Discard, noEnv()
	cfg.observe = func(s string) { r.states <- s }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.err = Run(ctx, cfg); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return r
}

// expectStates reads the next states the gateway records.
func (r *running) expectStates(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-r.states:
			if got != w {
				t.Fatalf("gateway recorded state %q, want %q", got, w)
			}
		case <-r.done:
			t.Fatalf("Run returned %v while waiting for state %q", r.err, w)
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for state %q", w)
		}
	}
}

func getJSON(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestRunLifecycle(t *testing.T) {
	port := freePort(t)
	home := gatewayHome(t, port)
	var logBuf testenv.Buffer
	r := startRun(t, Config{Profile: profiles.MustParse(home, "default"), Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	r.expectStates(t, StateStarting, StateRunning)

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	banner := r.stdout.String()
	if !strings.Contains(banner, "⚕ Hermes Gateway Starting") || !strings.Contains(banner, "default") || !strings.Contains(banner, "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("banner = %q", banner)
	}
	st, err := ReadState(home)
	if err != nil || st.GatewayState != StateRunning || st.PID != os.Getpid() || st.StartTime == "" || st.UpdatedAt == "" || st.ExitReason != "" {
		t.Errorf("state while running = %+v, %v", st, err)
	}
	if info := readPID(t, home); info.PID != os.Getpid() || info.DrainTimeout != "2s" {
		t.Errorf("pid file while running = %+v", info)
	}

	if code, m := getJSON(t, "GET", base+"/health"); code != 200 || m["status"] != "ok" || m["profile"] != "default" || m["state"] != "running" {
		t.Errorf("GET /health = %d %v", code, m)
	}
	// Every other path is the agent's: without an API_SERVER_KEY in .env it
	// refuses everything, in the OpenAI error envelope.
	if code, m := getJSON(t, "GET", base+"/v1/models"); code != 503 || m["error"].(map[string]any)["code"] != "no_api_key" {
		t.Errorf("GET /v1/models = %d %v, want the agent's 503 no_api_key", code, m)
	}
	if code, _ := getJSON(t, "POST", base+"/health"); code != 405 {
		t.Errorf("POST /health = %d, want 405", code)
	}
	if code, m := getJSON(t, "GET", base+"/v1/health"); code != 200 || m["status"] != "ok" || m["platform"] != "hermes-agent" {
		t.Errorf("GET /v1/health = %d %v", code, m)
	}
	// Every request is a line of the gateway's log, named by its route.
	for _, want := range []string{"msg=request method=GET route=health status=200", "route=health_v1 status=200", "route=models status=503", "route=health status=405"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("the gateway's log lacks %q:\n%s", want, logBuf.String())
		}
	}

	// A second gateway of the same profile is refused and changes nothing.
	err = Run(context.Background(), Config{Profile: profiles.MustParse(home, "default"), Env: noEnv()})
	if !errors.Is(err, ErrRunning) {
		t.Errorf("a second Run = %v, want ErrRunning", err)
	}
	if st, _ := ReadState(home); st.GatewayState != StateRunning || st.PID != os.Getpid() {
		t.Errorf("the refused second gateway changed the state: %+v", st)
	}

	r.cancel()
	r.expectStates(t, StateDraining, StateStopped)
	if err := r.wait(t); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	st, err = ReadState(home)
	if err != nil || st.GatewayState != StateStopped || st.ExitReason != "stopped on request" {
		t.Errorf("state after the stop = %+v, %v", st, err)
	}
	if _, err := os.Lstat(filepath.Join(home, PIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gateway.pid after the stop: %v, want it removed", err)
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		t.Errorf("the port still answers after the stop")
	}
}

func TestRunPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	home := gatewayHome(t, ln.Addr().(*net.TCPAddr).Port)
	r := startRun(t, Config{Profile: profiles.MustParse(home, "default")})
	r.expectStates(t, StateStarting, StateStartupFailed)
	err = r.wait(t)
	if err == nil || errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a busy port = %v, want a plain error naming the address in use", err)
	}
	st, _ := ReadState(home)
	if st.GatewayState != StateStartupFailed || !strings.Contains(st.ExitReason, "address already in use") {
		t.Errorf("state = %+v, want startup_failed with the reason", st)
	}
	if _, err := os.Lstat(filepath.Join(home, PIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gateway.pid after a failed start: %v, want it removed", err)
	}
}

// TestRunAllocatesMissingPort: a profile made on the host without a port
// gets the next free one, written by the gateway itself into its
// config.yaml, and serves on it.
func TestRunAllocatesMissingPort(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "profiles", "coder", "SOUL.md"), "coder\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Profile: profiles.MustParse(home, "coder"), Env: noEnv()}) }()
	testenv.EventuallyNil(t, 10*time.Second, "the gateway to run", func() error {
		st, err := ReadState(filepath.Join(home, "profiles", "coder"))
		if err == nil && st.GatewayState != StateRunning {
			err = fmt.Errorf("gateway_state %q", st.GatewayState)
		}
		return err
	})
	port, err := profiles.Port(profiles.MustParse(home, "coder"))
	if err != nil || port <= profiles.DefaultGatewayPort {
		t.Errorf("port after the first start = %d, %v; want one above %d written to config.yaml", port, err, profiles.DefaultGatewayPort)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after an intended stop, want nil", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		setup   func(home string)
		state   string // the recorded state, "" when none is
		reason  string
	}{
		{"bad yaml", "default", func(home string) {
			writeFile(t, filepath.Join(home, "config.yaml"), "gateway: [\n")
		}, StateStartupFailed, "config"},
		{"bad port", "default", func(home string) {
			writeFile(t, filepath.Join(home, "config.yaml"), "gateway:\n  port: 99999\n")
		}, StateStartupFailed, "port"},
		{"bad drain", "default", func(home string) {
			writeFile(t, filepath.Join(home, "config.yaml"), "gateway:\n  port: 8642\n  drain_timeout: forever\n")
		}, StateStartupFailed, "drain_timeout"},
		{"no such profile", "ghost", func(string) {}, "", ""},
		{"no profile (the zero Ref)", "", func(string) {}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			tt.setup(home)
			var ref profiles.Ref // an invalid name never becomes one: profiles.Parse
			if tt.profile != "" {
				ref = profiles.MustParse(home, tt.profile)
			}
			err := Run(context.Background(), Config{Profile: ref, Env: noEnv()})
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Run = %v, want ErrConfig", err)
			}
			dir := filepath.Join(home, "profiles", tt.profile)
			if tt.profile == "default" {
				dir = home
			}
			st, serr := ReadState(dir)
			switch {
			case tt.state == "" && serr == nil:
				t.Errorf("a state was recorded for %s: %+v", tt.profile, st)
			case tt.state != "" && (st.GatewayState != tt.state || !strings.Contains(st.ExitReason, tt.reason)):
				t.Errorf("state = %+v, %v; want %s with a reason containing %q", st, serr, tt.state, tt.reason)
			}
		})
	}
}

// testKey is the API_SERVER_KEY of the handler tests.
const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// servedGateway is a gateway's HTTP surface without its process: the
// agent of a profile in a temporary directory (its upstream at base) with
// the gateway's routes, in state.
func servedGateway(t *testing.T, state, base string) (*gw, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "SOUL.md"), "coder\n")
	writeFile(t, filepath.Join(dir, "config.yaml"), "model: {base_url: '"+base+"', name: m}\n")
	writeFile(t, filepath.Join(dir, ".env"), "API_SERVER_KEY="+testKey+"\n")
	store, err := sessions.Open(filepath.Join(dir, profiles.FileSessions), sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	g := &gw{cfg: Config{Profile: profiles.MustParse(filepath.Dir(dir), "coder")}, dir: dir, pid: 4242, start: time.Unix(1_800_000_000, 0), store: store, token: metrics.NewToken(testMetricsToken)}
	g.state.Store(state)
	g.newMetrics()
	ag, err := agent.New(agent.Config{Profile: "coder", Dir: dir, Store: store, Routes: g.routes(), Observe: g.observe, Env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	g.ag = ag
	return g, ag.Handler()
}

func serveOne(h http.Handler, method, path string, key bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if key {
		req.Header.Set("Authorization", "Bearer "+testKey)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestHandler checks the gateway's own routes in each state: /health and
// /v1/health are public, /health/detailed needs the key; every other path
// is the agent's.
func TestHandler(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	tests := []struct {
		state, method, path string
		key                 bool
		code                int
		body                string
	}{
		{StateRunning, "GET", "/health", false, 200, `{"status":"ok","platform":"hermes-agent","profile":"coder","state":"running"}`},
		{StateRunning, "HEAD", "/health", false, 200, ``},
		{StateRunning, "GET", "/v1/health", false, 200, `{"status":"ok","platform":"hermes-agent","profile":"coder","state":"running"}`},
		{StateRunning, "DELETE", "/health", false, 405, `"code":"method_not_allowed"`},
		{StateRunning, "GET", "/health/detailed", false, 401, `"code":"missing_api_key"`},
		{StateRunning, "GET", "/v1/capabilities", false, 401, `"code":"missing_api_key"`},
		{StateRunning, "GET", "/v1/capabilities", true, 200, `"object":"hermes.api_server.capabilities"`},
		{StateRunning, "GET", "/v1/models", true, 200, `"hermes-coder"`},
		{StateDraining, "GET", "/health", false, 200, `{"status":"draining","platform":"hermes-agent","profile":"coder","state":"draining"}`},
		{StateStopped, "GET", "/v1/health", false, 200, `{"status":"draining","platform":"hermes-agent","profile":"coder","state":"stopped"}`},
	}
	for _, tt := range tests {
		_, h := servedGateway(t, tt.state, up.URL+"/v1")
		rec := serveOne(h, tt.method, tt.path, tt.key)
		body := strings.TrimSpace(rec.Body.String())
		if rec.Code != tt.code || tt.method != "HEAD" && (tt.code == 200 && tt.body[0] == '{' && body != tt.body || !strings.Contains(body, tt.body)) {
			t.Errorf("%s %s while %s = %d %s, want %d %s", tt.method, tt.path, tt.state, rec.Code, body, tt.code, tt.body)
		}
		if tt.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow = %q", tt.method, tt.path, rec.Header().Get("Allow"))
		}
	}
}

// GET /health/detailed: the upstream reachable, the store writable, the
// last upstream error and when, the requests in flight, the drain.
func TestHealthDetailed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte(`{"error":{"message":"the model is down"}}`))
	}))
	defer up.Close()
	detail := func(t *testing.T, h http.Handler) DetailedHealth {
		t.Helper()
		rec := serveOne(h, "GET", "/health/detailed", true)
		var d DetailedHealth
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &d) != nil {
			t.Fatalf("GET /health/detailed = %d %s", rec.Code, rec.Body)
		}
		return d
	}

	g, h := servedGateway(t, StateRunning, up.URL+"/v1")
	d := detail(t, h)
	if d.Status != "ok" || d.Platform != "hermes-agent" || d.GatewayState != StateRunning || d.PID != 4242 || !d.StartedAt.Equal(g.start) ||
		!d.Upstream.Reachable || !d.Upstream.Configured || d.Upstream.LastError != nil || !d.SessionsStore.Writable || d.Draining || d.InFlight != 0 || d.MaxConcurrent == 0 {
		t.Errorf("detailed health of a fresh gateway = %+v", d)
	}
	// An upstream failure is the last error, with its time.
	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 502 {
		t.Fatalf("chat against a failing upstream = %d %s", rec.Code, rec.Body)
	}
	d = detail(t, h)
	if e := d.Upstream.LastError; e == nil || e.Code != "upstream_error" || !strings.Contains(e.Message, "the model is down") || e.At.IsZero() {
		t.Errorf("last upstream error = %+v", e)
	}
	// Draining: still answered, and says so.
	g.ag.Drain()
	g.state.Store(StateDraining)
	if d = detail(t, h); d.Status != "draining" || !d.Draining || d.GatewayState != StateDraining {
		t.Errorf("detailed health while draining = %+v", d)
	}
	// A store that takes no writes, an unreachable upstream: degraded.
	g.store.Close()
	g.state.Store(StateRunning)
	if d = detail(t, h); d.Status != "degraded" || d.SessionsStore.Writable || d.SessionsStore.Error == "" {
		t.Errorf("detailed health with a closed store = %+v", d)
	}
	_, h = servedGateway(t, StateRunning, "http://127.0.0.1:1/v1")
	if d = detail(t, h); d.Status != "degraded" || d.Upstream.Reachable || d.Upstream.Error == "" {
		t.Errorf("detailed health with an unreachable upstream = %+v", d.Upstream)
	}
}

// The README lists every route of the gateway's table.
func TestREADMEListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := servedGateway(t, StateRunning, "http://127.0.0.1:1/v1")
	for _, r := range g.ag.Routes() {
		method, path, _ := strings.Cut(r.Pattern, " ")
		want := "`" + method + " " + strings.ReplaceAll(path, "...}", "}") + "`"
		if !strings.Contains(string(b), want) {
			t.Errorf("README.md does not list the route %s (%s, for %s) as %s", r.Name, r.Pattern, r.Access, want)
		}
	}
}

// The chat turns answered before a stop are in state.db once Run returns
// (the store's queue is written as the gateway stops).
func TestRunWritesQueuedTurns(t *testing.T) {
	g := newProbedGateway(t, "")
	g.start(t)
	const turns = 20
	for i := range turns {
		g.chat(t, "hermes-default", fmt.Sprint("turn ", i))
	}
	g.stop(t)
	st, err := sessions.OpenReadOnly(filepath.Join(g.home, profiles.FileSessions))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.List(context.Background(), sessions.ListOptions{})
	if err != nil || len(list) != turns {
		t.Fatalf("after the stop: %d sessions (%v), want the %d answered", len(list), err, turns)
	}
	for _, s := range list {
		if s.MessageCount != 2 {
			t.Errorf("session %s holds %d messages, want 2", s.ID, s.MessageCount)
		}
	}
}
