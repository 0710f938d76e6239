package authgate

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// stubProvider is the reference's test provider (scenario 108): an OAuth
// provider whose IdP is imaginary. code "stub_code" logs in; any other code
// is refused; down makes it unreachable.
type stubProvider struct {
	name string
	down bool
}

func (*stubProvider) sealed() {}
func (s *stubProvider) Info() ProviderInfo {
	return ProviderInfo{Name: s.name, DisplayName: "Stub " + s.name, Kind: KindOAuth}
}
func (s *stubProvider) issuer() string { return "https://stub.invalid" }
func (s *stubProvider) authURL(_ context.Context, f *flow, redirectURI string) (string, error) {
	if s.down {
		return "", failf(reasonUnreachable, "stub %s is down", s.name)
	}
	return "https://stub.invalid/authorize?" + url.Values{"state": {f.state}, "redirect_uri": {redirectURI}}.Encode(), nil
}
func (s *stubProvider) finish(_ context.Context, f *flow, code, _ string) (Identity, error) {
	if s.down {
		return Identity{}, failf(reasonUnreachable, "stub %s is down", s.name)
	}
	if code != "stub_code" {
		return Identity{}, failf(reasonInvalidCode, "stub: bad code")
	}
	return Identity{UserID: "stub-user", Email: "stub@example.com", DisplayName: "Stub User", OrgID: "org-1", Provider: s.name}, nil
}

func withStubs(stubs ...*stubProvider) serverOpts {
	return serverOpts{tweak: func(c *Config) {
		for _, s := range stubs {
			c.Providers = append(c.Providers, s)
		}
	}}
}

