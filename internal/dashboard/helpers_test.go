package dashboard

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// testNow is the dashboard's clock in the tests: five minutes after the
// fake supervisor's epoch.
var testNow = controltest.Epoch().Add(5 * time.Minute)

// The test password of the gated gate.
const (
	testUser     = "admin"
	testPassword = "correct horse battery staple"
)

// mapEnv is a hostenv.Env over a map.
func mapEnv(vars map[string]string) hostenv.Env {
	return hostenv.Env{
		Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Exists: func(string) bool { return false },
		Getuid: os.Getuid,
	}
}

// gateFor builds a real gate in mode: gated binds 0.0.0.0 with the password
// provider; open-local binds 127.0.0.1; open-insecure binds 0.0.0.0 with
// --insecure. extra adds environment variables (a public URL).
func gateFor(t *testing.T, mode authgate.Mode, extra map[string]string) *authgate.Gate {
	t.Helper()
	vars := map[string]string{}
	host, insecure := "127.0.0.1", false
	switch mode {
	case authgate.Gated:
		host = "0.0.0.0"
		vars["HERMES_DASHBOARD_BASIC_AUTH_USERNAME"] = testUser
		vars["HERMES_DASHBOARD_BASIC_AUTH_PASSWORD"] = testPassword
	case authgate.OpenInsecure:
		host, insecure = "0.0.0.0", true
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := authgate.FromEnv(mapEnv(vars), host, 9119, insecure)
	if err != nil {
		t.Fatal(err)
	}
	g, err := authgate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g.Mode() != mode {
		t.Fatalf("gate mode = %s, want %s", g.Mode(), mode)
	}
	return g
}

// fixture is a HERMES_HOME with profiles, a fake supervisor on a control
// socket, and a dashboard over both.
type fixture struct {
	home   string
	sup    *controltest.Supervisor
	socket string
	gate   *authgate.Gate
	srv    *Server
	logs   *testenv.Buffer
}

// newFixture makes a home with the default profile and serves a fake
// supervisor (with services gateway-default and worker) for a dashboard in
// mode.
func newFixture(t *testing.T, mode authgate.Mode, extra map[string]string) *fixture {
	t.Helper()
	f := &fixture{home: t.TempDir(), logs: &testenv.Buffer{}}
	writeFile(t, profiles.SOULPath(profiles.MustParse(f.home, profiles.Default)), "default\n")
	writeFile(t, profiles.ConfigPath(profiles.MustParse(f.home, profiles.Default)), "model:\n  name: anthropic/claude-sonnet-4\n  base_url: https://openrouter.ai/api/v1\n  api_key_env: OPENROUTER_API_KEY\ngateway:\n  port: 8642\n")
	f.sup = controltest.NewSupervisor(f.home, 10000, 10000)
	f.socket = controltest.Serve(t, f.sup, f.home, controltest.Options{})
	ctx := context.Background()
	for _, name := range []string{"gateway-default", "worker"} {
		if _, err := f.sup.Register(ctx, supervise.Spec{Name: name, Argv: []string{"/bin/true"}}, name == "worker"); err != nil {
			t.Fatal(err)
		}
	}
	f.gate = gateFor(t, mode, extra)
	srv, err := New(Config{
		Home: f.home, Gate: f.gate,
		Control: func(context.Context) *control.Client { return control.NewClient(f.socket) },
		Env:     mapEnv(nil), Logger: testLogger(f.logs), Now: func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	return f
}

// addProfile creates a named profile (SOUL.md, config.yaml with a port).
func (f *fixture) addProfile(t *testing.T, name string, port int) string {
	t.Helper()
	dir := profiles.MustParse(f.home, name).Dir()
	writeFile(t, filepath.Join(dir, "SOUL.md"), name+"\n")
	writeFile(t, filepath.Join(dir, "config.yaml"), "gateway:\n  port: "+strconv.Itoa(port)+"\nmodel:\n  name: local/"+name+"\n")
	return dir
}

// handler is the dashboard behind its gate, as Run serves it.
func (f *fixture) handler() http.Handler { return f.gate.Handler(f.srv.Handler()) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeState writes a profile's gateway_state.json.
func writeState(t *testing.T, dir string, st map[string]any) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, gateway.StateFile), string(b))
}

// holdLock makes the test process the live gateway of dir: it holds
// gateway.pid's flock until the test ends.
func holdLock(t *testing.T, dir string) {
	t.Helper()
	l, err := gateway.LockPID(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Release() })
}

// turn is one session to record: its id, how long before testNow its
// last turn was, and whether it was ended.
type turn struct {
	id    string
	ago   time.Duration
	title string
	ended bool
}

// writeSessions records sessions in a profile's state.db.
func writeSessions(t *testing.T, dir, profile string, turns ...turn) {
	t.Helper()
	st, err := sessions.Open(filepath.Join(dir, profiles.FileSessions), sessions.Options{Clock: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, tr := range turns {
		err := st.AppendTurn(ctx, sessions.Turn{
			SessionID: tr.id, Profile: profile, Model: "local/" + profile, At: testNow.Add(-tr.ago),
			Messages: []sessions.Message{
				{Role: sessions.RoleUser, Content: tr.title},
				{Role: sessions.RoleAssistant, Content: "answer to " + tr.title},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if tr.ended {
			if err := st.EndSession(ctx, tr.id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeForeignStore leaves a state.db of another application (the
// reference's own tables) in dir.
func writeForeignStore(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, profiles.FileSessions))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE conversations (id TEXT PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
}

// do serves one request through h and returns the recorded response.
func do(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decode decodes a JSON body into a generic value.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return m
}

// normalize makes a body comparable across runs: the home and the token
// become placeholders.
func (f *fixture) normalize(body string) string {
	body = strings.ReplaceAll(body, f.home, "$HERMES_HOME")
	if tok := f.gate.LocalToken(); tok != "" {
		body = strings.ReplaceAll(body, `"`+tok+`"`, `"$TOKEN"`)
	}
	return body
}

// indent re-indents a JSON body for a golden file.
func indent(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// testLogger logs to buf as text.
func testLogger(buf io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

// sseEvent is one server-sent event.
type sseEvent struct{ event, data string }

// readEvent reads the next event (comments are skipped).
func readEvent(br *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.event != "" || ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// client is an HTTP client with a cookie jar, for a server of the test.
func client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn logs in with the password provider on the server at base and
// returns the client that holds the session cookie.
func signIn(t *testing.T, base string) *http.Client {
	t.Helper()
	c := client(t)
	form := url.Values{"username": {testUser}, "password": {testPassword}}
	req, err := http.NewRequest(http.MethodPost, base+"/auth/password-login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password login: %s", resp.Status)
	}
	return c
}
