package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/logpipe"
)

// TestGatedFlow drives the gated dashboard as a browser would: the probe
// is public, everything else needs a session; after the password login the
// pages show who is signed in and a sign-out button, a same-origin POST
// reaches the supervisor, a cross-site one does not, the log stream
// follows with the cookie alone, and after the logout the API is closed
// again.
func TestGatedFlow(t *testing.T) {
	f := statusFixture(t, authgate.Gated, nil)
	ts := httptest.NewServer(f.handler())
	defer ts.Close()
	anon := client(t)
	get := func(c *http.Client, path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	post := func(c *http.Client, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	sameOrigin := map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}

	if resp, _ := get(anon, "/api/status"); resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous /api/status = %s, want 200", resp.Status)
	}
	for _, path := range []string{"/api/sessions", "/api/services", "/api/profiles", "/api/logs/worker/stream", "/api/sessions/coder/sess_coder_active"} {
		resp, body := get(anon, path)
		var e map[string]any
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != http.StatusUnauthorized || e["error"] != "unauthenticated" {
			t.Errorf("anonymous %s = %s %s, want 401 unauthenticated", path, resp.Status, body)
		}
	}
	if resp, _ := post(anon, "/api/services/worker/stop", sameOrigin); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous stop = %s, want 401", resp.Status)
	}
	for _, path := range []string{"/", "/sessions", "/logs"} {
		if resp, _ := get(anon, path); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("anonymous %s = %s to %q, want 302 to /login", path, resp.Status, resp.Header.Get("Location"))
		}
	}

	user := signIn(t, ts.URL)
	resp, page := get(user, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/ after login = %s", resp.Status)
	}
	for _, want := range []string{`<span class="user">admin</span>`, `<form method="post" action="/auth/logout"`, `data-action="/api/services/worker/stop"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	if strings.Contains(page, "hermes-session-token") {
		t.Error("the gated page carries the open-local token")
	}
	if resp, body := get(user, "/api/sessions"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "sess_coder_active") {
		t.Errorf("/api/sessions after login = %s %s", resp.Status, body)
	}

	if resp, body := post(user, "/api/services/worker/stop", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site stop = %s %s, want 403", resp.Status, body)
	}
	if st, _ := f.sup.Status("worker"); st.State != "running" {
		t.Errorf("worker is %s after a refused stop", st.State)
	}
	if resp, body := post(user, "/api/services/worker/stop", sameOrigin); resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin stop = %s %s, want 200", resp.Status, body)
	}
	if st, _ := f.sup.Status("worker"); st.State != "stopped" || st.Want != "down" {
		t.Errorf("worker is %s/%s after the stop, want stopped/down", st.State, st.Want)
	}
	if !strings.Contains(f.logs.String(), "by=admin") {
		t.Errorf("the action's log does not name the user:\n%s", f.logs)
	}

	// The log stream follows with the session cookie (EventSource).
	f.sup.AppendLog("worker", logpipe.Entry{Stream: logpipe.Stderr, Line: "gated line"})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/logs/worker/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	sresp, err := user.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := readEvent(bufio.NewReader(sresp.Body))
	if err != nil || ev.event != "line" || !strings.Contains(ev.data, `"line":"gated line"`) || !strings.Contains(ev.data, `"stream":"stderr"`) {
		t.Errorf("stream event = %+v, %v", ev, err)
	}
	cancel()
	sresp.Body.Close()

	if resp, _ := post(user, "/auth/logout", sameOrigin); resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout = %s", resp.Status)
	}
	if resp, _ := get(user, "/api/sessions"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/sessions after logout = %s, want 401", resp.Status)
	}
}

// TestOpenLocalGuards: open-local needs the token on the API (never on the
// probe) and refuses a foreign Host everywhere (DNS rebinding).
func TestOpenLocalGuards(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	local := map[string]string{"Host": "127.0.0.1:9119"}
	tests := []struct {
		target string
		hdr    map[string]string
		want   int
	}{
		{"/api/status", local, 200},
		{"/api/status", map[string]string{"Host": "localhost:9119"}, 200},
		{"/api/services", local, 401},
		{"/api/services", f.localHeaders(), 200},
		{"/api/services", map[string]string{"Host": "127.0.0.1:9119", "X-Hermes-Session-Token": "wrong"}, 401},
		{"/", local, 200},
		{"/api/status", map[string]string{"Host": "rebind.evil.example"}, 400},
		{"/", map[string]string{"Host": "rebind.evil.example"}, 400},
		{"/api/services", map[string]string{"Host": "rebind.evil.example", "X-Hermes-Session-Token": f.gate.LocalToken()}, 400},
	}
	for _, tt := range tests {
		if got := do(h, http.MethodGet, tt.target, tt.hdr).Code; got != tt.want {
			t.Errorf("GET %s with %v = %d, want %d", tt.target, tt.hdr, got, tt.want)
		}
	}
}
