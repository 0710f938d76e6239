package e2e

// The dashboard's login gate in a real browser (CONTRACT §7): headless
// Chromium, through nginx terminating TLS, logs in at a real OpenID
// provider and out again, against the real binary. The pieces are in
// browser_helpers_test.go.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestBrowserLoginOverTLS: the dashboard at the root of an HTTPS origin
// (nginx in front, HERMES_DASHBOARD_PUBLIC_URL=https://127.0.0.1:<port>).
// A page asked for without a session leads to the login page; the OIDC
// provider's login form brings the browser back to that very page, which
// lists the sessions of state.db; the session cookie is
// __Host-hermes_session (Secure, HttpOnly, SameSite=Lax, Path=/, no
// Domain); the logout button (a POST) ends the session server side, so the
// API refuses the old cookie and the pages lead to the login page again.
func TestBrowserLoginOverTLS(t *testing.T) {
	browserRoundTrip(t, browserCase{
		cookieName: "__Host-hermes_session",
		cookiePath: "/",
		allow:      map[string]string{"HERMES_DASHBOARD_OIDC_ALLOWED_EMAILS": "test-user@zitadel.ch"},
	})
}

// TestBrowserBehindNginxUnderPrefix: the same round trip with nginx serving
// the dashboard under /hermes/ (the prefix stripped before it reaches the
// dashboard, HERMES_DASHBOARD_PUBLIC_URL=https://127.0.0.1:<port>/hermes):
// the login page, the provider's redirect_uri, the callback, the landing
// page, the assets and the logout all stay under /hermes/, and the cookie
// is __Secure-hermes_session with Path=/hermes/.
func TestBrowserBehindNginxUnderPrefix(t *testing.T) {
	browserRoundTrip(t, browserCase{
		prefix:     "/hermes",
		cookieName: "__Secure-hermes_session",
		cookiePath: "/hermes/",
		allow:      map[string]string{"HERMES_DASHBOARD_OIDC_ALLOWED_DOMAINS": "zitadel.ch"},
	})
}

// browserCase is one deployment of the dashboard behind nginx.
type browserCase struct {
	prefix     string            // the path prefix nginx serves the dashboard under: "" or "/hermes"
	cookieName string            // the session cookie's name
	cookiePath string            // and its Path
	allow      map[string]string // the OIDC allowlist variables
}

