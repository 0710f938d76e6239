package agent

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// logLines are the JSON records of an access log.
func logLines(t *testing.T, buf *testenv.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// The access log: one line per request, route names from the table
// (never the raw path), status, duration, bytes, session, the model sent
// and the upstream's, the upstream's time, the client; never a key, a
// header value or a body. The Exchange reaches Config.Observe.
func TestAccessLog(t *testing.T) {
	var buf testenv.Buffer
	var mu sync.Mutex
	var seen []Exchange
	p := newProfile(t, profileOpts{config: aliasConfig + "gateway: {cors_origins: ['https://app.example']}\n", mod: func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		c.Observe = func(ex *Exchange) {
			mu.Lock()
			seen = append(seen, *ex)
			mu.Unlock()
		}
	}})
	const secretText = "the user's private words"
	const secretHeader = "header-value-never-logged"
	calls := []struct {
		method, path, body string
		hdr                []string
	}{
		{"POST", "/v1/chat/completions", chatBody("gpt-4o", false, user(secretText)), []string{"X-Custom", secretHeader}},
		{"POST", "/v1/chat/completions", chatBody("hermes-agent", true, user(secretText)), []string{SessionHeader, "sess-given"}},
		{"GET", "/v1/models", "", nil},
		{"GET", "/v1/nothing/" + secretHeader, "", nil},
		{"POST", "/v1/models", "", nil},
		{"GET", "/v1/models", "", []string{"Authorization", "Bearer " + upstreamKey}},
		{"OPTIONS", "/v1/chat/completions", "", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "POST"}},
		{"GET", "/v1/responses/resp_" + secretHeader + "/input_items", "", nil},
	}
	for _, c := range calls {
		resp, _ := p.call(t, c.method, c.path, c.body, c.hdr...)
		resp.Body.Close()
	}
	lines := logLines(t, &buf)
	if len(lines) != len(calls) {
		t.Fatalf("%d access log lines for %d requests:\n%s", len(lines), len(calls), buf.String())
	}
	want := []struct {
		route  string
		status float64
		model  string
		up     string
	}{
		{"chat_completions", 200, "gpt-4o", "big-model"},
		{"chat_completions", 200, "hermes-agent", testModel},
		{"models", 200, "", ""},
		{"unknown", 404, "", ""},
		{"models", 405, "", ""},
		{"models", 401, "", ""},
		{"chat_completions", 204, "", ""},
		{"response_input_items", 404, "", ""},
	}
	for i, w := range want {
		l := lines[i]
		if l["route"] != w.route || l["status"] != w.status || l["method"] != calls[i].method {
			t.Errorf("line %d: %v, want route %s status %v", i, l, w.route, w.status)
		}
		if w.model != "" && (l["model"] != w.model || l["upstream_model"] != w.up || l["upstream"] == nil) {
			t.Errorf("line %d: model %v upstream_model %v upstream %v, want %s, %s and the upstream's time", i, l["model"], l["upstream_model"], l["upstream"], w.model, w.up)
		}
		if l["client"] != "127.0.0.1" || l["duration"] == nil || l["bytes_out"] == nil || l["bytes_in"] == nil {
			t.Errorf("line %d lacks the client, duration or bytes: %v", i, l)
		}
	}
	if lines[0]["session"] == nil || lines[1]["session"] != "sess-given" {
		t.Errorf("sessions logged %v and %v, want the answer's", lines[0]["session"], lines[1]["session"])
	}
	if lines[0]["bytes_in"].(float64) < 50 || lines[0]["bytes_out"].(float64) < 50 {
		t.Errorf("bytes of the first request: %v in, %v out", lines[0]["bytes_in"], lines[0]["bytes_out"])
	}
	if lines[5]["code"] != "invalid_api_key" || lines[3]["code"] != "unknown_endpoint" {
		t.Errorf("error codes logged: %v, %v", lines[5]["code"], lines[3]["code"])
	}
	for _, secret := range []string{secretText, secretHeader, testKey, upstreamKey, "/v1/"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, buf.String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(calls) || seen[0].Route != "chat_completions" || seen[0].UpstreamModel != "big-model" || seen[0].Upstream <= 0 || seen[0].Status != 200 {
		t.Errorf("Observe saw %+v", seen)
	}
}

