package dashboard

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
)

// sampleRequest builds a request that a pattern matches: its method (GET
// when it has none) and its path with every wildcard filled in.
func sampleRequest(pattern string) *http.Request {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
	}
	path = strings.TrimSuffix(path, "{$}")
	for strings.Contains(path, "{") {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:i] + "x1" + path[j+1:]
	}
	if strings.HasPrefix(path, AssetsPath) {
		path = AssetsPath + "app.css"
	}
	return httptest.NewRequest(method, path, nil)
}

// TestRoutesDeclared is the drift test of CONTRACT §1 rule 6: every
// pattern the dashboard mounts is declared to the gate, with public true
// exactly for the patterns of the gate's one public table; and nothing is
// mounted that the table of routes does not list.
func TestRoutesDeclared(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	public := f.gate.PublicPatterns()
	declared := map[string]bool{} // pattern → public, as the gate has it
	for _, d := range f.gate.Routes() {
		if d.Owner == "app" {
			if _, dup := declared[d.Pattern]; dup {
				t.Errorf("%q is declared twice", d.Pattern)
			}
			declared[d.Pattern] = d.Public
		}
	}
	mounted := map[string]bool{}
	for _, rt := range f.srv.table {
		mounted[rt.pattern] = true
		pub, ok := declared[rt.pattern]
		if !ok {
			t.Errorf("%q is mounted but not declared to the gate", rt.pattern)
			continue
		}
		if want := slices.Contains(public, rt.pattern); pub != want || rt.public != want {
			t.Errorf("%q: declared public %v (table says %v), in the public table %v", rt.pattern, pub, rt.public, want)
		}
		// The mux routes a request of the pattern to the pattern itself.
		if _, got := f.srv.mux.Handler(sampleRequest(rt.pattern)); got != rt.pattern {
			t.Errorf("a request for %q reaches pattern %q", rt.pattern, got)
		}
	}
	for p := range declared {
		if !mounted[p] {
			t.Errorf("%q is declared to the gate but not mounted", p)
		}
	}
	// Whatever the mux answers for any path at all is a mounted pattern:
	// nothing is mounted outside the table.
	probes := []string{"/", "/x", "/api", "/api/", "/api/x", "/api/auth/me", "/login", "/auth/logout", "/assets/", "/assets/x/y",
		"/sessions/", "/sessions/a/b/c", "/logs/", "/api/services/x", "/api/logs/x", "/favicon.ico"}
	for _, rt := range f.srv.table {
		probes = append(probes, sampleRequest(rt.pattern).URL.Path)
	}
	for _, p := range probes {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			_, pat := f.srv.mux.Handler(httptest.NewRequest(m, p, nil))
			if pat != "" && !mounted[pat] {
				t.Errorf("%s %s reaches %q, which is not in the route table", m, p, pat)
			}
		}
	}
	// Every public pattern the dashboard serves content for is mounted.
	for _, p := range public {
		if strings.HasPrefix(p, "GET /api/") && !strings.HasPrefix(p, "GET /api/auth/") && !mounted[p] {
			t.Errorf("public pattern %q has no content", p)
		}
	}
}

// TestPublicRoutesGetOnly: the public API answers GET and HEAD, nothing
// else.
func TestPublicRoutesGetOnly(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	for _, rt := range f.srv.table {
		if !rt.public {
			continue
		}
		method, _, _ := strings.Cut(rt.pattern, " ")
		if method != http.MethodGet {
			t.Errorf("public %q is not GET-only", rt.pattern)
		}
		req := sampleRequest(rt.pattern)
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req.Method = m
			rec := httptest.NewRecorder()
			f.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", m, req.URL.Path, rec.Code)
			}
		}
	}
}
