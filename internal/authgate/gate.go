package authgate

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Gate is the login gate of one dashboard process. Build it with New, declare
// the app's routes with Register, and serve Handler(app).
type Gate struct {
	cfg    Config
	mode   Mode
	log    *slog.Logger
	now    func() time.Time
	prefix string // the public URL's path prefix, "" at the root
	base   *url.URL
	// publicHost is the public URL's host:port (port made explicit), the one
	// Host that page and login routes accept in gated and open-insecure
	// mode; "" when there is no public URL.
	publicHost string

	providers []Provider // usable in this mode (none in the open modes)
	byName    map[string]Provider
	password  *passwordProvider

	sessions   *sessionStore
	flows      *flowStore
	limits     *limiter
	accounts   *accountBudget
	localToken string
	cop        *http.CrossOriginProtection
	// sleep waits out an account's delay (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error
	count counters

	mu     sync.Mutex // guards routes and bearer
	routes []RouteDecl
	// bearer are the paths AdmitBearer lets through on a bearer token.
	bearer map[string]func(*http.Request) bool
}

// RouteDecl is one declared route: its ServeMux pattern and whether it is in
// the public table. Owner is "gate" for the login routes the gate mounts and
// "app" for the routes declared with Register.
type RouteDecl struct {
	Pattern string
	Public  bool
	Owner   string
}

// Identity is the signed-in user of a gated request.
type Identity struct {
	UserID, Email, DisplayName, OrgID, Provider string
	// ExpiresAt is when the session ends if it stays idle (never after its
	// absolute expiry).
	ExpiresAt time.Time
	// LoginAt is when the session's login happened (the dashboard asks
	// for a recent one before a sensitive change).
	LoginAt time.Time
}

// RefuseError is New's answer to a gated mode without a usable provider; the
// dashboard exits 78 (EX_CONFIG) on it, binding nothing.
type RefuseError struct {
	Host string
	// PublicURL is the configured public URL ("" when unset).
	PublicURL string
	Skipped   []Skip
}

// Error is the CONTRACT §7 message: it starts "Refusing to bind dashboard to
// <host>", names each configured-but-skipped provider with its reason, says
// how to configure one, and mentions --insecure.
func (e *RefuseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Refusing to bind dashboard to %s", e.Host)
	if e.PublicURL != "" {
		fmt.Fprintf(&b, " (public URL %s)", e.PublicURL)
	}
	b.WriteString(": the login gate engages on a non-loopback bind or with HERMES_DASHBOARD_PUBLIC_URL, but no auth provider is usable.\n")
	if len(e.Skipped) > 0 {
		b.WriteString("Configured providers that cannot be used:\n")
		for _, s := range e.Skipped {
			fmt.Fprintf(&b, "  • %s: %s\n", s.Provider, s.Reason)
		}
	}
	b.WriteString("Configure one of:\n")
	fmt.Fprintf(&b, "  • password: %s with %s or %s (bcrypt or argon2id)\n", EnvUsername, EnvPassword, EnvPasswordHash)
	fmt.Fprintf(&b, "  • nous: %s=agent:<instance_id> and %s (portal: %s, default %s)\n", EnvOAuthClientID, EnvPublicURL, EnvPortalURL, DefaultPortalURL)
	fmt.Fprintf(&b, "  • oidc: %s, %s, %s, %s or %s, and %s\n", EnvOIDCIssuer, EnvOIDCClientID, EnvOIDCSecret, EnvOIDCEmails, EnvOIDCDomains, EnvPublicURL)
	b.WriteString("or pass --insecure (HERMES_DASHBOARD_INSECURE=1) to serve the dashboard without a login.")
	return b.String()
}

