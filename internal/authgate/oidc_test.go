package authgate

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// realOP is a real OpenID provider on loopback: zitadel/oidc's example OP
// (discovery, JWKS, code flow with PKCE S256, a login form, UserInfo).
type realOP struct {
	issuer string
	down   atomic.Bool // answer 503 to everything
}

// startOIDC starts the OP and a gate whose oidc provider points at it, with
// the client registered for the gate's callback. extra adds variables
// (the allowlists).
func startOIDC(t *testing.T, extra envMap) (*testServer, *realOP) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	op := &realOP{issuer: "http://" + ln.Addr().String()}
	clientID := "hermes-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	env := extra.with(EnvOIDCIssuer, op.issuer, EnvOIDCClientID, clientID, EnvOIDCSecret, "s3cret-of-the-client")
	s := startGate(t, env, serverOpts{publicURL: "self"})
	storage.RegisterClients(storage.WebClient(clientID, "s3cret-of-the-client", "http://"+s.addr+"/auth/callback"))
	router := exampleop.SetupServer(op.issuer, storage.NewStorage(storage.NewUserStore(op.issuer)), nil, false)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		router.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s, op
}

// opLogin plays the browser at the OP: follow its redirects, fill in its
// login form, and return the callback target it sends back to the gate.
func opLogin(t *testing.T, authURL, callbackPrefix, user, pass string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := authURL
	for i := 0; i < 10; i++ {
		if strings.HasPrefix(next, callbackPrefix) {
			u, _ := url.Parse(next)
			return u.RequestURI()
		}
		resp, err := c.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode/100 != 3 {
			t.Fatalf("OP %s: %d", next, resp.StatusCode)
		}
		if loc.Path == "/login/username" {
			id := loc.Query().Get("authRequestID")
			resp, err = c.PostForm(loc.Scheme+"://"+loc.Host+"/login/username", url.Values{"username": {user}, "password": {pass}, "id": {id}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("OP login form: %d", resp.StatusCode)
			}
			loc, _ = resp.Request.URL.Parse(resp.Header.Get("Location"))
		}
		next = loc.String()
	}
	t.Fatalf("no callback after 10 redirects")
	return ""
}

// oidcLogin runs a whole login as user and returns the callback's answer.
func oidcLogin(t *testing.T, s *testServer, op *realOP, user, next string) *rawResp {
	t.Helper()
	r := s.get(t, "/auth/login?provider=oidc&next="+urlQ(next))
	if r.status != 302 {
		t.Fatalf("auth/login: %s", r)
	}
	au, _ := url.Parse(r.header.Get("Location"))
	if q := au.Query(); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" ||
		!strings.Contains(q.Get("scope"), "openid") || q.Get("redirect_uri") != "http://"+s.addr+"/auth/callback" {
		t.Errorf("authorize URL: %s", au)
	}
	if !strings.HasPrefix(au.String(), op.issuer+"/") {
		t.Errorf("authorize URL %s is not at the issuer %s", au, op.issuer)
	}
	cb := opLogin(t, au.String(), "http://"+s.addr+"/auth/callback", user, "verysecure")
	return s.get(t, cb, cookieHeader(r.cookies[0]))
}

func opUser(op *realOP) string { u, _ := url.Parse(op.issuer); return "test-user@" + u.Hostname() }

func TestOIDCAllowedEmail(t *testing.T) {
	s, op := startOIDC(t, envMap{EnvOIDCEmails: "Test-User@zitadel.ch"})
	r := oidcLogin(t, s, op, opUser(op), "/sessions")
	c := sessionOf(r)
	if r.status != 302 || r.header.Get("Location") != "/sessions" || c == nil {
		t.Fatalf("callback: %s", r)
	}
	m := decodeJSON(t, s.get(t, "/api/auth/me", cookieHeader(c)))
	if m["email"] != "test-user@zitadel.ch" || m["provider"] != "oidc" || m["user_id"] != "id1" || m["display_name"] != "Test User" {
		t.Errorf("me: %v", m)
	}
	// Another account of the same issuer is not on the list: 403.
	r = oidcLogin(t, s, op, "test-user2", "")
	if r.status != 403 || sessionOf(r) != nil {
		t.Errorf("a user not in the allowlist: %s", r)
	}
	if e := s.logs.events("auth.login.failure"); len(e) != 1 || e[0]["reason"] != "not_allowed" {
		t.Errorf("failure lines: %v", e)
	}
	if strings.Contains(s.logs.String(), "s3cret-of-the-client") {
		t.Error("the client secret is in the log")
	}
}

func TestOIDCAllowedDomains(t *testing.T) {
	for _, c := range []struct {
		domains string
		want    int
	}{
		{"zitadel.ch", 302},
		{"example.com, zitadel.ch", 302},
		{"@ZITADEL.ch", 302},
		{"example.com", 403},
		{"ch", 403},             // no suffix match
		{"sub.zitadel.ch", 403}, // nor the other way
		{"itadel.ch", 403},
	} {
		t.Run(c.domains, func(t *testing.T) {
			s, op := startOIDC(t, envMap{EnvOIDCDomains: c.domains})
			if r := oidcLogin(t, s, op, "test-user2", ""); r.status != c.want || (sessionOf(r) != nil) != (c.want == 302) {
				t.Errorf("%s", r)
			}
		})
	}
}

// TestOIDCNonce: the ID token's nonce must be the flow's (go-oidc does not
// check it; the gate does).
func TestOIDCNonce(t *testing.T) {
	s, op := startOIDC(t, envMap{EnvOIDCDomains: "zitadel.ch"})
	r := s.get(t, "/auth/login?provider=oidc")
	// Swap the nonce the gate expects, as if the ID token had been minted
	// for another login.
	s.gate.flows.mu.Lock()
	for _, f := range s.gate.flows.m {
		f.nonce = newID()
	}
	s.gate.flows.mu.Unlock()
	cb := opLogin(t, r.header.Get("Location"), "http://"+s.addr+"/auth/callback", opUser(op), "verysecure")
	r = s.get(t, cb, cookieHeader(r.cookies[0]))
	if r.status != 400 || sessionOf(r) != nil {
		t.Errorf("nonce mismatch: %s", r)
	}
	if e := s.logs.events("auth.login.failure"); len(e) != 1 || e[0]["reason"] != "nonce_mismatch" {
		t.Errorf("failure lines: %v", e)
	}
}

// TestOIDCDiscoveryOnFirstUse: nothing is fetched at start; an unreachable
// issuer gives 503 and a retry, and the next attempt works.
func TestOIDCDiscoveryOnFirstUse(t *testing.T) {
	s, op := startOIDC(t, envMap{EnvOIDCDomains: "zitadel.ch"})
	op.down.Store(true)
	r := s.get(t, "/auth/login?provider=oidc")
	if r.status != 503 || !strings.Contains(r.body, "/auth/login?provider=oidc") || len(r.cookies) != 0 {
		t.Errorf("issuer down: %s", r)
	}
	op.down.Store(false)
	if r := oidcLogin(t, s, op, opUser(op), ""); sessionOf(r) == nil {
		t.Errorf("after the issuer came back: %s", r)
	}
	// Down at the callback: 503, never a login.
	r = s.get(t, "/auth/login?provider=oidc")
	cb := opLogin(t, r.header.Get("Location"), "http://"+s.addr+"/auth/callback", opUser(op), "verysecure")
	op.down.Store(true)
	if r := s.get(t, cb, cookieHeader(r.cookies[0])); r.status != 503 {
		t.Errorf("issuer down at the callback: %s", r)
	}
}

func TestOIDCAllowlistParsing(t *testing.T) {
	p := &oidcProvider{emails: map[string]bool{"alice@example.com": true}, domains: map[string]bool{"corp.example": true}}
	for _, c := range []struct {
		email, verified string
		want            bool
	}{
		{"alice@example.com", "true", true},
		{"Alice@Example.com", "true", true},
		{"bob@corp.example", "true", true},
		{"alice@example.com", "false", false},
		{"alice@example.com", "", false},
		{"alice@example.com", `"true"`, false},
		{"alice@example.com", "1", false},
		{"bob@sub.corp.example", "true", false},
		{"bob@corp.example.evil.com", "true", false},
		{"alice@example.com@evil.com", "true", false},
		{"evil@evil.com@corp.example", "true", false},
		{"Alice <alice@example.com>", "true", false},
		{"alice@example.com ", "true", false},
		{" alice@example.com", "true", false},
		{"alice@example.com\n", "true", false},
		{"\"alice\"@example.com", "true", false},
		{"alice@[127.0.0.1]", "true", false},
		{"alice@", "true", false},
		{"@corp.example", "true", false},
		{".bob@corp.example", "true", false},
		{"bo..b@corp.example", "true", false},
		{"bob@corp..example", "true", false},
		{"bob@-corp.example", "true", false},
		{"", "true", false},
	} {
		if got := p.allowed(c.email, c.verified); got != c.want {
			t.Errorf("allowed(%q, %s) = %v, want %v", c.email, c.verified, got, c.want)
		}
	}
}
