package authgate

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// The environment variables the gate reads (CONTRACT §7), and nothing else.
// HERMES_DASHBOARD_HOST, _PORT and _INSECURE are read by the dashboard and
// handed to FromEnv as arguments.
const (
	EnvPublicURL      = "HERMES_DASHBOARD_PUBLIC_URL"
	EnvTrustedProxies = "HERMES_DASHBOARD_TRUSTED_PROXIES"
	EnvOAuthClientID  = "HERMES_DASHBOARD_OAUTH_CLIENT_ID"
	EnvPortalURL      = "HERMES_DASHBOARD_PORTAL_URL"
	EnvUsername       = "HERMES_DASHBOARD_BASIC_AUTH_USERNAME"
	EnvPassword       = "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD"
	EnvPasswordHash   = "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD_HASH"
	EnvOIDCIssuer     = "HERMES_DASHBOARD_OIDC_ISSUER"
	EnvOIDCClientID   = "HERMES_DASHBOARD_OIDC_CLIENT_ID"
	EnvOIDCSecret     = "HERMES_DASHBOARD_OIDC_CLIENT_SECRET"
	EnvOIDCEmails     = "HERMES_DASHBOARD_OIDC_ALLOWED_EMAILS"
	EnvOIDCDomains    = "HERMES_DASHBOARD_OIDC_ALLOWED_DOMAINS"
)

// SecretEnv lists the gate's variables that hold a secret. Init withholds
// them from the services (hostenv.Withheld) and hands them to the
// dashboard's alone (dashboard.ServiceSpec).
func SecretEnv() []string { return []string{EnvPassword, EnvPasswordHash, EnvOIDCSecret} }

// DefaultPortalURL is the Nous portal used when HERMES_DASHBOARD_PORTAL_URL
// is unset or empty.
const DefaultPortalURL = "https://portal.nousresearch.com"

// Session expiry defaults (Config.IdleTimeout, Config.AbsoluteTimeout).
const (
	DefaultIdleTimeout     = time.Hour
	DefaultAbsoluteTimeout = 12 * time.Hour
)

// Config is everything the gate needs: the bind and the insecure opt-out from
// the dashboard's flags, the rest from the environment (FromEnv).
type Config struct {
	BindHost string
	BindPort int
	Insecure bool
	// PublicURL is HERMES_DASHBOARD_PUBLIC_URL parsed: scheme, host and path
	// prefix (Path without a trailing slash, "" at the root); nil when unset.
	PublicURL *url.URL
	// TrustedProxies are the peers whose forwarded headers are believed, for
	// the client IP and the scheme only (HERMES_DASHBOARD_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// Providers are the usable login providers, in the order password, nous,
	// oidc.
	Providers []Provider
	// Skipped are providers that are configured but unusable, with the reason
	// (for the refusal message and the start-up log).
	Skipped []Skip
	// Logger receives the audit lines; nil discards.
	Logger *slog.Logger
	// Now is the clock (tests inject a fake one); nil is time.Now.
	Now func() time.Time
	// IdleTimeout and AbsoluteTimeout bound a session: it ends after
	// IdleTimeout without a request, and AbsoluteTimeout after the login in
	// any case. Zero means DefaultIdleTimeout / DefaultAbsoluteTimeout.
	IdleTimeout, AbsoluteTimeout time.Duration
	// HTTPClient talks to the identity providers and the portal; nil is a
	// client with a 10 s timeout.
	HTTPClient *http.Client
}

// Skip is a configured provider that cannot be used, and why. Reason never
// contains a secret.
type Skip struct{ Provider, Reason string }

