package authgate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func newTestGate(t *testing.T, env envMap, bind string) *Gate {
	t.Helper()
	cfg, err := FromEnv(env.env(), bind, 9119, false)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPublicPatternsGolden(t *testing.T) {
	g := newTestGate(t, passwordEnv, "0.0.0.0")
	testenv.Golden(t, "public_patterns.golden", strings.Join(g.PublicPatterns(), "\n")+"\n")
	// The table is immutable: changing the returned slice changes nothing.
	p := g.PublicPatterns()
	p[0] = "GET /api/sessions"
	if g.PublicPatterns()[0] != "GET /api/status" {
		t.Error("PublicPatterns returned the table itself")
	}
}

func TestRegister(t *testing.T) {
	for _, c := range []struct {
		pattern string
		public  bool
		panics  bool
	}{
		{"GET /api/status", true, false},
		{"GET /assets/{file}", true, false},
		{"GET /api/sessions", false, false},
		{"GET /api/sessions/{id}", false, false},
		{"GET /api/sessions", true, true},            // not in the table
		{"POST /api/status", true, true},             // the table is GET only
		{"/api/status", true, true},                  // no method: also POST
		{"GET /api/status/", true, true},             // a subtree
		{"GET /assets/", true, true},                 // a subtree
		{"GET /assets/{path...}", true, true},        // many segments
		{"GET /api/status", false, true},             // in the table, declared gated
		{"GET /login", true, true},                   // the gate's own
		{"GET /api/auth/me", false, true},            // the gate's own
		{"GET example.com/api/status", true, true},   // a host pattern
		{"GET  /api/status", true, true},             // not byte-exact
		{"GET /api/dashboard/plugins/x", true, true}, // not in the table
		{"HEAD /api/status", true, true},             // HEAD comes with GET
		{"GET /api/status/{$}", true, true},          // a variant
		{"GET /API/STATUS", true, true},              // case
		{"POST /auth/password-login", true, true},    // the gate's own
		{"GET /api/config/defaults", true, false},    // public API
		{"GET /api/dashboard/themes", true, false},   // public API
		{"POST /api/services/{name}/start", false, false},
	} {
		t.Run(c.pattern, func(t *testing.T) {
			g := newTestGate(t, passwordEnv, "0.0.0.0")
			got := func() (p any) {
				defer func() { p = recover() }()
				g.Register(c.pattern, c.public)
				return nil
			}()
			if (got != nil) != c.panics {
				t.Fatalf("Register(%q, %v): panic = %v, want panic %v", c.pattern, c.public, got, c.panics)
			}
			if !c.panics {
				rs := g.Routes()
				if last := rs[len(rs)-1]; last != (RouteDecl{Pattern: c.pattern, Public: c.public, Owner: "app"}) {
					t.Errorf("Routes() ends with %+v", last)
				}
			}
		})
	}
}

// TestRoutesDeclareTheGatesOwn: the gate's login routes are declared too, so
// a drift test over Routes() covers them.
func TestRoutesDeclareTheGatesOwn(t *testing.T) {
	g := newTestGate(t, passwordEnv, "0.0.0.0")
	got := map[string]bool{}
	for _, r := range g.Routes() {
		got[r.Pattern] = r.Public
	}
	for _, c := range []struct {
		p      string
		public bool
	}{{"GET /login", true}, {"GET /auth/login", true}, {"GET /auth/callback", true}, {"POST /auth/password-login", true},
		{"POST /auth/logout", true}, {"GET /api/auth/providers", true}, {"GET /api/auth/me", false}} {
		if pub, ok := got[c.p]; !ok || pub != c.public {
			t.Errorf("Routes(): %s declared=%v public=%v, want public=%v", c.p, ok, pub, c.public)
		}
	}
}

// TestMatchPublic is the public-path decision on raw request targets
// (the research's Appendix A vectors and more).
func TestMatchPublic(t *testing.T) {
	for _, c := range []struct {
		method, target string
		want           string // the pattern, "" = not public
	}{
		{"GET", "/api/status", "GET /api/status"},
		{"HEAD", "/api/status", "GET /api/status"},
		{"GET", "/api/status?x=/api/sessions", "GET /api/status"},
		{"GET", "/api/status?", "GET /api/status"},
		{"POST", "/api/status", ""},
		{"PUT", "/api/status", ""},
		{"OPTIONS", "/api/status", ""},
		{"get", "/api/status", ""},
		{"GET", "/api/status/../sessions", ""},
		{"GET", "/api/./status", ""},
		{"GET", "/api/status;/../sessions", ""},
		{"GET", "/api/status%2f..%2fsessions", ""},
		{"GET", "/api%2fstatus", ""},
		{"GET", "/api/st%61tus", ""},
		{"GET", "//api/status", ""},
		{"GET", "/API/STATUS", ""},
		{"GET", "/api/status/", ""},
		{"GET", "/api/statusX", ""},
		{"GET", "/api/status%00", ""},
		{"GET", "/api/status\x00", ""},
		{"GET", "/api/status#/../sessions", ""},
		{"GET", "/api/status%23/../sessions", ""},
		{"GET", "*", ""},
		{"GET", "http://127.0.0.1/api/status", ""},
		{"GET", "/api/sessions?x=/api/status", ""},
		{"GET", "/api/sessions#/api/status", ""},
		{"GET", "/api/sessions/{id}", ""},
		{"GET", "/api/auth/me", ""},
		{"GET", "/api/auth/providers", "GET /api/auth/providers"},
		{"GET", "/login", "GET /login"},
		{"GET", "/login/", ""},
		{"GET", "/loginx", ""},
		{"GET", "/auth/login", "GET /auth/login"},
		{"GET", "/auth/logout", ""},
		{"POST", "/auth/logout", "POST /auth/logout"},
		{"POST", "/auth/password-login", "POST /auth/password-login"},
		{"GET", "/auth/password-login", ""},
		{"GET", "/assets/app.js", "GET /assets/{file}"},
		{"GET", "/assets/theme.css?v=3", "GET /assets/{file}"},
		{"GET", "/assets/", ""},
		{"GET", "/assets/../api/sessions", ""},
		{"GET", "/assets/..%2fapi%2fsessions", ""},
		{"GET", "/assets/%2e%2e/api/sessions", ""},
		{"GET", "/assets/a/b.js", ""},
		{"GET", "/assets/.env", ""},
		{"GET", "/assets/a..js", ""},
		{"GET", "/assets/{file}", ""},
		{"POST", "/assets/app.js", ""},
		{"GET", "/favicon.ico", "GET /favicon.ico"},
		{"GET", "/", ""},
	} {
		got, ok := matchPublic(c.method, c.target)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("matchPublic(%q, %q) = %q, %v; want %q", c.method, c.target, got, ok, c.want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	long := "/" + strings.Repeat("a", maxNext)
	for _, c := range []struct{ in, want string }{
		// Accepted: local paths, returned escaped, without a fragment.
		{"/", "/"},
		{"/sessions", "/sessions"},
		{"/sessions/", "/sessions/"},
		{"/sessions/default/abc?tab=log&x=1", "/sessions/default/abc?tab=log&x=1"},
		{"/sessions#frag", "/sessions"},
		{"/a%20b", ""},                                     // a decoded space is refused too
		{"/logs?next=//evil.com", "/logs?next=//evil.com"}, // a query is data, not a target
		// Appendix B and friends: refused.
		{"", ""},
		{"//evil.com", ""},
		{"///evil.com", ""},
		{"/\\evil.com", ""},
		{"\\\\evil.com", ""},
		{"/\t/evil.com", ""},
		{"/ /evil.com", ""},
		{"/%09/evil.com", ""},
		{"%2f%2fevil.com", ""},
		{"/%2f%2fevil.com", ""},
		{"/%2F%2Fevil.com", ""},
		{"/%5cevil.com", ""},
		{"/%5Cevil.com", ""},
		{"https://evil.com", ""},
		{"http:evil.com", ""},
		{"https:/evil.com", ""},
		{"javascript:alert(1)", ""},
		{"evil.com", ""},
		{"@evil.com", ""},
		{"/\r\nSet-Cookie: x=1", ""},
		{"/%0d%0aSet-Cookie:x=1", ""},
		{"/x\x00", ""},
		{"/x\x7f", ""},
		{"/é", ""},
		{" /sessions", ""},
		{"/./sessions", ""},
		{"/a/../b", ""},
		{"/a/%2e%2e/b", ""},
		{"/%2e%2e/", ""},
		{"/a//b", ""},
		{"/login", ""},
		{"/login?next=/x", ""},
		{"/LOGIN", ""},
		{"/login/", ""},
		{"/auth", ""},
		{"/auth/callback?code=x", ""},
		{"/auth/logout", ""},
		{"/api", ""},
		{"/api/sessions", ""},
		{"/api/auth/me", ""},
		{"/API/sessions", ""},
		{long, ""},
	} {
		if got := safeNext(c.in); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestURL(t *testing.T) {
	for _, c := range []struct{ public, path, want string }{
		{"", "/login", "/login"},
		{"https://a.example.com", "/login", "/login"},
		{"https://a.example.com/hermes", "/login", "/hermes/login"},
		{"https://a.example.com/hermes/", "/assets/app.js", "/hermes/assets/app.js"},
		{"https://a.example.com/a/b", "sessions", "/a/b/sessions"},
	} {
		env := passwordEnv
		if c.public != "" {
			env = env.with(EnvPublicURL, c.public)
		}
		g := newTestGate(t, env, "0.0.0.0")
		if got := g.URL(c.path); got != c.want {
			t.Errorf("URL(%q) with %q = %q, want %q", c.path, c.public, got, c.want)
		}
	}
}

func ExampleDecideMode() {
	fmt.Println(DecideMode("0.0.0.0", "", false), DecideMode("127.0.0.1", "", false), DecideMode("0.0.0.0", "", true))
	// Output: gated open-local open-insecure
}
