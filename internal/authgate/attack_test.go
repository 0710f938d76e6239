package authgate

import (
	"net/http"
	"strings"
	"testing"
)

// attack is one request the gate must refuse; nothing of the gated app may
// be in the answer.
type attack struct {
	name           string
	method, target string
	headers        []string
	body           string
	want           int    // status
	reason         string // the envelope's reason, for JSON refusals
}

// runAttacks sends every attack with a raw request line over TCP.
func runAttacks(t *testing.T, s *testServer, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			r := s.do(t, a.method, a.target, a.headers, a.body)
			if r.status != a.want {
				t.Errorf("%s %q: status %d, want %d: %s", a.method, a.target, r.status, a.want, r)
			}
			if strings.Contains(r.body, appMarker) {
				t.Errorf("%s %q: the gated app answered: %s", a.method, a.target, r)
			}
			if a.reason != "" {
				if got := decodeJSON(t, r)["reason"]; got != a.reason {
					t.Errorf("%s %q: reason %v, want %s", a.method, a.target, got, a.reason)
				}
			}
			if r.status == http.StatusFound {
				loc := r.header.Get("Location")
				if !strings.HasPrefix(loc, "/login") || strings.Contains(loc, "evil") {
					t.Errorf("%s %q: redirect to %q", a.method, a.target, loc)
				}
			}
		})
	}
}

// TestGatedRefusesPathTricks: the research's §2 A and C bug classes, and the
// Appendix A vectors: nothing but the byte-exact public path is public.
func TestGatedRefusesPathTricks(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	const nc = "no_cookie"
	runAttacks(t, s, []attack{
		{"plain", "GET", "/api/sessions", nil, "", 401, nc},
		{"dotdot after public", "GET", "/api/status/../sessions", nil, "", 401, nc},
		{"dot segment", "GET", "/api/./sessions", nil, "", 401, nc},
		{"semicolon", "GET", "/api/status;/../sessions", nil, "", 401, nc},
		{"encoded slash", "GET", "/api/status%2f..%2fsessions", nil, "", 401, nc},
		{"encoded slash 2", "GET", "/api%2fsessions", nil, "", 401, nc},
		{"encoded letter", "GET", "/api/s%65ssions", nil, "", 401, nc},
		{"double slash", "GET", "//api/sessions", nil, "", 401, nc},
		{"upper case", "GET", "/API/SESSIONS", nil, "", 401, nc},
		{"trailing slash of public", "GET", "/api/status/", nil, "", 401, nc},
		{"public with suffix", "GET", "/api/statusX", nil, "", 401, nc},
		{"encoded NUL", "GET", "/api/status%00", nil, "", 401, nc},
		{"query names a public path", "GET", "/api/sessions?x=/api/status", nil, "", 401, nc},
		{"query is a public path", "GET", "/api/sessions?/api/status", nil, "", 401, nc},
		{"fragment names a public path", "GET", "/api/sessions#/api/status", nil, "", 401, nc},
		{"fragment after public", "GET", "/api/status#/../sessions", nil, "", 401, nc},
		{"encoded fragment", "GET", "/api/status%23/../sessions", nil, "", 401, nc},
		{"literal pattern", "GET", "/api/sessions/{id}", nil, "", 401, nc},
		{"literal pattern encoded", "GET", "/api/sessions/%7Bid%7D", nil, "", 401, nc},
		{"absolute form", "GET", "http://evil.com/api/sessions", nil, "", 401, nc},
		{"absolute form naming public", "GET", "http://127.0.0.1/api/status/../sessions", nil, "", 401, nc},
		{"asterisk", "OPTIONS", "*", nil, "", 401, nc},
		{"me", "GET", "/api/auth/me", nil, "", 401, nc},
		{"api root", "GET", "/api", nil, "", 401, nc},
		{"public API by POST", "POST", "/api/status", nil, "", 401, nc},
		{"public API by PUT", "PUT", "/api/config/defaults", nil, "", 401, nc},
		{"public API by DELETE", "DELETE", "/api/status", nil, "", 401, nc},
		{"lower-case method", "get", "/api/status", nil, "", 401, nc},
		{"HEAD of gated", "HEAD", "/api/sessions", nil, "", 401, ""},
		{"state change", "POST", "/api/services/gateway-default/restart", nil, "", 401, nc},
		{"CORS preflight", "OPTIONS", "/api/sessions", []string{"Origin: http://evil.com", "Access-Control-Request-Method: GET"}, "", 401, nc},
		{"CORS preflight of public", "OPTIONS", "/api/status", []string{"Origin: http://evil.com", "Access-Control-Request-Method: GET"}, "", 401, nc},
		{"assets traversal", "GET", "/assets/../api/sessions", nil, "", 401, nc},
		{"assets encoded traversal", "GET", "/assets/..%2fapi%2fsessions", nil, "", 401, nc},
		{"assets encoded dots", "GET", "/assets/%2e%2e/sessions", nil, "", 302, ""},
		{"assets nested", "GET", "/assets/x/../../sessions", nil, "", 302, ""},
		{"page", "GET", "/", nil, "", 302, ""},
		{"page double slash", "GET", "//sessions", nil, "", 302, ""},
		{"page traversal from login", "GET", "/login/../sessions", nil, "", 302, ""},
		{"page from favicon", "GET", "/favicon.ico/../sessions", nil, "", 302, ""},
		{"page by POST", "POST", "/sessions", nil, "", 401, nc},
		{"logout by GET", "GET", "/auth/logout", nil, "", 405, ""},
		{"password login by GET", "GET", "/auth/password-login?username=admin&password=x", nil, "", 405, ""},
	})
}

