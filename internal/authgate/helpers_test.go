package authgate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// envMap is a fake environment.
type envMap map[string]string

func (m envMap) env() hostenv.Env {
	return hostenv.Env{Getenv: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

// with returns a copy of m with more variables.
func (m envMap) with(kv ...string) envMap {
	out := envMap{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// passwordEnv is the usual gated configuration of these tests.
var passwordEnv = envMap{EnvUsername: "admin", EnvPassword: "correct horse battery staple"}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
	// delays are the account delays the gate asked for (and did not sleep).
	delays []time.Duration
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.delays...)
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuf collects the gate's JSON log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// events returns the log lines whose msg is event.
func (l *logBuf) events(event string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == event {
			out = append(out, m)
		}
	}
	return out
}

// appMarker is in every answer of a gated app route: it must never appear
// in a refused response.
const appMarker = "GATED-APP-CONTENT"

// testApp is a stand-in for the dashboard: a few routes of each kind, all
// declared to the gate.
func testApp(g *Gate) http.Handler {
	mux := http.NewServeMux()
	add := func(p string, public bool, h http.HandlerFunc) {
		mux.HandleFunc(p, h)
		g.Register(p, public)
	}
	add("GET /api/status", true, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.Identity(r); ok {
			panic("identity set on a public route")
		}
		var names []string
		for _, p := range g.Providers() {
			names = append(names, p.Name)
		}
		writeJSON(w, 200, map[string]any{"version": "test", "mode": g.Mode(), "auth_required": g.Mode() == Gated,
			"auth_providers": names, "gateway_state": "running", "gateway_running": true})
	})
	for _, p := range []string{"/api/config/defaults", "/api/config/schema", "/api/model/info", "/api/dashboard/themes", "/api/dashboard/plugins"} {
		add("GET "+p, true, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"public": r.URL.Path}) })
	}
	gated := func(w http.ResponseWriter, r *http.Request) {
		id, _ := g.Identity(r)
		writeJSON(w, 200, map[string]any{"marker": appMarker, "path": r.URL.Path, "user": id.UserID})
	}
	add("GET /api/sessions", false, gated)
	add("GET /api/sessions/{id}", false, gated)
	add("POST /api/services/{name}/restart", false, gated)
	add("GET /{$}", false, gated)
	add("GET /sessions", false, gated)
	add("GET /assets/{file}", true, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "asset "+r.PathValue("file")) })
	add("GET /favicon.ico", true, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "icon") })
	return mux
}

// testServer is a real dashboard stand-in behind the gate, on loopback TCP.
type testServer struct {
	addr  string
	gate  *Gate
	logs  *logBuf
	clock *fakeClock
}

type serverOpts struct {
	bind     string // the bind the gate is told about (default 0.0.0.0)
	insecure bool
	// publicURL: "self" means http://<listen addr>.
	publicURL string
	tweak     func(*Config)
	// strictLimit keeps the production rate limit; otherwise tests get a
	// generous one (they log in many times from one address).
	strictLimit bool
}

// startGate listens on 127.0.0.1 and serves testApp behind a gate built from
// env. It fails the test if New fails.
func startGate(t *testing.T, env envMap, o serverOpts) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if o.bind == "" {
		o.bind = "0.0.0.0"
	}
	if o.publicURL == "self" {
		env = env.with(EnvPublicURL, "http://"+ln.Addr().String())
	} else if o.publicURL != "" {
		env = env.with(EnvPublicURL, o.publicURL)
	}
	cfg, err := FromEnv(env.env(), o.bind, port, o.insecure)
	if err != nil {
		t.Fatal(err)
	}
	logs, clock := &logBuf{}, newClock()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Now = clock.Now
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	if !o.strictLimit {
		g.limits = newLimiter(time.Millisecond, 1000, maxNetworks)
		g.accounts = newAccountBudget(1000, time.Millisecond, time.Millisecond, maxAccounts)
	}
	// An account's delay is recorded, not slept: the clock is fake.
	g.sleep = func(_ context.Context, d time.Duration) error {
		clock.mu.Lock()
		clock.delays = append(clock.delays, d)
		clock.mu.Unlock()
		return nil
	}
	srv := &http.Server{Handler: g.Handler(testApp(g))}
	g.ConfigureServer(srv)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &testServer{addr: ln.Addr().String(), gate: g, logs: logs, clock: clock}
}

// rawResp is a response read off the wire.
type rawResp struct {
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie
}

func (r *rawResp) String() string {
	return fmt.Sprintf("%d %v %q", r.status, r.header, r.body)
}

// do sends one request with the request line written byte for byte, so
// that no client normalises the target. headers are "Name: value" lines;
// a "Host:" among them replaces the default Host.
func (s *testServer) do(t *testing.T, method, target string, headers []string, body string) *rawResp {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	hasHost := false
	for _, h := range headers {
		if strings.HasPrefix(strings.ToLower(h), "host:") {
			hasHost = true
		}
	}
	if !hasHost {
		fmt.Fprintf(&b, "Host: %s\r\n", s.addr)
	}
	for _, h := range headers {
		fmt.Fprintf(&b, "%s\r\n", h)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	fmt.Fprintf(&b, "Connection: close\r\n\r\n%s", body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: method}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &rawResp{status: resp.StatusCode, header: resp.Header, body: string(data), cookies: resp.Cookies()}
}

func (s *testServer) get(t *testing.T, target string, headers ...string) *rawResp {
	t.Helper()
	return s.do(t, "GET", target, headers, "")
}

// loginPassword logs in through the form and returns the session cookie.
func (s *testServer) loginPassword(t *testing.T, user, pass, next string, headers ...string) (*rawResp, *http.Cookie) {
	t.Helper()
	form := "username=" + urlQ(user) + "&password=" + urlQ(pass)
	if next != "" {
		form += "&next=" + urlQ(next)
	}
	h := append([]string{"Content-Type: application/x-www-form-urlencoded"}, headers...)
	r := s.do(t, "POST", "/auth/password-login", h, form)
	for _, c := range r.cookies {
		if strings.HasSuffix(c.Name, SessionCookie) && c.Value != "" {
			return r, c
		}
	}
	return r, nil
}

func urlQ(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
		}
	}
	return b.String()
}

func cookieHeader(c *http.Cookie) string { return "Cookie: " + c.Name + "=" + c.Value }

// decodeJSON decodes a body that must be a JSON object.
func decodeJSON(t *testing.T, r *rawResp) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r)
	}
	return m
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
