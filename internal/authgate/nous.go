package authgate

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// nousScope is the one scope the Nous portal grants to an agent dashboard.
const nousScope = "agent_dashboard:access"

// providerRuntime is what New hands the providers: the HTTP client, the
// clock and the logger of the gate.
type providerRuntime struct {
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
}

// keyFetches wraps a client and counts failed fetches (a transport error or a
// status other than 200), so that a failed token verification can be told
// apart: keys that could not be fetched (503) or a bad token (400).
type keyFetches struct {
	base     http.RoundTripper
	failures atomic.Uint64
}

func (k *keyFetches) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", "HermesAgent/1.0")
	resp, err := k.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		k.failures.Add(1)
	}
	return resp, err
}

func countingClient(c *http.Client) (*http.Client, *keyFetches) {
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	k := &keyFetches{base: base}
	cc := *c
	cc.Transport = k
	return &cc, k
}

// nousProvider logs in through the Nous portal: authorization code + PKCE
// S256, then the RS256 access token is verified against the portal's JWKS
// (issuer = portal URL, audience = client id, expiry, agent_instance_id,
// oauth_contract_version).
type nousProvider struct {
	clientID, instanceID, portal string
	rt                           providerRuntime
	keys                         *keyFetches
	verifier                     *oidc.IDTokenVerifier
}

func (*nousProvider) sealed() {}

// Info implements Provider.
func (*nousProvider) Info() ProviderInfo {
	return ProviderInfo{Name: "nous", DisplayName: "Nous Research", Kind: KindOAuth}
}

func (p *nousProvider) issuer() string { return p.portal }

func nousFromEnv(clientID, portal string) (Provider, *Skip) {
	if clientID == "" {
		return nil, nil
	}
	skip := func(format string, args ...any) (Provider, *Skip) {
		return nil, &Skip{Provider: "nous", Reason: fmt.Sprintf(format, args...)}
	}
	id, ok := strings.CutPrefix(clientID, "agent:")
	if !ok || id == "" || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }) {
		return skip("%s=%q does not match agent:<instance_id>", EnvOAuthClientID, clientID)
	}
	if portal == "" {
		portal = DefaultPortalURL
	}
	portal = strings.TrimRight(portal, "/")
	if err := checkIssuerURL(portal); err != nil {
		return skip("%s=%q: %v", EnvPortalURL, portal, err)
	}
	return &nousProvider{clientID: clientID, instanceID: id, portal: portal}, nil
}

// checkIssuerURL accepts https URLs, and http only for a loopback host (a
// portal or issuer on the same machine, as in tests).
func checkIssuerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("not an absolute URL without user info, query or fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && IsLoopbackHost(u.Hostname()):
		return nil
	}
	return errors.New("must be https (http only on loopback)")
}

func (p *nousProvider) withRuntime(rt providerRuntime) oauthProvider {
	c := *p
	c.rt = rt
	client, keys := countingClient(rt.client)
	c.keys = keys
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), p.portal+"/.well-known/jwks.json")
	c.verifier = oidc.NewVerifier(p.portal, ks, &oidc.Config{
		ClientID:             p.clientID,
		SupportedSigningAlgs: []string{oidc.RS256},
		Now:                  rt.now,
	})
	return &c
}

func (p *nousProvider) config(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.clientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:   p.portal + "/oauth/authorize",
			TokenURL:  p.portal + "/api/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURI,
		Scopes:      []string{nousScope},
	}
}

func (p *nousProvider) authURL(_ context.Context, f *flow, redirectURI string) (string, error) {
	if err := checkRedirectURI(redirectURI); err != nil {
		return "", err
	}
	return p.config(redirectURI).AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier)), nil
}

func (p *nousProvider) finish(ctx context.Context, f *flow, code, redirectURI string) (Identity, error) {
	ctx = oidc.ClientContext(ctx, p.rt.client)
	tok, err := p.config(redirectURI).Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return Identity{}, classifyExchange("nous", err)
	}
	if tt := tok.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") {
		return Identity{}, failf(reasonUnreachable, "nous: token_type %q is not bearer", tt)
	}
	before := p.keys.failures.Load()
	t, err := p.verifier.Verify(ctx, tok.AccessToken)
	if err != nil {
		return Identity{}, classifyVerify("nous", err, p.keys.failures.Load() != before)
	}
	var c struct {
		Subject         string          `json:"sub"`
		IssuedAt        json.Number     `json:"iat"`
		OrgID           string          `json:"org_id"`
		Email           string          `json:"email"`
		Name            string          `json:"name"`
		AgentInstanceID *string         `json:"agent_instance_id"`
		ContractVersion json.RawMessage `json:"oauth_contract_version"`
	}
	if err := t.Claims(&c); err != nil {
		return Identity{}, failWrap(reasonTokenInvalid, "nous: claims", err)
	}
	if c.Subject == "" || c.IssuedAt == "" {
		return Identity{}, failf(reasonTokenInvalid, "nous: token lacks sub or iat")
	}
	if c.AgentInstanceID != nil && subtle.ConstantTimeCompare([]byte(*c.AgentInstanceID), []byte(p.instanceID)) != 1 {
		return Identity{}, failf(reasonWrongInstance, "nous: token is for another agent instance")
	}
	switch v := strings.TrimSpace(string(c.ContractVersion)); v {
	case "":
		p.rt.log.Warn("auth.nous.contract_version_missing", "detail", "the portal's token has no oauth_contract_version; accepted as version 1")
	case "1", `"1"`:
	default:
		return Identity{}, failf(reasonContractVersion, "nous: oauth_contract_version %s is not 1", v)
	}
	return Identity{UserID: c.Subject, Email: c.Email, DisplayName: c.Name, OrgID: c.OrgID, Provider: "nous"}, nil
}

// classifyExchange maps a failed code exchange: the IdP answered 400 (a bad,
// used or expired code) → reasonInvalidCode; anything else (network, 5xx,
// a malformed answer) → reasonUnreachable.
func classifyExchange(name string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// Never wrap a RetrieveError: its text carries the response body.
		if re.Response != nil && re.Response.StatusCode == http.StatusBadRequest {
			return failf(reasonInvalidCode, "%s: the token endpoint refused the code (%q)", name, re.ErrorCode)
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return failf(reasonUnreachable, "%s: the token endpoint answered %d", name, status)
	}
	return failWrap(reasonUnreachable, name+": token endpoint", err)
}

// classifyVerify maps a failed token verification: keys that could not be
// fetched → reasonUnreachable; an expired token → reasonTokenExpired; any
// other failure (signature, issuer, audience) → reasonTokenInvalid.
func classifyVerify(name string, err error, keysFailed bool) error {
	var te *oidc.TokenExpiredError
	switch {
	case errors.As(err, &te):
		return failWrap(reasonTokenExpired, name, err)
	case keysFailed:
		return failWrap(reasonUnreachable, name+": keys", err)
	}
	return failWrap(reasonTokenInvalid, name, err)
}
