package authgate

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// oidcProvider logs in through any OpenID Connect issuer: discovery on first
// use, authorization code + PKCE S256, state, nonce (checked here: go-oidc
// does not), and an allowlist of verified emails or their domains.
type oidcProvider struct {
	issuerURL, clientID, secret string
	emails, domains             map[string]bool
	rt                          providerRuntime
	client                      *http.Client
	keys                        *keyFetches

	mu       sync.Mutex // guards prov and verifier, set once discovery worked
	prov     *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func (*oidcProvider) sealed() {}

// Info implements Provider.
func (p *oidcProvider) Info() ProviderInfo {
	name := "OpenID Connect"
	if u, err := url.Parse(p.issuerURL); err == nil && u.Host != "" {
		name += " (" + u.Host + ")"
	}
	return ProviderInfo{Name: "oidc", DisplayName: name, Kind: KindOAuth}
}

func (p *oidcProvider) issuer() string { return p.issuerURL }

type oidcEnv struct{ issuer, clientID, secret, emails, domains string }

func oidcFromEnv(e oidcEnv) (Provider, *Skip) {
	if e == (oidcEnv{}) {
		return nil, nil
	}
	skip := func(format string, args ...any) (Provider, *Skip) {
		return nil, &Skip{Provider: "oidc", Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case e.issuer == "":
		return skip("%s is not set", EnvOIDCIssuer)
	case e.clientID == "":
		return skip("%s is not set", EnvOIDCClientID)
	}
	if err := checkIssuerURL(e.issuer); err != nil {
		return skip("%s=%q: %v", EnvOIDCIssuer, e.issuer, err)
	}
	p := &oidcProvider{issuerURL: e.issuer, clientID: e.clientID, secret: e.secret,
		emails: map[string]bool{}, domains: map[string]bool{}}
	for _, f := range splitList(e.emails) {
		if _, _, ok := parseEmail(f); !ok {
			return skip("%s: %q is not a plain email address", EnvOIDCEmails, f)
		}
		p.emails[strings.ToLower(f)] = true
	}
	for _, f := range splitList(e.domains) {
		d := strings.ToLower(strings.TrimPrefix(f, "@"))
		if !validDomain(d) {
			return skip("%s: %q is not a domain name", EnvOIDCDomains, f)
		}
		p.domains[d] = true
	}
	if len(p.emails) == 0 && len(p.domains) == 0 {
		return skip("neither %s nor %s is set: every account of the issuer could log in", EnvOIDCEmails, EnvOIDCDomains)
	}
	return p, nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func (p *oidcProvider) withRuntime(rt providerRuntime) oauthProvider {
	c := &oidcProvider{issuerURL: p.issuerURL, clientID: p.clientID, secret: p.secret,
		emails: p.emails, domains: p.domains, rt: rt}
	c.client, c.keys = countingClient(rt.client)
	return c
}

// discover fetches the discovery document once; a failure is retried on the
// next login (reasonUnreachable → 503 and a retry page).
func (p *oidcProvider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prov != nil {
		return p.prov, p.verifier, nil
	}
	prov, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.issuerURL)
	if err != nil {
		return nil, nil, failWrap(reasonUnreachable, "oidc: discovery", err)
	}
	p.prov = prov
	p.verifier = prov.VerifierContext(oidc.ClientContext(context.Background(), p.client),
		&oidc.Config{ClientID: p.clientID, Now: p.rt.now})
	return p.prov, p.verifier, nil
}

func (p *oidcProvider) config(prov *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.clientID, ClientSecret: p.secret, Endpoint: prov.Endpoint(),
		RedirectURL: redirectURI, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

func (p *oidcProvider) authURL(ctx context.Context, f *flow, redirectURI string) (string, error) {
	if err := checkRedirectURI(redirectURI); err != nil {
		return "", err
	}
	prov, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.config(prov, redirectURI).AuthCodeURL(f.state,
		oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)), nil
}

func (p *oidcProvider) finish(ctx context.Context, f *flow, code, redirectURI string) (Identity, error) {
	prov, verifier, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := p.config(prov, redirectURI).Exchange(oidc.ClientContext(ctx, p.rt.client), code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return Identity{}, classifyExchange("oidc", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, failf(reasonTokenInvalid, "oidc: the token response has no id_token")
	}
	before := p.keys.failures.Load()
	t, err := verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, classifyVerify("oidc", err, p.keys.failures.Load() != before)
	}
	if subtle.ConstantTimeCompare([]byte(t.Nonce), []byte(f.nonce)) != 1 {
		return Identity{}, failf(reasonNonceMismatch, "oidc: nonce mismatch")
	}
	var c emailClaims
	if err := t.Claims(&c); err != nil {
		return Identity{}, failWrap(reasonTokenInvalid, "oidc: claims", err)
	}
	if c.Email == "" {
		// Many issuers put the email in the UserInfo answer only (OIDC Core
		// 5.4); it must be about the same subject.
		ui, err := prov.UserInfo(oidc.ClientContext(ctx, p.rt.client), oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, failWrap(reasonUnreachable, "oidc: userinfo", err)
		}
		if ui.Subject != t.Subject {
			return Identity{}, failf(reasonTokenInvalid, "oidc: userinfo is about another subject")
		}
		name := c.Name
		c = emailClaims{}
		if err := ui.Claims(&c); err != nil {
			return Identity{}, failWrap(reasonTokenInvalid, "oidc: userinfo claims", err)
		}
		if c.Name == "" {
			c.Name = name
		}
	}
	if !p.allowed(c.Email, string(c.EmailVerified)) {
		return Identity{}, failf(reasonNotAllowed, "oidc: account not in the allowlist")
	}
	return Identity{UserID: t.Subject, Email: strings.ToLower(c.Email), DisplayName: c.Name, Provider: "oidc"}, nil
}

// emailClaims are the claims the allowlist reads, from the ID token or
// the UserInfo answer.
type emailClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	Name          string          `json:"name"`
}

// allowed: a verified (email_verified is the JSON literal true), strictly
// parsed email that is listed, or whose domain is listed exactly
// (subdomains are not included).
func (p *oidcProvider) allowed(email, verified string) bool {
	if strings.TrimSpace(verified) != "true" {
		return false
	}
	_, domain, ok := parseEmail(email)
	if !ok {
		return false
	}
	return p.emails[strings.ToLower(email)] || p.domains[domain]
}

// parseEmail accepts only a bare address local@domain: one @, a dot-atom
// local part of printable ASCII, a domain of LDH labels. The domain is
// returned lower-cased.
func parseEmail(s string) (local, domain string, ok bool) {
	if len(s) > 254 || strings.Count(s, "@") != 1 {
		return "", "", false
	}
	local, domain, _ = strings.Cut(s, "@")
	if local == "" || len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", "", false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0) {
			return "", "", false
		}
	}
	domain = strings.ToLower(domain)
	if !validDomain(domain) {
		return "", "", false
	}
	return local, domain, true
}

// validDomain: dot-separated labels of letters, digits and hyphens, 1-63
// bytes each, no leading or trailing hyphen.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
