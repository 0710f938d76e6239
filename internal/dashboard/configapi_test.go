package dashboard

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// send serves one request with a body through h.
func send(h http.Handler, method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
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

// cliMessage is what `hermes config set key value` says of a refused value
// on the same file: the message the dashboard must repeat.
func cliMessage(t *testing.T, home, profile, key, value string) string {
	t.Helper()
	c, err := profiles.LoadProfileConfig(profiles.MustParse(home, profile))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Set(key, value)
	if err == nil {
		t.Fatalf("config set %s %q is accepted", key, value)
	}
	return err.Error()
}

// TestConfigAPI: GET /api/config is every key with its value and a
// version; PUT merges the keys given through the same validation as
// hermes config set (same message, nothing written on a refusal), keeps
// comments and unknown keys, and refuses a stale If-Match with 412.
func TestConfigAPI(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	path := profiles.ConfigPath(profiles.MustParse(f.home, profiles.Default))
	const original = "# my notes\nmodel:\n  name: anthropic/claude-sonnet-4 # the one\ngateway:\n  port: 8642\nmine:\n  keep: me\n"
	writeFile(t, path, original)
	hdr := f.localHeaders()

	rec := do(h, "GET", "/api/config", hdr)
	body := decode(t, rec.Body.Bytes())
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" || body["etag"] != etag || body["profile"] != "default" {
		t.Fatalf("GET /api/config = %d %s (ETag %q)", rec.Code, rec.Body, etag)
	}
	cfg := body["config"].(map[string]any)
	if cfg["model.name"] != "anthropic/claude-sonnet-4" || cfg["gateway.port"] != float64(8642) || cfg["gateway.max_concurrent"] != nil {
		t.Errorf("config = %v", cfg)
	}
	if len(body["keys"].([]any)) != len(profiles.Keys()) {
		t.Errorf("keys = %d, the table has %d", len(body["keys"].([]any)), len(profiles.Keys()))
	}

	refusals := []struct{ key, value, json string }{
		{"gateway.port", "70000", `70000`},
		{"gateway.max_concurrent", "many", `"many"`},
		{"model.api_key_env", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD", `"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD"`},
		{"model.api_key_env", "API_SERVER_KEY", `"API_SERVER_KEY"`},
		{"model.base_url", "http://:9998/v1", `"http://:9998/v1"`},
		{"OPENROUTER_API_KEY", "sk-or-test", `"sk-or-test"`},
		{"gateway.prot", "8643", `8643`},
	}
	for _, tt := range refusals {
		want := cliMessage(t, f.home, profiles.Default, tt.key, tt.value)
		rec := send(h, "PUT", "/api/config", `{"config":{"`+tt.key+`":`+tt.json+`}}`, hdr)
		if rec.Code != 400 || decode(t, rec.Body.Bytes())["detail"] != want {
			t.Errorf("PUT %s=%s = %d %s, want 400 with the CLI's %q", tt.key, tt.json, rec.Code, rec.Body, want)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != original {
		t.Fatalf("a refused PUT changed config.yaml:\n%s", b)
	}

	// All or nothing: one bad key, nothing written.
	rec = send(h, "PUT", "/api/config", `{"config":{"gateway.max_concurrent":8,"gateway.port":0}}`, hdr)
	if b, _ := os.ReadFile(path); rec.Code != 400 || string(b) != original {
		t.Errorf("a PUT with one bad key = %d, file:\n%s", rec.Code, b)
	}

	// A stale form: 412, nothing written.
	stale := map[string]string{"If-Match": `"0123"`}
	for k, v := range hdr {
		stale[k] = v
	}
	rec = send(h, "PUT", "/api/config", `{"config":{"gateway.max_concurrent":8}}`, stale)
	if b, _ := os.ReadFile(path); rec.Code != http.StatusPreconditionFailed || string(b) != original {
		t.Errorf("a stale If-Match = %d %s, file:\n%s", rec.Code, rec.Body, b)
	}

	// The version the form was made from: merged, comments and the rest kept.
	fresh := map[string]string{"If-Match": etag}
	for k, v := range hdr {
		fresh[k] = v
	}
	rec = send(h, "PUT", "/api/config", `{"config":{"gateway.max_concurrent":8,"gateway.cors_origins":["https://a.example"],"model.aliases":{"fast":"openai/gpt-4o-mini"}}}`, fresh)
	if rec.Code != 200 {
		t.Fatalf("PUT = %d %s", rec.Code, rec.Body)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"# my notes", "# the one", "keep: me", "max_concurrent: 8", "https://a.example", "fast: openai/gpt-4o-mini", "port: 8642"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config.yaml after the PUT lacks %q:\n%s", want, b)
		}
	}
	if rec.Header().Get("ETag") == etag || !strings.Contains(rec.Body.String(), "gateway restart") {
		t.Errorf("the answer keeps the old version or says nothing of the restart: %s", rec.Body)
	}
	// Without If-Match (the reference's clients): accepted.
	if rec := send(h, "PUT", "/api/config", `{"config":{"gateway.max_concurrent":9}}`, hdr); rec.Code != 200 {
		t.Errorf("PUT without If-Match = %d %s", rec.Code, rec.Body)
	}
	// A profile that does not exist, a body that is not the shape.
	if rec := send(h, "PUT", "/api/config?profile=nobody", `{"config":{}}`, hdr); rec.Code != 404 {
		t.Errorf("PUT ?profile=nobody = %d", rec.Code)
	}
	if rec := send(h, "PUT", "/api/config", `{"gateway.port":1}`, hdr); rec.Code != 400 {
		t.Errorf("PUT without config = %d", rec.Code)
	}
}

// TestConfigModelNeedsRecentLogin: model.* from the browser needs a login
// less than 5 minutes old and is audited; other keys do not; open-insecure
// refuses it; a cross-site PUT never reaches the handler.
func TestConfigModelNeedsRecentLogin(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	ts := httptest.NewServer(f.handler())
	defer ts.Close()
	f.srv.now = time.Now
	user := signIn(t, ts.URL)
	put := func(body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", ts.URL+"/api/config", strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := user.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	same := map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
	if code, body := put(`{"config":{"model.name":"openai/gpt-4o"}}`, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); code != 403 || strings.Contains(body, "recent") {
		t.Errorf("cross-site PUT = %d %s, want the gate's 403", code, body)
	}
	if code, body := put(`{"config":{"model.name":"openai/gpt-4o"}}`, same); code != 200 {
		t.Errorf("model.name just after the login = %d %s", code, body)
	}
	if !strings.Contains(f.logs.String(), "event=config.set") || !strings.Contains(f.logs.String(), "keys=model.name") {
		t.Errorf("the change is not audited:\n%s", f.logs)
	}
	f.srv.now = func() time.Time { return time.Now().Add(recentLogin + time.Second) }
	if code, body := put(`{"config":{"model.name":"openai/gpt-4o-mini"}}`, same); code != 403 || !strings.Contains(body, "recent_login_required") ||
		!strings.Contains(body, `"detail":"changing model.name needs a login less than 5 minutes old; sign in again, then retry"`) || !strings.Contains(body, `"login_url":"/login"`) {
		t.Errorf("model.name 5 minutes after the login = %d %s, want 403 recent_login_required, in one sentence, with the login page", code, body)
	}
	if !strings.Contains(f.logs.String(), "event=config.refused") {
		t.Errorf("the refusal is not audited:\n%s", f.logs)
	}
	if code, body := put(`{"config":{"gateway.max_concurrent":4}}`, same); code != 200 {
		t.Errorf("gateway.max_concurrent 5 minutes after the login = %d %s", code, body)
	}
	if c, _ := profiles.LoadProfileConfig(profiles.MustParse(f.home, profiles.Default)); c != nil {
		if v, _ := c.Get("model.name"); v != "openai/gpt-4o" {
			t.Errorf("model.name = %v after the refused change", v)
		}
	}

	ins := newFixture(t, authgate.OpenInsecure, nil)
	rec := send(ins.handler(), "PUT", "/api/config", `{"config":{"model.base_url":"https://evil.example/v1"}}`, map[string]string{"Host": "dash.example", "Content-Type": "application/json"})
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "--insecure") || strings.Contains(rec.Body.String(), "login_url") {
		t.Errorf("open-insecure model.base_url = %d %s, want 403 without a login page to offer", rec.Code, rec.Body)
	}
}

// TestConfigPage: the page is generated from the table: a field per key,
// its default, its range, and whether a change needs a restart.
func TestConfigPage(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	f.addProfile(t, "coder", 8643)
	rec := do(f.handler(), "GET", "/config?profile=coder", map[string]string{"Host": "127.0.0.1:9119"})
	page := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("GET /config = %d", rec.Code)
	}
	for _, k := range profiles.Keys() {
		if !strings.Contains(page, `id="key-`+k.Name+`"`) || !strings.Contains(page, `<label for="key-`+k.Name+`">`) {
			t.Errorf("the page has no labelled field for %s", k.Name)
		}
	}
	for _, want := range []string{`data-profile="coder"`, `value="8643"`, `min="1"`, "Needs a gateway restart.", "Used from the next request.", `<option value="coder" selected>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if rec := do(f.handler(), "GET", "/config?profile=nobody", map[string]string{"Host": "127.0.0.1:9119"}); rec.Code != 404 {
		t.Errorf("GET /config?profile=nobody = %d", rec.Code)
	}
}

// TestConfigNullUnsets: null returns a key to its default (as hermes
// config unset), keeping the rest of the file.
func TestConfigNullUnsets(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	path := profiles.ConfigPath(profiles.MustParse(f.home, profiles.Default))
	writeFile(t, path, "# notes\ngateway:\n  port: 8642\n  max_concurrent: 7\n")
	rec := send(f.handler(), "PUT", "/api/config", `{"config":{"gateway.max_concurrent":null}}`, f.localHeaders())
	b, _ := os.ReadFile(path)
	if rec.Code != 200 || strings.Contains(string(b), "max_concurrent") || !strings.Contains(string(b), "# notes") || !strings.Contains(string(b), "port: 8642") {
		t.Errorf("null = %d %s; file:\n%s", rec.Code, rec.Body, b)
	}
	if rec := send(f.handler(), "PUT", "/api/config", `{"config":{"no.such_key":null}}`, f.localHeaders()); rec.Code != 400 {
		t.Errorf("null of an unknown key = %d, want 400", rec.Code)
	}
}
