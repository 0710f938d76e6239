package authgate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Provider is one way to log in: the password form, the Nous portal or an
// OpenID Connect issuer. Providers are built by FromEnv; only this package
// implements the interface.
type Provider interface {
	// Info names the provider for /api/auth/providers, /login and /api/status.
	Info() ProviderInfo
	sealed()
}

// Provider kinds (ProviderInfo.Kind).
const (
	KindPassword = "password"
	KindOAuth    = "oauth"
)

// ProviderInfo is what the dashboard may show of a provider.
type ProviderInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Kind        string `json:"kind"`
}

// oauthProvider is a provider that logs in through an authorization-code
// flow with PKCE (nous, oidc).
type oauthProvider interface {
	Provider
	// authURL returns the URL to send the browser to. It may fetch a
	// discovery document (unreachable → a loginError with reasonUnreachable).
	authURL(ctx context.Context, f *flow, redirectURI string) (string, error)
	// finish exchanges the code and verifies what comes back. The state has
	// been checked by the caller; the nonce and everything else is the
	// provider's job.
	finish(ctx context.Context, f *flow, code, redirectURI string) (Identity, error)
	// issuer is the value an RFC 9207 `iss` callback parameter must carry.
	issuer() string
}

// loginError is a failed login step with the reason that decides the answer
// (status, message and audit reason come from the one table in respond.go).
type loginError struct {
	reason reason
	err    error
}

func (e *loginError) Error() string { return string(e.reason) + ": " + e.err.Error() }
func (e *loginError) Unwrap() error { return e.err }

func failf(r reason, format string, args ...any) error {
	return &loginError{reason: r, err: fmt.Errorf(format, args...)}
}

func failWrap(r reason, what string, err error) error {
	return &loginError{reason: r, err: fmt.Errorf("%s: %w", what, err)}
}

// reasonOf extracts the reason of a login error; anything else is internal.
func reasonOf(err error) reason {
	var le *loginError
	if errors.As(err, &le) {
		return le.reason
	}
	return reasonInternal
}

// checkRedirectURI is the nous rule (reference §5.7), applied to every
// provider: http or https, and a path ending in /auth/callback.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/auth/callback") {
		return failf(reasonInternal, "redirect_uri %q is not an http(s) URL ending in /auth/callback", raw)
	}
	return nil
}

// httpTimeout bounds every call to an identity provider.
const httpTimeout = 10 * time.Second