// startOAuth begins a login and returns the state the IdP would echo and
// the flow cookie.
func (s *testServer) startOAuth(t *testing.T, provider, next string, headers ...string) (string, *http.Cookie) {
	t.Helper()
	target := "/auth/login?provider=" + urlQ(provider)
	if next != "" {
		target += "&next=" + urlQ(next)
	}
	r := s.get(t, target, headers...)
	if r.status != http.StatusFound {
		t.Fatalf("auth/login: %s", r)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	var flow *http.Cookie
	for _, c := range r.cookies {
		if strings.HasSuffix(c.Name, FlowCookie) {
			flow = c
		}
	}
	if flow == nil || loc.Query().Get("state") == "" {
		t.Fatalf("auth/login set no flow cookie or no state: %s", r)
	}
	return loc.Query().Get("state"), flow
}

func sessionOf(r *rawResp) *http.Cookie {
	for _, c := range r.cookies {
		if strings.HasSuffix(c.Name, SessionCookie) && c.Value != "" {
			return c
		}
	}
	return nil
}

// Scenarios 103-113 of the reference's acceptance suite, adapted.
func TestReferenceScenarios(t *testing.T) {
	s := startGate(t, envMap{}, withStubs(&stubProvider{name: "stub"}))

	t.Run("103 status is public under the gate", func(t *testing.T) {
		r := s.get(t, "/api/status")
		m := decodeJSON(t, r)
		if r.status != 200 || m["auth_required"] != true || m["version"] == nil || m["gateway_state"] == nil {
			t.Errorf("%s", r)
		}
		if len(r.cookies) != 0 {
			t.Errorf("a public route set a cookie: %v", r.cookies)
		}
	})
	t.Run("104 auth_providers", func(t *testing.T) {
		if got := decodeJSON(t, s.get(t, "/api/status"))["auth_providers"]; !slices.Equal(toStrings(got), []string{"stub"}) {
			t.Errorf("auth_providers = %v", got)
		}
	})
	t.Run("105 loopback is open-local", func(t *testing.T) {
		l := startGate(t, envMap{}, serverOpts{bind: "127.0.0.1"})
		if m := decodeJSON(t, l.get(t, "/api/status")); m["auth_required"] != false || m["mode"] != "open-local" {
			t.Errorf("%v", m)
		}
		tok := l.gate.LocalToken()
		if len(tok) != 43 {
			t.Fatalf("LocalToken = %q", tok)
		}
		for _, c := range []struct {
			h      []string
			want   int
			reason string
		}{
			{nil, 401, "no_token"},
			{[]string{"X-Hermes-Session-Token: " + strings.Repeat("x", 43)}, 401, "bad_token"},
			{[]string{"X-Hermes-Session-Token: " + tok[:42]}, 401, "bad_token"},
			{[]string{"X-Hermes-Session-Token: " + tok}, 200, ""},
			{[]string{"Authorization: Bearer " + tok}, 200, ""},
		} {
			r := l.do(t, "GET", "/api/sessions", c.h, "")
			if r.status != c.want || (c.reason != "" && decodeJSON(t, r)["reason"] != c.reason) {
				t.Errorf("%v: %s", c.h, r)
			}
		}
		// Pages need no token (they carry it); the gate's login routes are inert.
		if r := l.get(t, "/sessions"); r.status != 200 {
			t.Errorf("open-local page: %s", r)
		}
		if r := l.get(t, "/api/auth/providers"); r.status != 503 {
			t.Errorf("open-local providers: %s", r)
		}
		if l.gate.Providers() == nil || len(l.gate.Providers()) != 0 {
			t.Errorf("open-local Providers() = %v", l.gate.Providers())
		}
	})
	t.Run("106 the other public API paths", func(t *testing.T) {
		for _, p := range []string{"/api/config/defaults", "/api/config/schema", "/api/model/info", "/api/dashboard/themes", "/api/dashboard/plugins"} {
			for _, m := range []string{"GET", "HEAD"} {
				r := s.do(t, m, p, nil, "")
				if r.status != 200 || strings.Contains(r.header.Get("Location"), "/login") {
					t.Errorf("%s %s: %s", m, p, r)
				}
			}
		}
	})
	t.Run("107 pages, assets, login page, providers", func(t *testing.T) {
		r := s.get(t, "/sessions?tab=2")
		if r.status != 302 || r.header.Get("Location") != "/login?next=%2Fsessions%3Ftab%3D2" {
			t.Errorf("page: %s", r)
		}
		if r := s.get(t, "/"); r.status != 302 || r.header.Get("Location") != "/login?next=%2F" {
			t.Errorf("root: %s", r)
		}
		if r := s.get(t, "/assets/app.js"); r.status != 200 || r.body != "asset app.js" {
			t.Errorf("asset: %s", r)
		}
		r = s.get(t, "/login?next=/sessions")
		if r.status != 200 || !strings.Contains(r.body, "Sign in with Stub stub") || !strings.Contains(r.body, `/auth/login?next=%2Fsessions&amp;provider=stub`) {
			t.Errorf("login page: %s", r)
		}
		if !strings.Contains(r.header.Get("Cache-Control"), "no-store") || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("login page headers: %v", r.header)
		}
		m := decodeJSON(t, s.get(t, "/api/auth/providers"))
		ps, _ := m["providers"].([]any)
		if len(ps) != 1 || ps[0].(map[string]any)["name"] != "stub" || ps[0].(map[string]any)["display_name"] != "Stub stub" {
			t.Errorf("providers: %v", m)
		}
	})
	t.Run("108 full login round trip", func(t *testing.T) {
		state, flow := s.startOAuth(t, "stub", "/sessions?tab=1")
		if flow.Path != "/auth/" || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge != 600 {
			t.Errorf("flow cookie %+v", flow)
		}
		r := s.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow))
		c := sessionOf(r)
		if r.status != 302 || r.header.Get("Location") != "/sessions?tab=1" || c == nil {
			t.Fatalf("callback: %s", r)
		}
		if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 || !strings.Contains(r.body, "stub-user") {
			t.Errorf("gated API after login: %s", r)
		}
		// The callback is single use: a replay is refused.
		if r := s.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow)); r.status != 400 || sessionOf(r) != nil {
			t.Errorf("replayed callback: %s", r)
		}
	})
	t.Run("109 callback refusals", func(t *testing.T) {
		state, flow := s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?code=BAD_CODE&state="+state, cookieHeader(flow)); r.status != 400 || sessionOf(r) != nil {
			t.Errorf("bad code: %s", r)
		}
		state, _ = s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?code=stub_code&state="+state); r.status != 400 || !strings.Contains(r.body, "Missing login state cookie") {
			t.Errorf("no flow cookie: %s", r)
		}
		_, flow = s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?code=stub_code&state=wrong", cookieHeader(flow)); r.status != 400 || !strings.Contains(r.body, "state mismatch") {
			t.Errorf("state mismatch: %s", r)
		}
		_, flow = s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?code=stub_code", cookieHeader(flow)); r.status != 400 {
			t.Errorf("no state: %s", r)
		}
		state, flow = s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?error=access_denied&state="+state, cookieHeader(flow)); r.status != 400 {
			t.Errorf("IdP error: %s", r)
		}
		state, flow = s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?code=stub_code&iss=https%3A%2F%2Fevil.example&state="+state, cookieHeader(flow)); r.status != 400 {
			t.Errorf("issuer mix-up: %s", r)
		}
		state, flow = s.startOAuth(t, "stub", "")
		s.clock.Advance(flowTTL + time.Second)
		if r := s.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow)); r.status != 400 {
			t.Errorf("expired flow: %s", r)
		}
		state, flow = s.startOAuth(t, "stub", "")
		if r := s.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow), cookieHeader(flow)); r.status != 400 {
			t.Errorf("two flow cookies: %s", r)
		}
		if r := s.get(t, "/auth/login?provider=nope"); r.status != 404 || strings.Contains(r.body, "nope") {
			t.Errorf("unknown provider: %s", r)
		}
		for _, e := range s.logs.events("auth.login.failure") {
			if e["reason"] == "" {
				t.Errorf("failure without a reason: %v", e)
			}
		}
	})
	t.Run("110 the 401 envelope", func(t *testing.T) {
		r := s.get(t, "/api/sessions")
		m := decodeJSON(t, r)
		if r.status != 401 || m["error"] != "unauthenticated" || m["reason"] != "no_cookie" || m["login_url"] != "/login" || m["detail"] == nil {
			t.Errorf("no cookie: %s", r)
		}
		r = s.get(t, "/api/sessions", "Cookie: hermes_session=garbage")
		m = decodeJSON(t, r)
		if r.status != 401 || m["error"] != "session_expired" || m["reason"] != "invalid_or_expired_session" || len(r.cookies) != 1 || r.cookies[0].MaxAge != -1 {
			t.Errorf("garbage cookie: %s", r)
		}
		state, flow := s.startOAuth(t, "stub", "")
		c := sessionOf(s.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow)))
		s.clock.Advance(DefaultIdleTimeout + time.Second)
		r = s.get(t, "/api/sessions", cookieHeader(c))
		if r.status != 401 || decodeJSON(t, r)["error"] != "session_expired" || len(r.cookies) != 1 {
			t.Errorf("dead cookie: %s", r)
		}
	})
	t.Run("111 me", func(t *testing.T) {
		if r := s.get(t, "/api/auth/me"); r.status != 401 {
			t.Errorf("me without a cookie: %s", r)
		}
		state, flow := s.startOAuth(t, "stub", "")
		c := sessionOf(s.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow)))
		m := decodeJSON(t, s.get(t, "/api/auth/me", cookieHeader(c)))
		want := map[string]any{"user_id": "stub-user", "email": "stub@example.com", "display_name": "Stub User", "org_id": "org-1", "provider": "stub"}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("me[%s] = %v, want %v", k, m[k], v)
			}
		}
		if exp, _ := m["expires_at"].(float64); int64(exp) != s.clock.Now().Add(DefaultIdleTimeout).Unix() {
			t.Errorf("expires_at = %v", m["expires_at"])
		}
	})
	t.Run("112 zero providers refuse", func(t *testing.T) {
		_, err := New(Config{BindHost: "0.0.0.0", BindPort: 9119})
		var re *RefuseError
		if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), "Refusing to bind dashboard to 0.0.0.0") {
			t.Errorf("New = %v", err)
		}
	})
	t.Run("113 an unreachable provider", func(t *testing.T) {
		m := startGate(t, envMap{}, withStubs(&stubProvider{name: "up"}, &stubProvider{name: "down", down: true}))
		state, flow := m.startOAuth(t, "up", "")
		c := sessionOf(m.get(t, "/auth/callback?code=stub_code&state="+state, cookieHeader(flow)))
		r := m.get(t, "/auth/login?provider=down", cookieHeader(c))
		if r.status != 503 || !strings.Contains(r.body, "unreachable") || !strings.Contains(r.body, "Try again") {
			t.Errorf("down provider: %s", r)
		}
		if len(r.cookies) != 0 {
			t.Errorf("a 503 touched the cookies: %v", r.cookies)
		}
		if r := m.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 {
			t.Errorf("the session did not survive the other provider's outage: %s", r)
		}
		if r := m.get(t, "/auth/login?provider=up"); r.status != 302 {
			t.Errorf("the reachable provider: %s", r)
		}
	})
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestOpenInsecure: no login, but the Host check (with a public URL) and
// the cross-origin protection still apply; the login routes are inert.
func TestOpenInsecure(t *testing.T) {
	s := startGate(t, envMap{}, serverOpts{insecure: true, publicURL: "https://dash.example.com"})
	if s.gate.Mode() != OpenInsecure || s.gate.LocalToken() != "" {
		t.Fatalf("mode %s, token %q", s.gate.Mode(), s.gate.LocalToken())
	}
	h := "Host: dash.example.com"
	if r := s.get(t, "/api/sessions", h); r.status != 200 || !strings.Contains(r.body, appMarker) {
		t.Errorf("open API: %s", r)
	}
	if r := s.get(t, "/sessions", "Host: evil.com"); r.status != 302 || r.header.Get("Location") != "https://dash.example.com/sessions" {
		t.Errorf("foreign Host: %s", r)
	}
	if r := s.do(t, "POST", "/api/services/x/restart", []string{h, "Sec-Fetch-Site: cross-site"}, ""); r.status != 403 {
		t.Errorf("cross-site POST: %s", r)
	}
	if r := s.get(t, "/api/auth/me", h); r.status != 404 {
		t.Errorf("me: %s", r)
	}
	if r := s.get(t, "/auth/login?provider=password", h); r.status != 404 {
		t.Errorf("auth/login: %s", r)
	}
	if r := s.get(t, "/login", h); r.status != 200 || !strings.Contains(r.body, "does not need a login") {
		t.Errorf("login page: %s", r)
	}
	if w := s.logs.events("auth.mode"); len(w) != 1 || w[0]["level"] != "WARN" || w[0]["public_url"] != "https://dash.example.com" {
		t.Errorf("mode line: %v", w)
	}
}

// TestPublicRoutesCarryNoIdentity: a signed-in user's request to a public
// route is served without reading the session (testApp panics if the
// identity is set there).
func TestPublicRoutesCarryNoIdentity(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	_, c := s.loginPassword(t, "admin", thePassword, "")
	if r := s.get(t, "/api/status", cookieHeader(c)); r.status != 200 || len(r.cookies) != 0 {
		t.Errorf("status with a session: %s", r)
	}
	if r := s.get(t, "/api/status", "Cookie: hermes_session=garbage"); r.status != 200 || len(r.cookies) != 0 {
		t.Errorf("status with a bad cookie: %s", r)
	}
}

func TestRunSweepsAndStops(t *testing.T) {
	g := newTestGate(t, passwordEnv, "0.0.0.0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