// TestGatedIgnoresForwardedAndRewriteHeaders: §2 A (X-Forwarded-Uri and
// friends) and B (probe user agents): no header makes a path public.
func TestGatedIgnoresForwardedAndRewriteHeaders(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	var attacks []attack
	for _, h := range []string{
		"X-Forwarded-Uri: /api/status", "X-Original-URL: /api/status", "X-Original-Uri: /api/status",
		"X-Rewrite-URL: /api/status", "X-Forwarded-Prefix: /api/status", "X-Forwarded-Path: /api/status",
		"X-Replaced-Path: /api/status", "Forwarded: for=127.0.0.1;proto=https", "X-Forwarded-For: 127.0.0.1",
		"X-Real-IP: 127.0.0.1", "X-Forwarded-Host: 127.0.0.1", "X-Forwarded-Proto: https",
		"User-Agent:", "User-Agent: kube-probe/1.29", "User-Agent: GoogleHC/1.0", "User-Agent: HermesAgent/1.0",
		"User-Agent: Fly-Health-Check", "X-Hermes-Session-Token: anything", "Authorization: Bearer anything",
		"Authorization: Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==",
	} {
		attacks = append(attacks, attack{h, "GET", "/api/sessions", []string{h}, "", 401, "no_cookie"})
	}
	runAttacks(t, s, attacks)
	// And a public path with a forwarded prefix is still just itself.
	r := s.get(t, "/api/status", "X-Forwarded-Prefix: /evil", "X-Forwarded-Host: evil.com")
	if r.status != 200 || strings.Contains(r.body, "evil") {
		t.Errorf("status with forwarded headers: %s", r)
	}
}

