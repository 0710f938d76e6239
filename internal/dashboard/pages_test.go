package dashboard

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/logpipe"
)

// keyFragment matches what a page's behaviour rests on: its links,
// scripts, styles, forms, buttons, options, the token and the rows of the
// service table.
var keyFragment = regexp.MustCompile(`<(?:link|script|meta name="hermes|a |form|button|option|tr data-service|select)[^>]*>|<h1>[^<]*</h1>|<p class="banner[^>]*>[^<]*</p>`)

// fragments lists a page's key fragments, one a line.
func fragments(page string) string {
	return strings.Join(keyFragment.FindAllString(page, -1), "\n") + "\n"
}

// pageFixture is the status fixture with a session whose title would be
// markup if it were not escaped.
func pageFixture(t *testing.T, mode authgate.Mode, extra map[string]string) *fixture {
	t.Helper()
	f := statusFixture(t, mode, extra)
	writeSessions(t, f.home, "default", turn{id: "sess_markup", ago: 10 * time.Second, title: `<script>alert("x")</script> & co`})
	return f
}

func TestPages(t *testing.T) {
	tests := []struct {
		name   string
		mode   authgate.Mode
		extra  map[string]string
		target string
		host   string
	}{
		{"overview_open-local", authgate.OpenLocal, nil, "/", "127.0.0.1:9119"},
		{"sessions_open-local", authgate.OpenLocal, nil, "/sessions?profile=default", "127.0.0.1:9119"},
		{"session_open-local", authgate.OpenLocal, nil, "/sessions/default/sess_markup", "127.0.0.1:9119"},
		{"logs_open-local", authgate.OpenLocal, nil, "/logs?service=worker", "127.0.0.1:9119"},
		// Under a path prefix every URL carries it.
		{"overview_prefix", authgate.OpenInsecure, map[string]string{"HERMES_DASHBOARD_PUBLIC_URL": "https://dash.example.com/hermes"}, "/", "dash.example.com"},
		{"logs_prefix", authgate.OpenInsecure, map[string]string{"HERMES_DASHBOARD_PUBLIC_URL": "https://dash.example.com/hermes"}, "/logs", "dash.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := pageFixture(t, tt.mode, tt.extra)
			rec := do(f.handler(), http.MethodGet, tt.target, map[string]string{"Host": tt.host, "X-Forwarded-Proto": "https"})
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d: %s", tt.target, rec.Code, rec.Body)
			}
			h := rec.Header()
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Cache-Control") != "no-store" || h.Get("Content-Security-Policy") != contentSecurityPolicy || !strings.HasPrefix(contentSecurityPolicy, "default-src 'self';") {
				t.Errorf("headers = %v", h)
			}
			page := rec.Body.String()
			if strings.Contains(page, "<script>alert") {
				t.Errorf("a session title is not escaped:\n%s", page)
			}
			if tt.extra != nil {
				for _, m := range regexp.MustCompile(`(?:href|src|action|data-action|data-stream)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
					if u := m[1]; strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "/hermes/") {
						t.Errorf("URL %q does not carry the path prefix", u)
					}
				}
			}
			if hasToken := strings.Contains(page, `name="hermes-session-token"`); hasToken != (tt.mode == authgate.OpenLocal) {
				t.Errorf("token on the page = %v in mode %s", hasToken, tt.mode)
			}
			testenv.Golden(t, "page_"+tt.name+".txt", f.normalize(fragments(page)))
		})
	}
}

// TestPageErrors: a missing session or profile is a 404 page.
func TestPageErrors(t *testing.T) {
	f := pageFixture(t, authgate.OpenLocal, nil)
	for _, target := range []string{"/sessions/default/sess_nope", "/sessions/nobody/sess_markup", "/sessions?profile=nobody"} {
		rec := do(f.handler(), http.MethodGet, target, map[string]string{"Host": "127.0.0.1:9119"})
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `<p class="error-code">404</p>`) {
			t.Errorf("GET %s = %d, want a 404 page:\n%s", target, rec.Code, rec.Body)
		}
	}
}

// TestLogsPageDefault: without ?service the log page follows the default
// gateway.
func TestLogsPageDefault(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	f.sup.AppendLog("worker", logpipe.Entry{Line: "x"})
	page := do(f.handler(), http.MethodGet, "/logs", map[string]string{"Host": "127.0.0.1:9119"}).Body.String()
	if !strings.Contains(page, `value="gateway-default" data-stream="/api/logs/gateway-default/stream" data-download="/api/logs/gateway-default/download" selected`) {
		t.Errorf("the default gateway is not selected:\n%s", page)
	}
}

// TestNoRoute: a path no route has is the app's own 404 page (styled, with
// its stylesheet and the CSP), a method a route does not take is its 405
// page with Allow; under /api/ both are the JSON error; a page whose
// handler fails is the 500 page in the same style.
func TestNoRoute(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	local := map[string]string{"Host": "127.0.0.1:9119"}
	api := f.localHeaders()
	tests := []struct {
		method, target string
		hdr            map[string]string
		code           int
		want           string
	}{
		{"GET", "/no/such/page", local, 404, `<p class="error-code">404</p>`},
		{"GET", "/sessions/a/b/c", local, 404, `<h1 id="error-title">Not Found</h1>`},
		{"DELETE", "/logs", local, 405, `<p class="error-code">405</p>`},
		{"GET", "/api/nothing", api, 404, `"error":"not_found"`},
		{"DELETE", "/api/services", api, 405, `"error":"method_not_allowed"`},
	}
	for _, tt := range tests {
		rec := do(f.handler(), tt.method, tt.target, tt.hdr)
		body := rec.Body.String()
		if rec.Code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s = %d, want %d with %s:\n%s", tt.method, tt.target, rec.Code, tt.code, tt.want, body)
		}
		if rec.Header().Get("Content-Security-Policy") != contentSecurityPolicy {
			t.Errorf("%s %s: no Content-Security-Policy", tt.method, tt.target)
		}
		if tt.code == 405 && rec.Header().Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tt.method, tt.target)
		}
		if strings.HasPrefix(tt.target, "/api/") == strings.Contains(body, "/assets/app.css") {
			t.Errorf("%s %s: the page/JSON choice is wrong:\n%s", tt.method, tt.target, body)
		}
	}
	// A session store that cannot be read: the 500 page, in style.
	writeForeignStore(t, f.home)
	rec := do(f.handler(), "GET", "/sessions/default/sess_x", local)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `<p class="error-code">500</p>`) || !strings.Contains(rec.Body.String(), "/assets/app.css") {
		t.Errorf("an unreadable store = %d, want the 500 page:\n%s", rec.Code, rec.Body)
	}
}
