package authgate

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakePortal is a Nous portal with its own RSA keys: an authorize endpoint
// that logs the user in at once, a token endpoint that checks PKCE and
// issues RS256 access tokens, and a JWKS.
type fakePortal struct {
	t        *testing.T
	srv      *httptest.Server
	key      *rsa.PrivateKey // in the JWKS
	rogue    *rsa.PrivateKey // not in the JWKS
	instance string

	mu     sync.Mutex
	codes  map[string]grant
	mutate func(claims map[string]any) // changes the next tokens' claims
	// signWith, when set, signs with the rogue key under the real kid.
	signWithRogue bool
	tokenType     string

	tokenDown, keysDown atomic.Bool
	tokenCalls          atomic.Int64
}

type grant struct{ challenge, redirectURI, clientID string }

var (
	portalKeyOnce sync.Once
	portalKeys    [2]*rsa.PrivateKey
)

func newFakePortal(t *testing.T, instance string) *fakePortal {
	portalKeyOnce.Do(func() {
		for i := range portalKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			portalKeys[i] = k
		}
	})
	p := &fakePortal{t: t, key: portalKeys[0], rogue: portalKeys[1], instance: instance, codes: map[string]grant{}, tokenType: "Bearer"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", p.authorize)
	mux.HandleFunc("POST /api/oauth/token", p.token)
	mux.HandleFunc("GET /.well-known/jwks.json", p.jwks)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakePortal) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("scope") != nousScope || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || !strings.HasPrefix(q.Get("client_id"), "agent:") {
		http.Error(w, "bad authorize request: "+r.URL.RawQuery, 400)
		return
	}
	code := newID()
	p.mu.Lock()
	p.codes[code] = grant{q.Get("code_challenge"), q.Get("redirect_uri"), q.Get("client_id")}
	p.mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