// New decides the mode once (DecideMode), logs it, and builds the gate. In
// gated mode without a usable provider it returns a *RefuseError.
func New(cfg Config) (*Gate, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: httpTimeout}
	}
	publicURL := ""
	if cfg.PublicURL != nil {
		publicURL = cfg.PublicURL.String()
	}
	g := &Gate{
		cfg:      cfg,
		mode:     DecideMode(cfg.BindHost, publicURL, cfg.Insecure),
		log:      cfg.Logger,
		now:      cfg.Now,
		sessions: newSessionStore(cfg.IdleTimeout, cfg.AbsoluteTimeout),
		flows:    newFlowStore(),
		limits:   newLimiter(loginEvery, loginBurst, maxNetworks),
		accounts: newAccountBudget(accountBurst, accountEvery, accountMaxDelay, maxAccounts),
		sleep:    sleep,
		byName:   map[string]Provider{},
		cop:      http.NewCrossOriginProtection(),
	}
	if u := cfg.PublicURL; u != nil {
		g.prefix = strings.TrimSuffix(u.Path, "/")
		g.publicHost = hostPort(u.Host, u.Scheme)
		if err := g.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("public URL origin: %w", err)
		}
	}
	g.base = callbackBase(cfg.PublicURL, cfg.BindHost, cfg.BindPort)
	g.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.audit(r, "auth.denied", reasonCrossOrigin)
		refuseJSON(w, reasonCrossOrigin, "")
	}))

	attrs := []any{"mode", string(g.mode), "bind", cfg.BindHost, "public_url", publicURL}
	switch g.mode {
	case Gated:
		rt := providerRuntime{client: cfg.HTTPClient, now: cfg.Now, log: cfg.Logger}
		for _, p := range cfg.Providers {
			switch p := p.(type) {
			case *passwordProvider:
				g.password = p
			case interface {
				withRuntime(providerRuntime) oauthProvider
			}:
				g.addProvider(p.withRuntime(rt))
				continue
			}
			g.addProvider(p)
		}
		for _, s := range cfg.Skipped {
			g.log.Warn("auth.provider.skipped", "provider", s.Provider, "reason", s.Reason)
		}
		if len(g.providers) == 0 {
			err := &RefuseError{Host: cfg.BindHost, PublicURL: publicURL, Skipped: slices.Clone(cfg.Skipped)}
			g.log.Error("auth.mode.refused", append(attrs, "skipped", len(cfg.Skipped))...)
			return nil, err
		}
		g.log.Info("auth.mode", append(attrs, "providers", strings.Join(g.providerNames(), ","))...)
	case OpenInsecure:
		g.log.Warn("auth.mode", append(attrs, "warning",
			"the dashboard is served WITHOUT A LOGIN on a non-loopback bind or public URL (--insecure / HERMES_DASHBOARD_INSECURE); anyone who can reach it controls this agent")...)
	case OpenLocal:
		g.localToken = newID()
		if len(cfg.Providers) > 0 {
			attrs = append(attrs, "note", "login providers are configured but unused on a loopback bind without HERMES_DASHBOARD_PUBLIC_URL")
		}
		g.log.Info("auth.mode", attrs...)
	}
	for _, p := range gateRoutes() {
		g.routes = append(g.routes, RouteDecl{Pattern: p, Public: isPublicPattern(p), Owner: "gate"})
	}
	return g, nil
}

func (g *Gate) addProvider(p Provider) {
	g.providers = append(g.providers, p)
	g.byName[p.Info().Name] = p
}

func (g *Gate) providerNames() []string {
	var out []string
	for _, p := range g.providers {
		out = append(out, p.Info().Name)
	}
	return out
}

// Mode returns the mode decided at New.
func (g *Gate) Mode() Mode { return g.mode }

// Providers lists the usable providers (none outside gated mode) for
// /api/auth/providers, /login and /api/status.
func (g *Gate) Providers() []ProviderInfo {
	out := []ProviderInfo{}
	for _, p := range g.providers {
		out = append(out, p.Info())
	}
	return out
}