// FromEnv builds a Config from the bind, the insecure opt-out and the
// HERMES_DASHBOARD_* variables of CONTRACT §7 (it reads only those listed
// above). A provider that is configured but unusable is recorded in Skipped
// with its reason; a malformed PUBLIC_URL or TRUSTED_PROXIES is an error.
// Nothing is fetched from the network here: discovery documents and keys are
// fetched when first needed.
func FromEnv(env hostenv.Env, bindHost string, bindPort int, insecure bool) (Config, error) {
	get := func(name string) string {
		if env.Getenv == nil {
			return ""
		}
		v, _ := env.Getenv(name)
		return strings.TrimSpace(v)
	}
	cfg := Config{BindHost: bindHost, BindPort: bindPort, Insecure: insecure}
	if raw := get(EnvPublicURL); raw != "" {
		u, err := ParsePublicURL(raw)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvPublicURL, err)
		}
		cfg.PublicURL = u
	}
	if raw := get(EnvTrustedProxies); raw != "" {
		ps, err := ParseTrustedProxies(raw)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvTrustedProxies, err)
		}
		cfg.TrustedProxies = ps
	}
	add := func(p Provider, skip *Skip) {
		if skip != nil {
			cfg.Skipped = append(cfg.Skipped, *skip)
		} else if p != nil {
			cfg.Providers = append(cfg.Providers, p)
		}
	}
	// password: username with a password or a hash. The raw password is
	// not trimmed (spaces may be part of it); it is unset when empty or
	// only whitespace.
	rawPassword := ""
	if env.Getenv != nil {
		rawPassword, _ = env.Getenv(EnvPassword)
	}
	if strings.TrimSpace(rawPassword) == "" {
		rawPassword = ""
	}
	add(passwordFromEnv(get(EnvUsername), rawPassword, get(EnvPasswordHash)))
	add(nousFromEnv(get(EnvOAuthClientID), get(EnvPortalURL)))
	add(oidcFromEnv(oidcEnv{
		issuer: get(EnvOIDCIssuer), clientID: get(EnvOIDCClientID),
		secret: get(EnvOIDCSecret), emails: get(EnvOIDCEmails), domains: get(EnvOIDCDomains),
	}))
	return cfg, nil
}

// ParsePublicURL parses HERMES_DASHBOARD_PUBLIC_URL: an absolute http or
// https URL with a host, no user info, query or fragment, and a canonical
// path prefix (no dot segments, no empty segments, no escapes). The result's
// Path has no trailing slash ("" at the root) and RawPath is empty.
func ParsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("user info is not allowed")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("a query is not allowed")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("a fragment is not allowed")
	case u.Opaque != "":
		return nil, errors.New("not a hierarchical URL")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q", p)
		}
	}
	prefix := strings.TrimSuffix(u.Path, "/")
	if u.RawPath != "" || strings.Contains(u.EscapedPath(), "%") {
		return nil, errors.New("the path prefix must not contain escapes")
	}
	if prefix != "" && (path.Clean(prefix) != prefix || !strings.HasPrefix(prefix, "/")) {
		return nil, fmt.Errorf("the path prefix %q is not canonical", u.Path)
	}
	for _, c := range []byte(prefix) {
		if !isPathByte(c) {
			return nil, fmt.Errorf("the path prefix %q has a character outside [A-Za-z0-9._~/-]", u.Path)
		}
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: prefix}, nil
}

func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '~' || c == '-' || c == '/'
}

// ParseTrustedProxies parses HERMES_DASHBOARD_TRUSTED_PROXIES: CIDRs or bare
// addresses separated by commas or spaces.
func ParseTrustedProxies(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("bad CIDR %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("bad address %q: %w", f, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("no CIDR given")
	}
	return out, nil
}

// callbackBase is the origin (and prefix) that OAuth redirect_uri values are
// built from: the public URL, else http://<bind>:<port> when the bind names
// one host. It returns nil for a wildcard bind without a public URL: the
// redirect_uri then follows the request (see Gate.callbackURL).
func callbackBase(public *url.URL, bindHost string, bindPort int) *url.URL {
	if public != nil {
		return public
	}
	h := strings.Trim(strings.TrimSpace(bindHost), "[]")
	if h == "" || bindPort <= 0 {
		return nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.IsUnspecified() {
			return nil
		}
		h = a.String()
	}
	return &url.URL{Scheme: "http", Host: strings.ToLower(netJoin(h, bindPort))}
}

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}