func (p *fakePortal) token(w http.ResponseWriter, r *http.Request) {
	p.tokenCalls.Add(1)
	if p.tokenDown.Load() {
		panic(http.ErrAbortHandler) // the connection drops
	}
	r.ParseForm()
	f := r.PostForm
	p.mu.Lock()
	g, ok := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if !ok || f.Get("grant_type") != "authorization_code" || f.Get("redirect_uri") != g.redirectURI ||
		f.Get("client_id") != g.clientID || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"invalid_grant","error_description":"code ` + f.Get("code") + ` is unknown"}`))
		return
	}
	now := time.Now()
	claims := map[string]any{
		"iss": p.srv.URL, "aud": g.clientID, "sub": "user-42", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"agent_instance_id": p.instance, "oauth_contract_version": 1, "org_id": "org-7",
	}
	p.mu.Lock()
	if p.mutate != nil {
		p.mutate(claims)
	}
	key := p.key
	if p.signWithRogue {
		key = p.rogue
	}
	tt := p.tokenType
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": p.sign(key, claims), "token_type": tt, "expires_in": 3600})
}

func (p *fakePortal) sign(key *rsa.PrivateKey, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.t.Error(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Error(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func (p *fakePortal) jwks(w http.ResponseWriter, r *http.Request) {
	if p.keysDown.Load() {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

func (p *fakePortal) set(f func(claims map[string]any)) {
	p.mu.Lock()
	p.mutate = f
	p.mu.Unlock()
}

// browser follows the IdP side of a login: GET the authorize URL and
// return the callback target (path and query) it redirects to.
func browserToIdP(t *testing.T, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %d %v", resp.StatusCode, resp.Header)
	}
	return loc.RequestURI()
}

func startNous(t *testing.T) (*testServer, *fakePortal) {
	p := newFakePortal(t, "inst-1")
	s := startGate(t, envMap{EnvOAuthClientID: "agent:inst-1", EnvPortalURL: p.srv.URL + "/"}, serverOpts{publicURL: "self"})
	return s, p
}

// nousLogin runs the whole round trip and returns the callback's answer.
func nousLogin(t *testing.T, s *testServer, next string, headers ...string) *rawResp {
	t.Helper()
	r := s.get(t, "/auth/login?provider=nous&next="+urlQ(next), headers...)
	if r.status != 302 {
		t.Fatalf("auth/login: %s", r)
	}
	var flow *http.Cookie
	for _, c := range r.cookies {
		if c.Name == FlowCookie {
			flow = c
		}
	}
	cb := browserToIdP(t, r.header.Get("Location"))
	return s.get(t, cb, append([]string{cookieHeader(flow)}, headers...)...)
}

func TestNousRoundTrip(t *testing.T) {
	s, p := startNous(t)
	r := s.get(t, "/auth/login?provider=nous")
	au, _ := url.Parse(r.header.Get("Location"))
	q := au.Query()
	if au.Scheme+"://"+au.Host+au.Path != p.srv.URL+"/oauth/authorize" || q.Get("client_id") != "agent:inst-1" ||
		q.Get("redirect_uri") != "http://"+s.addr+"/auth/callback" || q.Get("scope") != "agent_dashboard:access" ||
		q.Get("code_challenge_method") != "S256" {
		t.Errorf("authorize URL %s", au)
	}
	r = nousLogin(t, s, "/sessions")
	c := sessionOf(r)
	if r.status != 302 || r.header.Get("Location") != "/sessions" || c == nil {
		t.Fatalf("callback: %s", r)
	}
	m := decodeJSON(t, s.get(t, "/api/auth/me", cookieHeader(c)))
	if m["user_id"] != "user-42" || m["org_id"] != "org-7" || m["provider"] != "nous" {
		t.Errorf("me: %v", m)
	}
	if e := s.logs.events("auth.login.success"); len(e) != 1 || e[0]["provider"] != "nous" || e[0]["user"] != "user-42" {
		t.Errorf("success lines: %v", e)
	}
	// Missing contract version: a warning, accepted.
	p.set(func(c map[string]any) { delete(c, "oauth_contract_version") })
	if r := nousLogin(t, s, ""); sessionOf(r) == nil {
		t.Errorf("no contract version: %s", r)
	}
	if len(s.logs.events("auth.nous.contract_version_missing")) != 1 {
		t.Error("no warning for the missing contract version")
	}
	p.set(func(c map[string]any) { c["oauth_contract_version"] = "1" })
	if r := nousLogin(t, s, ""); sessionOf(r) == nil {
		t.Errorf("contract version \"1\": %s", r)
	}
	p.set(func(c map[string]any) { delete(c, "agent_instance_id") })
	if r := nousLogin(t, s, ""); sessionOf(r) == nil {
		t.Errorf("no agent_instance_id: %s", r)
	}
	for _, secret := range []string{c.Value, "code=", "access_token", "eyJ"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

func TestNousRefusesBadTokens(t *testing.T) {
	s, p := startNous(t)
	for _, c := range []struct {
		name   string
		mutate func(map[string]any)
		rogue  bool
		tt     string
		want   int
	}{
		{"wrong audience", func(c map[string]any) { c["aud"] = "agent:other" }, false, "", 400},
		{"audience without agent:", func(c map[string]any) { c["aud"] = "inst-1" }, false, "", 400},
		{"wrong issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, false, "", 400},
		{"issuer with a slash", func(c map[string]any) { c["iss"] = p.srv.URL + "/" }, false, "", 400},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, false, "", 400},
		{"no exp", func(c map[string]any) { delete(c, "exp") }, false, "", 400},
		{"no sub", func(c map[string]any) { delete(c, "sub") }, false, "", 400},
		{"no iat", func(c map[string]any) { delete(c, "iat") }, false, "", 400},
		{"wrong agent_instance_id", func(c map[string]any) { c["agent_instance_id"] = "inst-2" }, false, "", 403},
		{"empty agent_instance_id", func(c map[string]any) { c["agent_instance_id"] = "" }, false, "", 403},
		{"contract version 2", func(c map[string]any) { c["oauth_contract_version"] = 2 }, false, "", 400},
		{"contract version \"2\"", func(c map[string]any) { c["oauth_contract_version"] = "2" }, false, "", 400},
		{"contract version null", func(c map[string]any) { c["oauth_contract_version"] = nil }, false, "", 400},
		{"signed by another key", nil, true, "", 400},
		{"token type mac", nil, false, "mac", 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			p.set(c.mutate)
			p.mu.Lock()
			p.signWithRogue = c.rogue
			p.tokenType = "Bearer"
			if c.tt != "" {
				p.tokenType = c.tt
			}
			p.mu.Unlock()
			r := nousLogin(t, s, "")
			if r.status != c.want || sessionOf(r) != nil {
				t.Errorf("%s", r)
			}
		})
	}
}

// TestNousCallbackChecksComeFirst: a replayed callback or a state mismatch
// is refused before the portal is called.
func TestNousCallbackChecksComeFirst(t *testing.T) {
	s, p := startNous(t)
	r := s.get(t, "/auth/login?provider=nous")
	flow := r.cookies[0]
	cb := browserToIdP(t, r.header.Get("Location"))
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", q.Get("state")+"x")
	if r := s.get(t, "/auth/callback?"+q.Encode(), cookieHeader(flow)); r.status != 400 {
		t.Errorf("state mismatch: %s", r)
	}
	if n := p.tokenCalls.Load(); n != 0 {
		t.Errorf("the token endpoint was called %d times before the state check", n)
	}
	// The flow was used up by the mismatch: the genuine callback now fails too.
	if r := s.get(t, cb, cookieHeader(flow)); r.status != 400 {
		t.Errorf("callback after a mismatch: %s", r)
	}
	// A genuine login, then its replay.
	r = s.get(t, "/auth/login?provider=nous")
	flow = r.cookies[0]
	cb = browserToIdP(t, r.header.Get("Location"))
	if r := s.get(t, cb, cookieHeader(flow)); sessionOf(r) == nil {
		t.Fatalf("login: %s", r)
	}
	calls := p.tokenCalls.Load()
	if r := s.get(t, cb, cookieHeader(flow)); r.status != 400 || sessionOf(r) != nil {
		t.Errorf("replayed callback: %s", r)
	}
	if p.tokenCalls.Load() != calls {
		t.Error("a replayed callback reached the token endpoint")
	}
}

// TestNousPortalDown: the portal unreachable at the callback or for its
// keys → 503 and a retry page; an existing session is untouched.
func TestNousPortalDown(t *testing.T) {
	s, p := startNous(t)
	c := sessionOf(nousLogin(t, s, ""))
	if c == nil {
		t.Fatal("no first login")
	}
	p.tokenDown.Store(true)
	r := nousLogin(t, s, "", cookieHeader(c))
	if r.status != 503 || !strings.Contains(r.body, "unreachable") || !strings.Contains(r.body, "Try again") {
		t.Errorf("token endpoint down: %s", r)
	}
	if line := setCookieLine(r, SessionCookie+"="); line != "" {
		t.Errorf("the 503 touched the session cookie: %s", line)
	}
	if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 {
		t.Errorf("logged out by the outage: %s", r)
	}
	p.tokenDown.Store(false)
	// Keys unreachable: a token signed with a key id the cache lacks makes
	// the verifier fetch the JWKS, which fails.
	p.keysDown.Store(true)
	p.mu.Lock()
	p.signWithRogue = true
	p.mu.Unlock()
	if r := nousLogin(t, s, ""); r.status != 503 {
		t.Errorf("JWKS down: %s", r)
	}
	// The whole portal gone.
	p.srv.Close()
	r = s.get(t, "/auth/login?provider=nous")
	if r.status != 302 {
		t.Fatalf("auth/login needs no network for nous: %s", r)
	}
	st, _ := url.Parse(r.header.Get("Location"))
	r = s.get(t, "/auth/callback?code=x&state="+st.Query().Get("state"), cookieHeader(r.cookies[0]), cookieHeader(c))
	if r.status != 503 {
		t.Errorf("portal gone: %s", r)
	}
	if r := s.get(t, "/api/sessions", cookieHeader(c)); r.status != 200 {
		t.Errorf("logged out by the outage: %s", r)
	}
}

// TestNousOnWildcardBindWithoutPublicURL: the container default (bind
// 0.0.0.0, a nous client id, no HERMES_DASHBOARD_PUBLIC_URL) has nous; the
// redirect_uri follows the request's Host, the code exchange repeats it
// exactly (the portal checks), and a Host that is not a plain host[:port]
// is refused before anything leaves for the portal.
func TestNousOnWildcardBindWithoutPublicURL(t *testing.T) {
	p := newFakePortal(t, "inst-1")
	s := startGate(t, envMap{EnvOAuthClientID: "agent:inst-1", EnvPortalURL: p.srv.URL + "/"}, serverOpts{})
	if got := s.gate.Providers(); len(got) != 1 || got[0].Name != "nous" {
		t.Fatalf("providers = %+v, want nous", got)
	}
	r := s.get(t, "/auth/login?provider=nous")
	au, _ := url.Parse(r.header.Get("Location"))
	if got, want := au.Query().Get("redirect_uri"), "http://"+s.addr+"/auth/callback"; r.status != 302 || got != want {
		t.Fatalf("redirect_uri = %q (%s), want %q from the request's Host", got, r, want)
	}
	if r := nousLogin(t, s, "/sessions"); sessionOf(r) == nil {
		t.Fatalf("login through the request-derived redirect_uri: %s", r)
	}
	for _, host := range []string{"evil.example.com/x", "a@evil.example.com", "evil.example.com\\", "evil%2fexample"} {
		calls := p.tokenCalls.Load()
		r := s.get(t, "/auth/login?provider=nous", "Host: "+host)
		if r.status == 302 && strings.Contains(r.header.Get("Location"), "evil") {
			t.Errorf("Host %q: redirected with it: %s", host, r)
		}
		if p.tokenCalls.Load() != calls {
			t.Errorf("Host %q reached the portal", host)
		}
	}
}
