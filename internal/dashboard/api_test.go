package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// localHeaders are what the open-local page sends to the API.
func (f *fixture) localHeaders() map[string]string {
	return map[string]string{"Host": "127.0.0.1:9119", "X-Hermes-Session-Token": f.gate.LocalToken()}
}

func TestSessionsAPI(t *testing.T) {
	f := statusFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	ids := func(body map[string]any) []string {
		var out []string
		for _, s := range body["sessions"].([]any) {
			m := s.(map[string]any)
			out = append(out, m["profile"].(string)+"/"+m["id"].(string))
		}
		return out
	}
	tests := []struct {
		query    string
		want     []string
		next     any
		errCount int
	}{
		{"", []string{"default/sess_default_ended", "default/sess_default_active", "coder/sess_coder_active", "default/sess_default_idle"}, nil, 1},
		{"?limit=2", []string{"default/sess_default_ended", "default/sess_default_active"}, 2.0, 1},
		{"?limit=2&offset=2", []string{"coder/sess_coder_active", "default/sess_default_idle"}, nil, 1},
		{"?offset=9", nil, nil, 1},
		{"?profile=coder", []string{"coder/sess_coder_active"}, nil, 0},
	}
	for _, tt := range tests {
		rec := do(h, http.MethodGet, "/api/sessions"+tt.query, f.localHeaders())
		if rec.Code != http.StatusOK {
			t.Errorf("/api/sessions%s = %d: %s", tt.query, rec.Code, rec.Body)
			continue
		}
		body := decode(t, rec.Body.Bytes())
		if got := ids(body); !slices.Equal(got, tt.want) {
			t.Errorf("/api/sessions%s = %q, want %q", tt.query, got, tt.want)
		}
		if got := body["next_offset"]; got != tt.next {
			t.Errorf("/api/sessions%s next_offset = %v, want %v", tt.query, got, tt.next)
		}
		if got := len(body["errors"].([]any)); got != tt.errCount {
			t.Errorf("/api/sessions%s has %d errors, want %d: %v", tt.query, got, tt.errCount, body["errors"])
		}
	}
	for _, bad := range []struct {
		query string
		code  int
	}{{"?profile=nobody", 404}, {"?profile=Bad/Name", 404}, {"?limit=0", 400}, {"?offset=-1", 400}, {"?limit=x", 400}} {
		if rec := do(h, http.MethodGet, "/api/sessions"+bad.query, f.localHeaders()); rec.Code != bad.code {
			t.Errorf("/api/sessions%s = %d, want %d: %s", bad.query, rec.Code, bad.code, rec.Body)
		}
	}

	rec := do(h, http.MethodGet, "/api/sessions/coder/sess_coder_active", f.localHeaders())
	if rec.Code != http.StatusOK {
		t.Fatalf("one session = %d: %s", rec.Code, rec.Body)
	}
	var one struct {
		Session  sessionItem `json:"session"`
		Messages []struct {
			Role, Content string
		} `json:"messages"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil {
		t.Fatal(err)
	}
	if one.Session.ID != "sess_coder_active" || one.Session.Profile != "coder" || !one.Session.Active || one.Session.State != "active" || len(one.Messages) != 2 ||
		one.Messages[0].Role != "user" || one.Messages[1].Content != "answer to refactor" {
		t.Errorf("one session = %s", rec.Body)
	}
	for _, target := range []string{"/api/sessions/coder/sess_nope", "/api/sessions/nobody/sess_coder_active", "/api/sessions/default/sess_coder_active", "/api/sessions/coder/..%2Fx"} {
		if rec := do(h, http.MethodGet, target, f.localHeaders()); rec.Code != http.StatusNotFound {
			t.Errorf("%s = %d, want 404: %s", target, rec.Code, rec.Body)
		}
	}
	if rec := do(h, http.MethodGet, "/api/sessions/writer/sess_x", f.localHeaders()); rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "store_unreadable") {
		t.Errorf("a session of a foreign store = %d %s, want 500 store_unreadable", rec.Code, rec.Body)
	}
}

// TestServicesAPI: the list and the actions go through the control
// socket, and reach the supervisor.
func TestServicesAPI(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	rec := do(h, http.MethodGet, "/api/services", f.localHeaders())
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/services = %d: %s", rec.Code, rec.Body)
	}
	var list struct{ Services []supervise.Status }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range list.Services {
		names = append(names, st.Name)
	}
	if want := []string{"gateway-default", "worker"}; !slices.Equal(names, want) {
		t.Errorf("services = %q, want %q", names, want)
	}

	post := func(target string) *httptest.ResponseRecorder {
		hdr := f.localHeaders()
		hdr["Origin"] = "http://127.0.0.1:9119"
		hdr["Sec-Fetch-Site"] = "same-origin"
		return do(h, http.MethodPost, target, hdr)
	}
	steps := []struct {
		action    string
		service   string
		wantCode  int
		wantState supervise.State
		wantWant  supervise.Want
	}{
		{"start", "gateway-default", 200, supervise.Running, supervise.WantUp},
		{"stop", "worker", 200, supervise.Stopped, supervise.WantDown},
		{"restart", "gateway-default", 200, supervise.Running, supervise.WantUp},
		{"stop", "gateway-default", 200, supervise.Stopped, supervise.WantDown},
		{"start", "nosuch", 404, "", ""},
	}
	for _, st := range steps {
		rec := post("/api/services/" + st.service + "/" + st.action)
		if rec.Code != st.wantCode {
			t.Errorf("%s %s = %d, want %d: %s", st.action, st.service, rec.Code, st.wantCode, rec.Body)
			continue
		}
		if st.wantCode != 200 {
			continue
		}
		got, err := f.sup.Status(st.service)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != st.wantState || got.Want != st.wantWant {
			t.Errorf("after %s %s: supervisor has %s/%s, want %s/%s", st.action, st.service, got.State, got.Want, st.wantState, st.wantWant)
		}
	}
	if got := do(h, http.MethodGet, "/api/services/worker/start", f.localHeaders()).Code; got != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action = %d, want 405", got)
	}
	if !strings.Contains(f.logs.String(), "service=gateway-default action=restart") {
		t.Errorf("the action is not logged:\n%s", f.logs)
	}
}

// TestServicesUnavailable: no supervisor answering is a 503 that says so.
func TestServicesUnavailable(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	f.srv.control = func(context.Context) *control.Client { return control.NewClient(t.TempDir() + "/none.sock") }
	rec := do(f.srv.Handler(), http.MethodGet, "/api/services", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "supervisor_unavailable") {
		t.Errorf("/api/services = %d %s, want 503 supervisor_unavailable", rec.Code, rec.Body)
	}
}

// TestLogStream: the stream delivers the tail, then every line as it is
// appended, and ends when the client goes away.
func TestLogStream(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	entry := func(s string) logpipe.Entry {
		return logpipe.Entry{Time: controltest.Epoch(), Stream: logpipe.Stdout, Line: s}
	}
	if err := f.sup.AppendLog("worker", entry("one"), entry("two")); err != nil {
		t.Fatal(err)
	}
	var active atomic.Int64
	h := f.handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/logs/worker/stream?tail=1", nil)
	req.Host = "127.0.0.1:9119"
	req.Header.Set("X-Hermes-Session-Token", f.gate.LocalToken())
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	next := func() control.LogLine {
		t.Helper()
		ev, err := readEvent(br)
		if err != nil {
			t.Fatal(err)
		}
		if ev.event != "line" {
			t.Fatalf("event %q, want line", ev.event)
		}
		var l control.LogLine
		if err := json.Unmarshal([]byte(ev.data), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := next().Line; got != "two" {
		t.Errorf("tail = %q, want two", got)
	}
	for _, s := range []string{"three", "four"} {
		if err := f.sup.AppendLog("worker", entry(s)); err != nil {
			t.Fatal(err)
		}
		if got := next().Line; got != s {
			t.Errorf("line = %q, want %q", got, s)
		}
	}
	cancel()
	resp.Body.Close()
	// The handler (and its follow of the control socket) ends with the
	// client.
	testenv.Eventually(t, 10*time.Second, "the log streams to end", func() bool { return active.Load() == 0 })

	for _, tt := range []struct {
		target string
		code   int
	}{{"/api/logs/nosuch/stream", 404}, {"/api/logs/worker/stream?tail=-1", 400}} {
		if rec := do(f.handler(), http.MethodGet, tt.target, f.localHeaders()); rec.Code != tt.code {
			t.Errorf("%s = %d, want %d: %s", tt.target, rec.Code, tt.code, rec.Body)
		}
	}
}

// TestRunShutdown: Run serves the gated pipeline, and when its context
// ends it ends the log streams at once and returns nil.
func TestRunShutdown(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/logs/worker/stream", nil)
	req.Header.Set("X-Hermes-Session-Token", f.gate.LocalToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream = %s", resp.Status)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(shutdownGrace + 2*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if d := time.Since(start); d > shutdownGrace/2 {
		t.Errorf("Run took %s to end a log stream; streams must end at once", d)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString(0); err == nil {
		t.Error("the stream is still open")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener is still open")
	}
}