// TestGatedRefusesBadCookies: §2 E and F: forged, malformed, duplicated,
// wrong-prefix and fixated cookies.
func TestGatedRefusesBadCookies(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	_, good := s.loginPassword(t, "admin", "correct horse battery staple", "")
	if good == nil {
		t.Fatal("no session cookie after a good login")
	}
	forged := strings.Repeat("A", 43)
	const ie = "invalid_or_expired_session"
	runAttacks(t, s, []attack{
		{"forged id", "GET", "/api/sessions", []string{"Cookie: hermes_session=" + forged}, "", 401, ie},
		{"malformed id", "GET", "/api/sessions", []string{"Cookie: hermes_session=../../etc"}, "", 401, ie},
		{"too long id", "GET", "/api/sessions", []string{"Cookie: hermes_session=" + good.Value + "A"}, "", 401, ie},
		{"truncated id", "GET", "/api/sessions", []string{"Cookie: hermes_session=" + good.Value[:42]}, "", 401, ie},
		{"padded id", "GET", "/api/sessions", []string{"Cookie: hermes_session=" + good.Value + "="}, "", 401, ie},
		{"duplicate name", "GET", "/api/sessions", []string{"Cookie: hermes_session=" + good.Value + "; hermes_session=" + forged}, "", 401, ie},
		{"duplicate name, two headers", "GET", "/api/sessions", []string{"Cookie: hermes_session=" + good.Value, "Cookie: hermes_session=" + good.Value}, "", 401, ie},
		{"__Host- name over http", "GET", "/api/sessions", []string{"Cookie: __Host-hermes_session=" + good.Value}, "", 401, "no_cookie"},
		{"other name", "GET", "/api/sessions", []string{"Cookie: hermes_session_at=" + good.Value}, "", 401, "no_cookie"},
		{"page with forged", "GET", "/sessions", []string{"Cookie: hermes_session=" + forged}, "", 302, ""},
	})
	// The good cookie works, and a refused forged cookie is cleared.
	if r := s.get(t, "/api/sessions", cookieHeader(good)); r.status != 200 || !strings.Contains(r.body, appMarker) {
		t.Fatalf("good cookie: %s", r)
	}
	r := s.get(t, "/api/sessions", "Cookie: hermes_session="+forged)
	if len(r.cookies) != 1 || r.cookies[0].Name != SessionCookie || r.cookies[0].MaxAge >= 0 {
		t.Errorf("forged cookie not cleared: %v", r.header["Set-Cookie"])
	}
	// Fixation: a value the attacker chose before the login is never the
	// session afterwards.
	fixed := strings.Repeat("B", 43)
	_, c := s.loginPassword(t, "admin", "correct horse battery staple", "", "Cookie: hermes_session="+fixed)
	if c == nil || c.Value == fixed {
		t.Fatalf("login with a pre-set cookie kept it: %v", c)
	}
	if r := s.get(t, "/api/sessions", "Cookie: hermes_session="+fixed); r.status != 401 {
		t.Errorf("fixated value works after login: %s", r)
	}
}

// TestGatedRefusesCrossSite: §2 G: CrossOriginProtection on every
// state-changing route, the login and logout forms included.
func TestGatedRefusesCrossSite(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	_, c := s.loginPassword(t, "admin", "correct horse battery staple", "")
	form := "username=admin&password=correct+horse+battery+staple"
	ct := "Content-Type: application/x-www-form-urlencoded"
	runAttacks(t, s, []attack{
		{"login, Sec-Fetch-Site cross-site", "POST", "/auth/password-login", []string{ct, "Sec-Fetch-Site: cross-site"}, form, 403, "cross_origin"},
		{"login, Sec-Fetch-Site same-site", "POST", "/auth/password-login", []string{ct, "Sec-Fetch-Site: same-site"}, form, 403, "cross_origin"},
		{"login, foreign Origin", "POST", "/auth/password-login", []string{ct, "Origin: http://evil.com"}, form, 403, "cross_origin"},
		{"login, null Origin", "POST", "/auth/password-login", []string{ct, "Origin: null"}, form, 403, "cross_origin"},
		{"logout, cross-site", "POST", "/auth/logout", []string{cookieHeader(c), "Sec-Fetch-Site: cross-site"}, "", 403, "cross_origin"},
		{"action, cross-site", "POST", "/api/services/gateway-default/restart", []string{cookieHeader(c), "Sec-Fetch-Site: cross-site"}, "", 403, "cross_origin"},
		{"action, foreign Origin", "POST", "/api/services/gateway-default/restart", []string{cookieHeader(c), "Origin: https://evil.com"}, "", 403, "cross_origin"},
	})
	// The session survived the cross-site logout attempt; same-origin works.
	if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 {
		t.Errorf("session gone after a refused cross-site logout: %s", r)
	}
	r := s.do(t, "POST", "/api/services/gateway-default/restart", []string{cookieHeader(c), "Sec-Fetch-Site: same-origin", "Origin: http://" + s.addr}, "")
	if r.status != 200 {
		t.Errorf("same-origin action: %s", r)
	}
}

