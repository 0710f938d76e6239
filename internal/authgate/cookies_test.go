package authgate

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func setCookieLine(r *rawResp, prefix string) string {
	for _, l := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestCookieAttributes: names and attributes over plain HTTP, HTTPS at the
// root and HTTPS under a prefix, set at login and cleared (same attributes)
// at logout.
func TestCookieAttributes(t *testing.T) {
	for _, c := range []struct {
		name      string
		opts      serverOpts
		host      string
		headers   []string
		cookie    string // the expected Set-Cookie line with <id> for the value
		cleared   string
		landing   string
		logoutLoc string
	}{
		{
			name: "plain http", opts: serverOpts{},
			cookie:  "hermes_session=<id>; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax",
			cleared: "hermes_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax", landing: "/", logoutLoc: "/login",
		},
		{
			name: "https at the root", opts: serverOpts{publicURL: "https://dash.example.com"}, host: "dash.example.com",
			cookie:  "__Host-hermes_session=<id>; Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Lax",
			cleared: "__Host-hermes_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax", landing: "/", logoutLoc: "/login",
		},
		{
			name: "https under a prefix", opts: serverOpts{publicURL: "https://dash.example.com/hermes/"}, host: "dash.example.com",
			cookie:  "__Secure-hermes_session=<id>; Path=/hermes/; Max-Age=43200; HttpOnly; Secure; SameSite=Lax",
			cleared: "__Secure-hermes_session=; Path=/hermes/; Max-Age=0; HttpOnly; Secure; SameSite=Lax", landing: "/hermes/", logoutLoc: "/hermes/login",
		},
		{
			name: "http under a prefix", opts: serverOpts{publicURL: "http://10.0.0.5:9119/hermes"}, host: "10.0.0.5:9119",
			cookie:  "hermes_session=<id>; Path=/hermes/; Max-Age=43200; HttpOnly; SameSite=Lax",
			cleared: "hermes_session=; Path=/hermes/; Max-Age=0; HttpOnly; SameSite=Lax", landing: "/hermes/", logoutLoc: "/hermes/login",
		},
		{
			name: "https from a trusted proxy", opts: serverOpts{tweak: trust("127.0.0.1/32")}, headers: []string{"X-Forwarded-Proto: https"},
			cookie:  "__Host-hermes_session=<id>; Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Lax",
			cleared: "__Host-hermes_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax", landing: "/", logoutLoc: "/login",
		},
		{
			name: "https claimed by an untrusted peer", opts: serverOpts{tweak: trust("10.0.0.0/8")}, headers: []string{"X-Forwarded-Proto: https"},
			cookie:  "hermes_session=<id>; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax",
			cleared: "hermes_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax", landing: "/", logoutLoc: "/login",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startGate(t, passwordEnv, c.opts)
			h := append([]string{}, c.headers...)
			if c.host != "" {
				h = append(h, "Host: "+c.host)
			}
			r, sc := s.loginPassword(t, "admin", "correct horse battery staple", "", h...)
			if sc == nil {
				t.Fatalf("login: %s", r)
			}
			if got, want := setCookieLine(r, sc.Name+"="), strings.Replace(c.cookie, "<id>", sc.Value, 1); got != want {
				t.Errorf("Set-Cookie\n got %s\nwant %s", got, want)
			}
			if r.status != http.StatusSeeOther || r.header.Get("Location") != c.landing {
				t.Errorf("landing: %s", r)
			}
			if r := s.do(t, "GET", "/api/sessions", append([]string{cookieHeader(sc)}, h...), ""); r.status != 200 {
				t.Fatalf("session: %s", r)
			}
			r = s.do(t, "POST", "/auth/logout", append([]string{cookieHeader(sc)}, h...), "")
			if got := setCookieLine(r, sc.Name+"="); got != c.cleared {
				t.Errorf("cleared\n got %s\nwant %s", got, c.cleared)
			}
			if r.status != http.StatusSeeOther || r.header.Get("Location") != c.logoutLoc {
				t.Errorf("logout: %s", r)
			}
			if r := s.do(t, "GET", "/api/sessions", append([]string{cookieHeader(sc)}, h...), ""); r.status != 401 {
				t.Errorf("session alive after logout: %s", r)
			}
			if e := s.logs.events("auth.logout"); len(e) != 1 {
				t.Errorf("logout audit lines: %v", e)
			}
		})
	}
}