// Register declares one route pattern of the app (a Go 1.22 ServeMux
// pattern, e.g. "GET /api/sessions/{id}") and whether it is public. It
// panics, at start-up, when a pattern declared public is not in the public
// table, when a pattern of the table is declared gated, or when the pattern
// is one the gate mounts itself: the table is the one list.
func (g *Gate) Register(pattern string, public bool) {
	inTable := isPublicPattern(pattern)
	switch {
	case slices.Contains(gateRoutes(), pattern):
		panic(fmt.Sprintf("authgate: %q is mounted by the gate itself; the app must not register it", pattern))
	case public && !inTable:
		panic(fmt.Sprintf("authgate: %q is declared public but is not in the public table (CONTRACT §7): %s", pattern, strings.Join(publicPatterns(), ", ")))
	case !public && inTable:
		panic(fmt.Sprintf("authgate: %q is in the public table but declared gated", pattern))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.routes = append(g.routes, RouteDecl{Pattern: pattern, Public: public, Owner: "app"})
}

// Routes returns every declared route: the gate's own, then the app's.
func (g *Gate) Routes() []RouteDecl {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.routes)
}

// PublicPatterns returns the one public table.
func (g *Gate) PublicPatterns() []string { return publicPatterns() }

type ctxKey int

const identityKey ctxKey = 0

// Identity returns the signed-in user of a gated request. It is never set on
// a public route, nor outside gated mode.
func (g *Gate) Identity(r *http.Request) (Identity, bool) {
	id, ok := r.Context().Value(identityKey).(Identity)
	return id, ok
}

// LocalToken is the per-process token of open-local mode that the page
// carries in X-Hermes-Session-Token; "" in the other modes.
func (g *Gate) LocalToken() string { return g.localToken }

// URL returns the URL the dashboard emits for an origin-relative path: the
// public URL's path prefix + path ("/login" → "/hermes/login" under
// https://example.com/hermes). Every link, form action, redirect and SSE URL
// goes through it.
func (g *Gate) URL(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return g.prefix + p
}

// callbackURL is the OAuth redirect_uri of a login that r starts: under the
// public URL, or the bind when it names one host; without either (a
// wildcard bind and no HERMES_DASHBOARD_PUBLIC_URL) it follows the
// request's Host, with https only from the request's own TLS or a trusted
// proxy. The provider checks it against the client's registered URIs, and
// the flow keeps it, so the code exchange repeats exactly what the start
// sent. A Host that is not a plain host[:port] is refused.
func (g *Gate) callbackURL(r *http.Request) (string, bool) {
	if g.base != nil {
		return g.base.Scheme + "://" + g.base.Host + g.base.Path + "/auth/callback", true
	}
	host := strings.ToLower(r.Host)
	if host == "" || strings.ContainsAny(host, "/\\@?#%") || strings.ContainsFunc(host, func(c rune) bool { return c <= ' ' || c >= 0x7f }) {
		return "", false
	}
	u, err := url.Parse("http://" + host)
	if err != nil || u.Host != host || u.User != nil || u.Path != "" {
		return "", false
	}
	scheme := "http"
	if g.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + host + "/auth/callback", true
}

// sweepEvery is how often Run drops expired sessions, flows and idle rate
// limit entries.
const sweepEvery = time.Minute

// Run sweeps expired sessions, login flows and rate-limit entries until ctx
// is done, then returns nil.
func (g *Gate) Run(ctx context.Context) error {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			now := g.now()
			g.sessions.sweep(now)
			g.flows.sweep(now)
			g.limits.sweep(now)
			g.accounts.sweep(now)
		}
	}
}

// ConfigureServer sets what the gate needs of the dashboard's http.Server:
// no built-in "OPTIONS *" answer (nothing answers before the gate) and
// bounded header reads. Call it before ListenAndServe.
func (g *Gate) ConfigureServer(s *http.Server) {
	s.DisableGeneralOptionsHandler = true
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = 10 * time.Second
	}
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = 64 << 10
	}
}

// hostPort lower-cases host and makes its port explicit (the scheme's
// default when absent), for comparing Host headers.
func hostPort(host, scheme string) string {
	host = strings.ToLower(host)
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = strings.Trim(host, "[]"), "80"
		if scheme == "https" {
			p = "443"
		}
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return ""
	}
	return net.JoinHostPort(strings.TrimSuffix(h, "."), p)
}

func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