// TestHostCheck: DNS rebinding in open-local on every route; in gated mode
// with a public URL, page and login routes keep to its host while the
// public API answers any Host.
func TestHostCheck(t *testing.T) {
	t.Run("open-local", func(t *testing.T) {
		s := startGate(t, envMap{}, serverOpts{bind: "127.0.0.1"})
		for _, target := range []string{"/", "/api/status", "/login", "/api/sessions", "/assets/app.js"} {
			for _, host := range []string{"evil.com", "evil.com:80", "127.0.0.1.nip.io", "localhost.evil.com", "10.0.0.1", "[::2]", ""} {
				r := s.get(t, target, "Host: "+host)
				if r.status != 400 || strings.Contains(r.body, appMarker) || !strings.Contains(r.body, "Invalid Host header") {
					t.Errorf("Host %q %s: %s", host, target, r)
				}
			}
		}
		for _, host := range []string{"localhost", "localhost:9119", "127.0.0.1", "127.0.0.1:1", "[::1]:9119", "LOCALHOST"} {
			if r := s.get(t, "/api/status", "Host: "+host); r.status != 200 {
				t.Errorf("Host %q: %s", host, r)
			}
		}
	})
	t.Run("gated with public URL", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{publicURL: "https://dash.example.com/hermes"})
		r := s.get(t, "/sessions?tab=1", "Host: evil.com")
		if r.status != 302 || r.header.Get("Location") != "https://dash.example.com/hermes/sessions?tab=1" {
			t.Errorf("foreign Host page: %s", r)
		}
		r = s.get(t, "/login", "Host: evil.com")
		if r.status != 302 || r.header.Get("Location") != "https://dash.example.com/hermes/" {
			t.Errorf("foreign Host login page: %s", r)
		}
		r = s.do(t, "POST", "/auth/password-login", []string{"Host: evil.com", "Content-Type: application/x-www-form-urlencoded"}, "username=admin&password=correct+horse+battery+staple")
		if r.status != 400 || len(r.cookies) != 0 {
			t.Errorf("foreign Host password login: %s", r)
		}
		for _, host := range []string{"10.1.2.3:9119", "evil.com", "dash.example.com"} {
			r = s.get(t, "/api/status", "Host: "+host)
			if r.status != 200 || decodeJSON(t, r)["auth_required"] != true {
				t.Errorf("public API by Host %q: %s", host, r)
			}
		}
		for _, host := range []string{"dash.example.com", "DASH.example.com:443"} {
			if r := s.get(t, "/login", "Host: "+host); r.status != 200 {
				t.Errorf("own Host %q: %s", host, r)
			}
		}
	})
}

// TestCrossOriginScheme: the cross-origin check compares the scheme too.
// With an https public URL, a form posted from the same host over plain
// http (an old browser sends no Sec-Fetch-Site; net/http's check compares
// the Origin's host with Host only) is cross-origin; without a public URL,
// the Origin's scheme must be the request's.
func TestCrossOriginScheme(t *testing.T) {
	form := "username=admin&password=correct+horse+battery+staple"
	ct := "Content-Type: application/x-www-form-urlencoded"
	t.Run("public URL", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{publicURL: "https://dash.example.com/hermes"})
		host := "Host: dash.example.com"
		runAttacks(t, s, []attack{
			{"http Origin, same host", "POST", "/auth/password-login", []string{ct, host, "Origin: http://dash.example.com"}, form, 403, "cross_origin"},
			{"http Origin, port 443", "POST", "/auth/password-login", []string{ct, host, "Origin: http://dash.example.com:443"}, form, 403, "cross_origin"},
			{"https Origin, other port", "POST", "/auth/password-login", []string{ct, host, "Origin: https://dash.example.com:8443"}, form, 403, "cross_origin"},
		})
		for _, origin := range []string{"https://dash.example.com"} {
			if r, c := s.loginPassword(t, "admin", thePassword, "", host, "Origin: "+origin); c == nil {
				t.Errorf("Origin %s: %s", origin, r)
			}
		}
		if r, c := s.loginPassword(t, "admin", thePassword, "", host, "Origin: http://dash.example.com", "Sec-Fetch-Site: same-origin"); c == nil {
			t.Errorf("Sec-Fetch-Site same-origin (the browser's own verdict, scheme included): %s", r)
		}
	})
	t.Run("TLS from a trusted proxy", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{tweak: trust("127.0.0.1")})
		runAttacks(t, s, []attack{
			{"http Origin to an https request", "POST", "/auth/password-login", []string{ct, "X-Forwarded-Proto: https", "Origin: http://" + s.addr}, form, 403, "cross_origin"},
			{"https Origin to an http request", "POST", "/auth/password-login", []string{ct, "Origin: https://" + s.addr}, form, 403, "cross_origin"},
		})
		if r, c := s.loginPassword(t, "admin", thePassword, "", "X-Forwarded-Proto: https", "Origin: https://"+s.addr); c == nil {
			t.Errorf("https Origin to an https request: %s", r)
		}
		if r, c := s.loginPassword(t, "admin", thePassword, "", "Origin: http://"+s.addr); c == nil {
			t.Errorf("http Origin to an http request: %s", r)
		}
	})
}