// A name a client chose reaches the log only in a form that keeps the log
// one line per request.
func TestLogSafe(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"gpt-4o", "gpt-4o"},
		{"openai/gpt-4o mini", "openai/gpt-4o mini"},
		{"a\nb", `"a\nb"`},
		{"\xff", `"\xff"`},
		{strings.Repeat("x", 150), strings.Repeat("x", 100) + "…"},
	} {
		if got := logSafe(tt.in); got != tt.want {
			t.Errorf("logSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The gateway's own routes join the table: named, behind the same access
// log, with their access: a Public route is answered without the key and
// while draining, a Probe route needs the key and is answered while
// draining and however busy, an API route is refused while draining.
func TestRoutesAccess(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	var buf testenv.Buffer
	p := newProfile(t, profileOpts{mod: func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		c.Routes = []Route{
			{Name: "open", Pattern: "GET /open", Access: Public, Handler: ok},
			{Name: "probe", Pattern: "GET /probe", Access: Probe, Handler: ok},
			{Name: "api", Pattern: "GET /api", Access: API, Handler: ok},
		}
	}})
	for _, tt := range []struct {
		path     string
		key      bool
		draining bool
		want     int
	}{
		{"/open", false, false, 200},
		{"/open", false, true, 200},
		{"/probe", false, false, 401},
		{"/probe", true, false, 200},
		{"/probe", true, true, 200},
		{"/api", true, false, 200},
		{"/api", false, false, 401},
		{"/api", true, true, 503},
	} {
		if tt.draining {
			p.agent.draining.Store(true)
		}
		hdr := []string{}
		if !tt.key {
			hdr = []string{"Authorization", ""}
		}
		resp, body := p.call(t, "GET", tt.path, "", hdr...)
		p.agent.draining.Store(false)
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s key=%v draining=%v: %d %s, want %d", tt.path, tt.key, tt.draining, resp.StatusCode, body, tt.want)
		}
	}
	for _, l := range logLines(t, &buf) {
		if r := l["route"]; r != "open" && r != "probe" && r != "api" {
			t.Errorf("a route of the gateway logged as %v", r)
		}
	}
	var names []string
	for _, r := range p.agent.Routes() {
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "open probe api capabilities models model chat_completions responses response response_delete response_input_items sessions session session_update session_delete session_export"; got != want {
		t.Errorf("route table = %s, want %s", got, want)
	}

	for _, bad := range [][]Route{
		{{Name: "models", Pattern: "GET /x", Handler: ok}},
		{{Name: "", Pattern: "GET /x", Handler: ok}},
		{{Name: "x", Pattern: "GET /x"}},
		{{Name: "x", Pattern: "GET /v1/models", Handler: ok}},
		{{Name: "x", Pattern: "NOT A PATTERN {", Handler: ok}},
	} {
		dir := p.dir
		if _, err := New(Config{Profile: "coder", Dir: dir, Routes: bad}); err == nil {
			t.Errorf("New accepted the routes %+v", bad)
		}
	}
}

// GET /v1/capabilities: the reference's keys, behind the key.
func TestCapabilities(t *testing.T) {
	for _, noDB := range []bool{false, true} {
		p := newProfile(t, profileOpts{noDB: noDB})
		resp, body := p.call(t, "GET", "/v1/capabilities", "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var doc struct {
			Object   string `json:"object"`
			Platform string `json:"platform"`
			Model    string `json:"model"`
			Auth     struct {
				Type     string `json:"type"`
				Required bool   `json:"required"`
			} `json:"auth"`
			Features  map[string]bool     `json:"features"`
			Endpoints map[string]endpoint `json:"endpoints"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Object != "hermes.api_server.capabilities" || doc.Platform != "hermes-agent" || doc.Model != "hermes-coder" || doc.Auth.Type != "bearer" || !doc.Auth.Required {
			t.Errorf("capabilities = %s", body)
		}
		stored := !noDB
		want := map[string]bool{"chat_completions": true, "chat_completions_streaming": true, "responses_api": stored, "responses_streaming": stored, "sessions": stored}
		if !maps.Equal(doc.Features, want) {
			t.Errorf("features = %v, want %v", doc.Features, want)
		}
		if e := doc.Endpoints["response_input_items"]; e.Method != "GET" || e.Path != "/v1/responses/{response_id}/input_items" {
			t.Errorf("endpoints = %v", doc.Endpoints)
		}
		if e := doc.Endpoints["model"]; e.Path != "/v1/models/{model}" {
			t.Errorf("the model endpoint's path = %q", e.Path)
		}
	}
}
