package dashboard

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestEnvAPI: the list never carries a value; set and delete keep the
// file's comments and order (profiles' own writer) and its mode 0600; a
// name that fails ^[A-Z_][A-Z0-9_]*$ is 400; reveal answers one value and
// is limited; every write and reveal is audited without the value.
func TestEnvAPI(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	hdr := f.localHeaders()
	hdr["Content-Type"] = "application/json"
	path := profiles.EnvPath(profiles.MustParse(f.home, profiles.Default))
	const secret = "sk-or-v1-0123456789abcdef0123456789abcdef"
	writeFile(t, path, "# keys of the default profile\nAPI_SERVER_KEY=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n# the upstream\nOPENROUTER_API_KEY="+secret+"\n")

	rec := do(h, "GET", "/api/env", hdr)
	if rec.Code != 200 || strings.Contains(rec.Body.String(), secret) || strings.Contains(rec.Body.String(), "aaaaaaaaaaaaaaaa") {
		t.Fatalf("GET /api/env = %d %s: it must never carry a value", rec.Code, rec.Body)
	}
	for _, want := range []string{`"key":"API_SERVER_KEY"`, `"is_set":true`, `"redacted_value":"sk-…cdef"`, `"is_password":true`, `"category":"gateway"`, `"description":`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET /api/env lacks %s: %s", want, rec.Body)
		}
	}

	for _, bad := range []string{`{"key":"lower_case","value":"x"}`, `{"key":"1ST","value":"x"}`, `{"key":"A-B","value":"x"}`, `{"key":"","value":"x"}`} {
		if rec := send(h, "PUT", "/api/env", bad, hdr); rec.Code != 400 {
			t.Errorf("PUT %s = %d %s, want 400", bad, rec.Code, rec.Body)
		}
	}
	if rec := send(h, "PUT", "/api/env", `{"key":"NEW_TOKEN","value":"t0ps3cret-value-here"}`, hdr); rec.Code != 200 || strings.Contains(rec.Body.String(), "t0ps3cret") {
		t.Errorf("PUT NEW_TOKEN = %d %s", rec.Code, rec.Body)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "# keys of the default profile\nAPI_SERVER_KEY=") || !strings.Contains(string(b), "# the upstream\nOPENROUTER_API_KEY=") || !strings.Contains(string(b), "NEW_TOKEN=t0ps3cret-value-here") {
		t.Errorf(".env after the PUT:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %v, want 0600", fi.Mode().Perm())
	}
	if rec := send(h, "DELETE", "/api/env", `{"key":"NEW_TOKEN"}`, hdr); rec.Code != 200 {
		t.Errorf("DELETE NEW_TOKEN = %d %s", rec.Code, rec.Body)
	}
	if rec := send(h, "DELETE", "/api/env", `{"key":"NEW_TOKEN"}`, hdr); rec.Code != 404 {
		t.Errorf("DELETE of an unset variable = %d", rec.Code)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "NEW_TOKEN") {
		t.Errorf("NEW_TOKEN is still in .env:\n%s", b)
	}

	rec = send(h, "POST", "/api/env/reveal", `{"key":"OPENROUTER_API_KEY"}`, hdr)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), secret) {
		t.Errorf("reveal = %d %s", rec.Code, rec.Body)
	}
	limited := false
	for i := 0; i < revealsPerPerson+1; i++ {
		if rec := send(h, "POST", "/api/env/reveal", `{"key":"OPENROUTER_API_KEY"}`, hdr); rec.Code == 429 {
			limited = rec.Header().Get("Retry-After") != ""
			break
		}
	}
	if !limited {
		t.Errorf("reveal is not rate-limited after %d", revealsPerPerson)
	}
	logs := f.logs.String()
	for _, want := range []string{"event=env.set", "event=env.unset", "event=env.reveal", "event=env.reveal.limited", "key=OPENROUTER_API_KEY"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(logs, secret) || strings.Contains(logs, "t0ps3cret") {
		t.Errorf("a value reached the log:\n%s", logs)
	}
}

// TestEnvRefusedWhereItMust: open-insecure refuses every write and reveal
// (the list stays); gated needs a login under 5 minutes.
func TestEnvRefusedWhereItMust(t *testing.T) {
	ins := newFixture(t, authgate.OpenInsecure, nil)
	hdr := map[string]string{"Host": "dash.example", "Content-Type": "application/json"}
	for _, c := range []struct{ method, target, body string }{
		{"PUT", "/api/env", `{"key":"X_KEY","value":"v"}`},
		{"DELETE", "/api/env", `{"key":"API_SERVER_KEY"}`},
		{"POST", "/api/env/reveal", `{"key":"API_SERVER_KEY"}`},
	} {
		if rec := send(ins.handler(), c.method, c.target, c.body, hdr); rec.Code != 403 || !strings.Contains(rec.Body.String(), "--insecure") {
			t.Errorf("open-insecure %s %s = %d %s, want 403", c.method, c.target, rec.Code, rec.Body)
		}
	}
	if rec := do(ins.handler(), "GET", "/api/env", hdr); rec.Code != 200 {
		t.Errorf("open-insecure GET /api/env = %d", rec.Code)
	}

	f := newFixture(t, authgate.Gated, nil)
	ts := httptest.NewServer(f.handler())
	defer ts.Close()
	user := signIn(t, ts.URL)
	f.srv.now = func() time.Time { return time.Now().Add(recentLogin + time.Second) }
	req, _ := newJSONRequest("PUT", ts.URL+"/api/env", `{"key":"X_KEY","value":"v"}`, ts.URL)
	resp, err := user.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a .env write 5 minutes after the login = %d, want 403", resp.StatusCode)
	}
	f.srv.now = time.Now
	req, _ = newJSONRequest("PUT", ts.URL+"/api/env", `{"key":"X_KEY","value":"v"}`, ts.URL)
	resp, err = user.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a .env write just after the login = %d, want 200", resp.StatusCode)
	}
}
