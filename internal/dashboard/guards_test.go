package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
)

// TestStateChangingRoutesGuarded: every route that changes something
// (any method but GET) is behind the gate and CSRF-checked: without a
// session it is 401, and with one, from another site, the gate's 403,
// before the handler runs. The table is read from the route table itself,
// so a new state-changing route is checked without editing this test.
func TestStateChangingRoutesGuarded(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	ts := httptest.NewServer(f.handler())
	defer ts.Close()
	user := signIn(t, ts.URL)
	anon := client(t)
	n := 0
	for _, rt := range f.srv.table {
		method, _, _ := strings.Cut(rt.pattern, " ")
		if method == http.MethodGet {
			continue
		}
		n++
		if rt.public {
			t.Errorf("%s is public", rt.pattern)
		}
		req := sampleRequest(rt.pattern)
		target := ts.URL + req.URL.Path
		for _, c := range []struct {
			who  string
			cl   *http.Client
			hdr  map[string]string
			code int
		}{
			{"anonymous, same origin", anon, map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}, http.StatusUnauthorized},
			{"signed in, cross-site", user, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
			{"signed in, cross-site without Sec-Fetch-Site", user, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
			{"signed in, another scheme of this host", user, map[string]string{"Origin": strings.Replace(ts.URL, "http:", "https:", 1)}, http.StatusForbidden},
		} {
			r, _ := http.NewRequest(method, target, strings.NewReader(`{}`))
			r.Header.Set("Content-Type", "application/json")
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			resp, err := c.cl.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("%s %s (%s) = %d %s, want %d", method, req.URL.Path, c.who, resp.StatusCode, b, c.code)
			}
		}
	}
	if n < 6 {
		t.Errorf("only %d state-changing routes found", n)
	}
}

// TestNoCommandLineFromTheBrowser: no route registers a service (a
// command line): the route table has no POST/PUT of /api/services itself,
// and a spec posted there changes nothing.
func TestNoCommandLineFromTheBrowser(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	for _, rt := range f.srv.table {
		if strings.HasSuffix(rt.pattern, " /api/services") && !strings.HasPrefix(rt.pattern, "GET ") {
			t.Errorf("%s registers services", rt.pattern)
		}
	}
	before := len(f.sup.List())
	hdr := f.localHeaders()
	hdr["Content-Type"] = "application/json"
	for _, target := range []string{"/api/services", "/api/services/evil", "/api/services/evil/start", "/api/gateways"} {
		for _, m := range []string{"POST", "PUT"} {
			send(f.handler(), m, target, `{"name":"evil","argv":["/bin/sh","-c","id"]}`, hdr)
		}
	}
	if after := len(f.sup.List()); after != before {
		t.Errorf("services before %d, after %d: a command line was registered", before, after)
	}
}

// TestEveryPageCSP: every page, the gate's login page included, sends
// Content-Security-Policy default-src 'self' and carries no inline script
// or style (the login page's style is the asset it links).
func TestEveryPageCSP(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	user := httptest.NewServer(f.handler())
	defer user.Close()
	c := signIn(t, user.URL)
	anon := client(t)
	for _, tc := range []struct {
		cl   *http.Client
		path string
	}{{anon, "/login"}, {c, "/"}, {c, "/profiles"}, {c, "/config"}, {c, "/logs"}, {c, "/sessions"}, {c, "/no/such/page"}} {
		resp, err := tc.cl.Get(user.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		page := string(b)
		if !strings.HasPrefix(csp, "default-src 'self';") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", tc.path, csp)
		}
		if strings.Contains(page, "<style") || strings.Contains(page, " style=") || regexpInlineScript.MatchString(page) {
			t.Errorf("%s has an inline style or script:\n%s", tc.path, page)
		}
	}
	resp, err := anon.Get(user.URL + authgate.StylesheetPath)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("GET %s = %v %v", authgate.StylesheetPath, resp.Status, err)
	}
}

// regexpInlineScript matches a script element without a src.
var regexpInlineScript = regexp.MustCompile(`<script(?:\s+type="[^"]*")?>`)

// newJSONRequest is a same-origin JSON request of the page at origin.
func newJSONRequest(method, target, body, origin string) (*http.Request, error) {
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req, nil
}