func trust(cidrs string) func(*Config) {
	return func(c *Config) {
		ps, err := ParseTrustedProxies(cidrs)
		if err != nil {
			panic(err)
		}
		c.TrustedProxies = ps
	}
}

// TestNewIDAtLogin: every login issues a fresh id and ends the session the
// browser carried.
func TestNewIDAtLogin(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	_, a := s.loginPassword(t, "admin", "correct horse battery staple", "")
	_, b := s.loginPassword(t, "admin", "correct horse battery staple", "", cookieHeader(a))
	if a == nil || b == nil || a.Value == b.Value {
		t.Fatalf("ids %v %v", a, b)
	}
	if r := s.get(t, "/api/sessions", cookieHeader(a)); r.status != 401 {
		t.Errorf("the previous session survived the new login: %s", r)
	}
	if r := s.get(t, "/api/sessions", cookieHeader(b)); r.status != 200 {
		t.Errorf("new session: %s", r)
	}
	if n := s.gate.sessions.len(); n != 1 {
		t.Errorf("%d sessions in the store, want 1", n)
	}
}

// TestSessionExpiry: idle and absolute expiry on a fake clock.
func TestSessionExpiry(t *testing.T) {
	opts := serverOpts{tweak: func(c *Config) { c.IdleTimeout, c.AbsoluteTimeout = time.Hour, 3*time.Hour }}
	t.Run("idle", func(t *testing.T) {
		s := startGate(t, passwordEnv, opts)
		_, c := s.loginPassword(t, "admin", "correct horse battery staple", "")
		for i := 0; i < 2; i++ {
			s.clock.Advance(time.Hour - time.Second)
			if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 {
				t.Fatalf("used within the idle timeout: %s", r)
			}
		}
		s.clock.Advance(time.Hour)
		if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 401 || decodeJSON(t, r)["reason"] != "invalid_or_expired_session" {
			t.Errorf("idle session: %s", r)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		s := startGate(t, passwordEnv, opts)
		_, c := s.loginPassword(t, "admin", "correct horse battery staple", "")
		for i := 0; i < 5; i++ {
			s.clock.Advance(30 * time.Minute)
			if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 {
				t.Fatalf("at %d min: %s", 30*(i+1), r)
			}
		}
		m := decodeJSON(t, s.get(t, "/api/auth/me", cookieHeader(c)))
		if exp, _ := m["expires_at"].(float64); int64(exp) != s.clock.Now().Add(30*time.Minute).Unix() {
			t.Errorf("expires_at %v is not the absolute expiry", m["expires_at"])
		}
		s.clock.Advance(30 * time.Minute)
		if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 401 {
			t.Errorf("past the absolute timeout: %s", r)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		s := startGate(t, passwordEnv, opts)
		s.loginPassword(t, "admin", "correct horse battery staple", "")
		s.clock.Advance(2 * time.Hour)
		s.gate.sessions.sweep(s.clock.Now())
		if n := s.gate.sessions.len(); n != 0 {
			t.Errorf("%d sessions after the sweep", n)
		}
	})
}

// TestFlowCookie: over HTTPS the flow cookie is __Host-hermes_flow with
// Path=/, at the root and under a path prefix alike (a sibling host cannot
// plant a __Host- cookie), set at /auth/login and cleared with the same
// attributes at the callback; over plain HTTP it stays hermes_flow with
// Path=<prefix>/auth/. A planted second cookie of the name is refused.
func TestFlowCookie(t *testing.T) {
	for _, c := range []struct {
		name, public, host, set, cleared string
	}{
		{"https at the root", "https://dash.example.com", "dash.example.com",
			"__Host-hermes_flow=<id>; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax",
			"__Host-hermes_flow=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"},
		{"https under a prefix", "https://dash.example.com/hermes", "dash.example.com",
			"__Host-hermes_flow=<id>; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax",
			"__Host-hermes_flow=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"},
		{"http under a prefix", "http://10.0.0.5:9119/hermes", "10.0.0.5:9119",
			"hermes_flow=<id>; Path=/hermes/auth/; Max-Age=600; HttpOnly; SameSite=Lax",
			"hermes_flow=; Path=/hermes/auth/; Max-Age=0; HttpOnly; SameSite=Lax"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := withStubs(&stubProvider{name: "stub"})
			opts.publicURL = c.public
			s := startGate(t, envMap{}, opts)
			host := "Host: " + c.host
			r := s.get(t, "/auth/login?provider=stub", host)
			var flow *http.Cookie
			for _, ck := range r.cookies {
				if strings.HasSuffix(ck.Name, FlowCookie) {
					flow = ck
				}
			}
			if flow == nil {
				t.Fatalf("no flow cookie: %s", r)
			}
			if got, want := setCookieLine(r, flow.Name+"="), strings.Replace(c.set, "<id>", flow.Value, 1); got != want {
				t.Errorf("Set-Cookie\n got %s\nwant %s", got, want)
			}
			state := strings.SplitN(strings.SplitN(r.header.Get("Location"), "state=", 2)[1], "&", 2)[0]
			// A planted duplicate is refused, and the flow is not consumed.
			planted := "Cookie: " + flow.Name + "=" + strings.Repeat("A", 43) + "; " + flow.Name + "=" + flow.Value
			if r := s.get(t, "/auth/callback?code=stub_code&state="+state, host, planted); r.status != 400 || sessionOf(r) != nil {
				t.Errorf("planted duplicate flow cookie: %s", r)
			}
			r = s.get(t, "/auth/callback?code=stub_code&state="+state, host, cookieHeader(flow))
			if r.status != 302 || sessionOf(r) == nil {
				t.Fatalf("callback: %s", r)
			}
			if got := setCookieLine(r, flow.Name+"="); got != c.cleared {
				t.Errorf("cleared\n got %s\nwant %s", got, c.cleared)
			}
			// The session cookie keeps CONTRACT §7's name and path.
			if sc := sessionOf(r); c.public == "https://dash.example.com/hermes" && (sc.Name != "__Secure-hermes_session" || sc.Path != "/hermes/") {
				t.Errorf("session cookie %s Path=%s", sc.Name, sc.Path)
			}
		})
	}
}

// TestPlantedSessionCookie: under a path prefix over HTTPS the session
// cookie is __Secure- (a __Host- cookie cannot have a path): a cookie of
// that name planted beside the real one (by a sibling host, or for a
// longer path) makes the request refused, never guessed.
func TestPlantedSessionCookie(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{publicURL: "https://dash.example.com/hermes"})
	host := "Host: dash.example.com"
	_, c := s.loginPassword(t, "admin", thePassword, "", host)
	if c == nil || c.Name != "__Secure-hermes_session" {
		t.Fatalf("session cookie %v", c)
	}
	forged := strings.Repeat("A", 43)
	for _, h := range []string{
		"Cookie: __Secure-hermes_session=" + forged + "; __Secure-hermes_session=" + c.Value,
		"Cookie: __Secure-hermes_session=" + c.Value + "; __Secure-hermes_session=" + forged,
	} {
		if r := s.get(t, "/api/sessions", host, h); r.status != 401 || decodeJSON(t, r)["reason"] != "invalid_or_expired_session" {
			t.Errorf("%s: %s", h, r)
		}
	}
	if r := s.get(t, "/api/sessions", host, cookieHeader(c)); r.status != 200 {
		t.Errorf("the real cookie alone: %s", r)
	}
}