// browserRoundTrip is the whole scenario of one browserCase.
func browserRoundTrip(t *testing.T, c browserCase) {
	t.Parallel()
	chromium := testenv.NeedProgram(t, "chromium", "log in to the dashboard in a real browser (Debian package chromium)")
	nginx := testenv.NeedProgram(t, "nginx", "terminate TLS in front of the dashboard (Debian package nginx-light)")
	began := time.Now()
	artifacts := browserArtifacts(t)
	work := t.TempDir()

	// Everything runs in a network namespace of its own, where these
	// ports are free.
	ns := newBrowserNetns(t)
	const tlsPort, dashPort = 8443, 9119
	origin := "https://127.0.0.1:" + strconv.Itoa(tlsPort)
	base := origin + c.prefix // the dashboard's public URL
	const secret = "s3cret-of-the-browser-client"
	clientID := "hermes-" + strings.ToLower(t.Name())
	op := startBrowserOP(t, ns, clientID, secret, base+"/auth/callback")

	home, stored := browserHome(t)
	env := map[string]string{
		"HOME":                  home,
		"HERMES_HOME":           home,
		"HERMES_CONTROL_SOCKET": filepath.Join(work, "control.sock"), // no supervisor: the sessions page does not need one
		// This machine may look like a container (/.dockerenv): keep the
		// dashboard as the test's user rather than dropping it to the
		// hermes uid, which could not enter the test's temporary home.
		"HERMES_DOCKER_EXEC_AS_ROOT":          "1",
		"HERMES_DASHBOARD_PUBLIC_URL":         base,
		"HERMES_DASHBOARD_TRUSTED_PROXIES":    "127.0.0.1/32",
		"HERMES_DASHBOARD_OIDC_ISSUER":        op.issuer,
		"HERMES_DASHBOARD_OIDC_CLIENT_ID":     clientID,
		"HERMES_DASHBOARD_OIDC_CLIENT_SECRET": secret,
	}
	for k, v := range c.allow {
		env[k] = v
	}
	dash := startBrowserDashboard(t, ns, artifacts, dashPort, env)
	cert := newBrowserCert(t, work)
	startBrowserNginx(t, ns, nginx, artifacts, tlsPort, cert, dash.port, c.prefix)
	api := ns.client(cert.tls())
	b := startBrowser(t, ns, chromium, artifacts, 3*time.Minute)
	const step = 45 * time.Second // one step of the browser, generous for a loaded CI machine

	loginLink := `main a.button[href^="` + c.prefix + `/auth/login?"][href*="provider=oidc"]`
	opForm := `form[action="/login/username"]`
	sessionLink := `table.data tbody a[href^="` + c.prefix + `/sessions/default/"]`
	logoutButton := `form[action="` + c.prefix + `/auth/logout"][method="post"] button[type="submit"]`

	// 1. A page without a session: the login page, remembering the page.
	b.run("opening "+base+"/sessions", step,
		chromedp.Navigate(base+"/sessions"),
		chromedp.WaitVisible(chromedp.CSS(loginLink)))
	if got, want := b.location(), base+"/login?next=%2Fsessions"; got != want {
		t.Errorf("without a session, /sessions led to %s, want %s", got, want)
	}
	b.screenshot("login-page")

	// 2. Pick the OIDC provider: the provider's own login form.
	b.run("choosing the OIDC provider", step,
		chromedp.Click(chromedp.CSS(loginLink)),
		chromedp.WaitVisible(chromedp.CSS(opForm+` #username`)))
	if loc := b.location(); !strings.HasPrefix(loc, op.issuer+"/login/username?") {
		t.Errorf("the provider's login form is at %s, want %s/login/username?…", loc, op.issuer)
	}
	checkAuthorizeRequest(t, b, op.authorize, clientID, base+"/auth/callback")
	b.screenshot("provider-login-form")

	// 3. The test user's credentials: back on the page asked for, with the
	// sessions of state.db listed.
	b.run("filling in the provider's form", step,
		chromedp.SendKeys(chromedp.CSS(opForm+` #username`), op.user),
		chromedp.SendKeys(chromedp.CSS(opForm+` #password`), op.password))
	b.screenshot("provider-credentials")
	b.run("submitting the provider's form", step,
		chromedp.Click(chromedp.CSS(opForm+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(sessionLink)))
	table, user := b.text(`table.data tbody`), b.text(`header .who .user`)
	if got, want := b.location(), base+"/sessions"; got != want {
		t.Errorf("after the login the browser is at %s, want the page it asked for, %s", got, want)
	}
	for _, s := range stored {
		if !strings.Contains(table, s.title) {
			t.Errorf("the sessions page does not list %q; its table:\n%s", s.title, table)
		}
	}
	if strings.TrimSpace(user) == "" {
		t.Errorf("the header shows no signed-in user")
	}
	b.screenshot("sessions")

	// 4. The session cookie, as the browser keeps it and as it was sent.
	session := checkSessionCookie(t, b, c, base)
	if t.Failed() {
		t.FailNow()
	}
	cookieHeader := c.cookieName + "=" + session.Value
	if resp := browserGet(t, api, base+"/api/sessions", cookieHeader); resp.status != http.StatusOK {
		t.Errorf("GET /api/sessions with the browser's cookie: %d %s", resp.status, resp.body)
	} else {
		for _, s := range stored {
			if !strings.Contains(resp.body, s.id) {
				t.Errorf("GET /api/sessions with the browser's cookie does not list %s: %s", s.id, resp.body)
			}
		}
	}

	// 5. Sign out (the header's button, a form POST): the login page.
	b.run("signing out", step,
		chromedp.Click(chromedp.CSS(logoutButton)),
		chromedp.WaitVisible(chromedp.CSS(loginLink)))
	if got, want := b.location(), base+"/login"; got != want {
		t.Errorf("after the logout the browser is at %s, want %s", got, want)
	}
	b.screenshot("signed-out")
	checkLogout(t, b, c, base)

	// 6. Refused again: the API, with the browser's (now empty) jar and
	// with the old cookie replayed, and the pages.
	if r := browserGetValue(b, "opening /api/sessions after the logout", step, chromedp.NavigateResponse(base+"/api/sessions")); r.Status != http.StatusUnauthorized {
		t.Errorf("after the logout the browser's GET /api/sessions answered %d, want 401", r.Status)
	}
	b.screenshot("api-refused")
	resp := browserGet(t, api, base+"/api/sessions", cookieHeader)
	var env401 struct {
		Reason   string `json:"reason"`
		LoginURL string `json:"login_url"`
	}
	json.Unmarshal([]byte(resp.body), &env401)
	if resp.status != http.StatusUnauthorized || env401.Reason != "invalid_or_expired_session" || env401.LoginURL != c.prefix+"/login" {
		t.Errorf("GET /api/sessions with the cookie of the ended session: %d %s, want 401, reason invalid_or_expired_session, login_url %s/login",
			resp.status, resp.body, c.prefix)
	}
	b.run("opening /sessions after the logout", step,
		chromedp.Navigate(base+"/sessions"),
		chromedp.WaitVisible(chromedp.CSS(loginLink)))
	if got, want := b.location(), base+"/login?next=%2Fsessions"; got != want {
		t.Errorf("after the logout /sessions led to %s, want %s", got, want)
	}
	b.screenshot("pages-refused")

	checkNavigation(t, b, origin, c.prefix, base)

	// What the dashboard logged: the login and the logout, never the
	// client secret nor the session id.
	// (Its stderr is copied by another goroutine: wait for the last line.)
	testenv.Eventually(t, 5*time.Second, "the dashboard to log the logout", func() bool {
		return strings.Contains(dash.stderr.String(), "auth.logout")
	})
	logs := dash.stderr.String()
	for _, ev := range []string{"auth.login.start", "auth.login.success", "auth.logout"} {
		if !strings.Contains(logs, ev) {
			t.Errorf("the dashboard logged no %s line", ev)
		}
	}
	if strings.Contains(logs, secret) || strings.Contains(logs, session.Value) {
		t.Errorf("the dashboard's log holds the client secret or the session id")
	}
	t.Logf("the browser round trip took %v; screenshots in %s", time.Since(began).Round(time.Millisecond), artifacts)
}

// checkAuthorizeRequest: the browser went to the provider's authorization
// endpoint with this client, PKCE S256, and the dashboard's public callback
// as redirect_uri.
func checkAuthorizeRequest(t *testing.T, b *browserTab, endpoint, clientID, callback string) {
	t.Helper()
	reqs, _, _ := b.traffic()
	for _, r := range reqs {
		if !strings.HasPrefix(r.url, endpoint+"?") {
			continue
		}
		u, err := url.Parse(r.url)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("redirect_uri") != callback || q.Get("client_id") != clientID || q.Get("code_challenge_method") != "S256" ||
			q.Get("response_type") != "code" || q.Get("state") == "" || q.Get("nonce") == "" {
			t.Errorf("authorization request %s: want redirect_uri=%s, client_id=%s, response_type=code, PKCE S256, a state and a nonce", r.url, callback, clientID)
		}
		return
	}
	t.Errorf("the browser never went to the authorization endpoint %s", endpoint)
}

// checkSessionCookie checks the session cookie the browser holds after the
// login and the Set-Cookie lines it received, and returns the cookie.
func checkSessionCookie(t *testing.T, b *browserTab, c browserCase, base string) *network.Cookie {
	t.Helper()
	var session *network.Cookie
	for _, ck := range b.cookies(base+"/", base+"/auth/callback") {
		switch {
		case ck.Name == c.cookieName:
			session = ck
		case strings.Contains(ck.Name, "hermes_flow"):
			t.Errorf("the login flow's cookie %s is still in the browser after the callback", ck.Name)
		case strings.Contains(ck.Name, "hermes"):
			t.Errorf("unexpected cookie %s (Path=%s) in the browser", ck.Name, ck.Path)
		}
	}
	if session == nil {
		t.Errorf("the browser holds no %s cookie after the login", c.cookieName)
		return &network.Cookie{}
	}
	if session.Value == "" || !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax ||
		session.Path != c.cookiePath || session.Domain != "127.0.0.1" || session.Session {
		t.Errorf("the browser's %s: Secure=%v HttpOnly=%v SameSite=%q Path=%q Domain=%q session-only=%v; want Secure, HttpOnly, Lax, Path=%s, host-only, Max-Age",
			session.Name, session.Secure, session.HTTPOnly, session.SameSite, session.Path, session.Domain, session.Session, c.cookiePath)
	}
	// As received: the browser's view cannot tell a Domain attribute
	// naming the host from none.
	_, lines, blocked := b.traffic()
	if len(blocked) > 0 {
		t.Errorf("the browser refused cookies: %s", blocked)
	}
	found := false
	for _, line := range lines {
		sc, err := http.ParseSetCookie(line)
		if err != nil || !strings.Contains(sc.Name, "hermes") {
			continue
		}
		wantPath := c.cookiePath
		if strings.Contains(sc.Name, "hermes_flow") {
			// Over HTTPS, with or without a prefix: __Host-, Path=/.
			wantPath = "/"
			if sc.Name != "__Host-hermes_flow" {
				t.Errorf("the login flow's cookie is %q, want __Host-hermes_flow", line)
			}
		} else if sc.Name != c.cookieName {
			t.Errorf("a session cookie under another name: %q", line)
		}
		if !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Domain != "" || sc.Path != wantPath {
			t.Errorf("Set-Cookie %q: want Secure, HttpOnly, SameSite=Lax, Path=%s, no Domain", line, wantPath)
		}
		if sc.Name == c.cookieName && sc.Value == session.Value {
			found = true
			if sc.MaxAge <= 0 {
				t.Errorf("Set-Cookie %q: want a Max-Age", line)
			}
		}
	}
	if !found {
		t.Errorf("no Set-Cookie line set the browser's %s; lines: %q", c.cookieName, lines)
	}
	return session
}

// checkLogout: the logout was a POST, it cleared the cookie with the
// attributes it was set with, and the browser holds no session cookie.
func checkLogout(t *testing.T, b *browserTab, c browserCase, base string) {
	t.Helper()
	reqs, lines, _ := b.traffic()
	posted := false
	for _, r := range reqs {
		if r.url == base+"/auth/logout" {
			posted = posted || r.method == http.MethodPost
			if r.method != http.MethodPost {
				t.Errorf("the logout was a %s, want a POST", r.method)
			}
		}
	}
	if !posted {
		t.Errorf("the browser never POSTed to %s/auth/logout", base)
	}
	cleared := false
	for _, line := range lines {
		if sc, err := http.ParseSetCookie(line); err == nil && sc.Name == c.cookieName && sc.Value == "" && sc.MaxAge < 0 {
			cleared = sc.Path == c.cookiePath && sc.Secure && sc.HttpOnly && sc.SameSite == http.SameSiteLaxMode && sc.Domain == ""
			if !cleared {
				t.Errorf("the logout cleared the cookie with other attributes: %q", line)
			}
		}
	}
	if !cleared {
		t.Errorf("the logout sent no Set-Cookie clearing %s; lines: %q", c.cookieName, lines)
	}
	for _, ck := range b.cookies(base+"/", base+"/auth/callback") {
		if strings.Contains(ck.Name, "hermes") {
			t.Errorf("after the logout the browser still holds %s (Path=%s)", ck.Name, ck.Path)
		}
	}
}

// checkNavigation: every request the browser sent to the dashboard's
// origin stayed under the prefix (a prefix of "" only asks for the
// scheme), and the round trip went through the login page, the provider's
// start, the callback and the logout.
func checkNavigation(t *testing.T, b *browserTab, origin, prefix, base string) {
	t.Helper()
	reqs, _, _ := b.traffic()
	var visited []string
	for _, r := range reqs {
		if !strings.HasPrefix(r.url, origin+"/") {
			continue
		}
		p := browserURLPath(r.url)
		if r.typ == network.ResourceTypeDocument {
			v := r.method + " " + p
			if len(v) > 100 {
				v = v[:100] + "…"
			}
			visited = append(visited, v)
		}
		// The browser's own guess at an icon is not a URL the dashboard
		// emitted.
		if p == "/favicon.ico" && r.typ == network.ResourceTypeOther {
			continue
		}
		if !strings.HasPrefix(p, prefix+"/") {
			t.Errorf("the browser requested %s %s (%s) outside %s/", r.method, r.url, r.typ, prefix)
		}
	}
	t.Logf("pages visited on %s:\n  %s", origin, strings.Join(visited, "\n  "))
	for _, want := range []string{
		"GET " + prefix + "/login?next=%2Fsessions",
		"GET " + prefix + "/auth/login?",
		"GET " + prefix + "/auth/callback?",
		"POST " + prefix + "/auth/logout",
		"GET " + prefix + "/login",
	} {
		found := false
		for _, v := range visited {
			found = found || strings.HasPrefix(v, want)
		}
		if !found {
			t.Errorf("the browser never visited %s", want)
		}
	}
}

// browserAnswer is a response read by browserGet.
type browserAnswer struct {
	status int
	body   string
}

// browserGet is a GET through nginx from Go, with a Cookie header.
func browserGet(t *testing.T, c *http.Client, u, cookie string) browserAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	return browserAnswer{resp.StatusCode, browserBody(resp.Body)}
}
