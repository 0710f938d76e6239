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
