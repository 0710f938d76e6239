package authgate

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const infoKey ctxKey = 1

// infoOf returns the clientInfo the audit layer stored for the request.
func infoOf(r *http.Request) clientInfo {
	ci, _ := r.Context().Value(infoKey).(clientInfo)
	return ci
}

// Handler wraps the dashboard's app with the whole pipeline, outermost first:
//
//  1. request audit: client address (trusted proxies only), a debug access
//     line per request;
//  2. Host check: open-local accepts only loopback names on every route (DNS
//     rebinding); with a public URL, page and login routes keep to its host
//     (GET/HEAD elsewhere → 302 to the public URL, other methods → 400),
//     while the public API answers any Host (the portal probes by IP);
//  3. the cross-origin check on every state-changing request: the Origin's
//     scheme and port against the dashboard's own (withOriginScheme), then
//     http.CrossOriginProtection;
//  4. the gate: the public table first, on the raw request path; then the
//     mode's check (gated: the session; open-local: the token on /api/*);
//  5. the login routes the gate mounts itself, then app.
func (g *Gate) Handler(app http.Handler) http.Handler {
	gate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serveGate(w, r, app) })
	return g.withAudit(g.withHostCheck(g.withOriginScheme(g.cop.Handler(gate))))
}

// withOriginScheme refuses a state-changing request whose Origin is not
// the dashboard's own origin, scheme and port included: the public URL's,
// or without one the request's own scheme (TLS, or a trusted proxy's
// X-Forwarded-Proto) with its Host. net/http's CrossOriginProtection, which
// follows, compares the Origin's host with Host only, so that a page
// served over plain http on the same host would pass where the browser
// sends no Sec-Fetch-Site. A Sec-Fetch-Site of same-origin or none is the
// browser's own verdict, scheme included; an Origin that is not a URL
// with a host is left to CrossOriginProtection.
func (g *Gate) withOriginScheme(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.originSchemeOK(r) {
			g.audit(r, "auth.denied", reasonCrossOrigin)
			refuseJSON(w, reasonCrossOrigin, "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gate) originSchemeOK(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	}
	o, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || o.Host == "" {
		return true
	}
	scheme, host := "http", r.Host
	if g.secure(r) {
		scheme = "https"
	}
	if u := g.cfg.PublicURL; u != nil {
		scheme, host = u.Scheme, u.Host
	}
	return strings.EqualFold(o.Scheme, scheme) && hostPort(o.Host, scheme) == hostPort(host, scheme)
}

// statusWriter records the status for the access line. It keeps Flush and
// Hijack (SSE, WebSocket) reachable, directly and through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() { http.NewResponseController(s.ResponseWriter).Flush() }

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (g *Gate) withAudit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = r.WithContext(context.WithValue(r.Context(), infoKey, g.client(r)))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		g.log.Debug("http.request", "method", r.Method, "path", logPath(r), "status", sw.status,
			"ip", infoOf(r).ip.String(), "duration", time.Since(start))
	})
}

// logPath is what the logs show of a request target: the path only (never
// the query, which may carry a code or a state), bounded.
func logPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return p
}

func (g *Gate) withHostCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case g.mode == OpenLocal:
			if !IsLoopbackHost(hostOnly(r.Host)) {
				g.audit(r, "auth.denied", reasonBadHost)
				refuseJSON(w, reasonBadHost, "")
				return
			}
		case g.publicHost != "" && hostPort(r.Host, g.cfg.PublicURL.Scheme) != g.publicHost:
			if pat, ok := matchPublic(r.Method, r.RequestURI); ok && strings.HasPrefix(pat, "GET /api/") {
				break // the public API answers any Host
			}
			g.audit(r, "auth.denied", reasonBadHost)
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				target := safeNext(r.RequestURI)
				if target == "" {
					target = "/"
				}
				u := g.cfg.PublicURL
				redirect(w, u.Scheme+"://"+u.Host+g.URL(target), http.StatusFound)
				return
			}
			refuseJSON(w, reasonBadHost, "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOnly strips the port and brackets of a Host header.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

func redirect(w http.ResponseWriter, location string, status int) {
	noStore(w)
	w.Header().Set("Location", location)
	w.WriteHeader(status)
}

// rawPath is the request target's path as it was on the request line.
func rawPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	return p
}

func (g *Gate) serveGate(w http.ResponseWriter, r *http.Request, app http.Handler) {
	raw := rawPath(r)
	if pat, ok := matchPublic(r.Method, r.RequestURI); ok && r.URL.Path == raw {
		if h := g.ownHandler(pat); h != nil {
			h(w, r)
			return
		}
		app.ServeHTTP(w, r)
		return
	}
	if allow := ownAllow(r.Method, raw); allow != "" && g.mode == Gated {
		w.Header().Set("Allow", allow)
		g.audit(r, "auth.denied", reasonMethod)
		refuseJSON(w, reasonMethod, "")
		return
	}
	if g.admitsBearer(r, raw) {
		app.ServeHTTP(w, r)
		return
	}
	api := isAPIPath(r.URL.Path, raw)
	switch g.mode {
	case OpenLocal:
		if api {
			tok := r.Header.Get("X-Hermes-Session-Token")
			if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok == "" {
				tok = strings.TrimSpace(b)
			}
			if tok == "" {
				g.audit(r, "auth.denied", reasonNoToken)
				refuseJSON(w, reasonNoToken, "")
				return
			}
			if !tokenEqual(tok, g.localToken) {
				g.audit(r, "auth.denied", reasonBadToken)
				refuseJSON(w, reasonBadToken, "")
				return
			}
		}
	case Gated:
		ident, why := g.sessionFromRequest(r)
		if why != "" {
			g.denySession(w, r, why, api || g.bearerPath(raw))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), identityKey, ident))
	}
	if raw == "/api/auth/me" && r.URL.Path == raw && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		g.serveMe(w, r)
		return
	}
	app.ServeHTTP(w, r)
}

// denySession refuses a gated request without a valid session: /api/* and
// every method but GET/HEAD get the 401 JSON envelope, page GETs a 302 to the
// login page with the request as next. A cookie that was sent but is not a
// live session is cleared.
func (g *Gate) denySession(w http.ResponseWriter, r *http.Request, why reason, api bool) {
	g.audit(r, "auth.denied", why)
	if why != reasonNoCookie {
		g.clearSessionCookie(w, r)
	}
	if !api && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		redirect(w, g.loginURL(safeNext(r.RequestURI)), http.StatusFound)
		return
	}
	refuseJSON(w, why, g.URL("/login"))
}

// loginURL is the login page with a (safe) next.
func (g *Gate) loginURL(next string) string {
	if next == "" {
		return g.URL("/login")
	}
	return g.URL("/login") + "?next=" + url.QueryEscape(next)
}

// ownAllow is the Allow header when raw is a path the gate serves and method
// is not the route's; "" otherwise.
func ownAllow(method, raw string) string {
	for _, p := range gateRoutes() {
		m, pp := splitPattern(p)
		if pp != raw || method == m || (m == http.MethodGet && method == http.MethodHead) {
			continue
		}
		if m == http.MethodGet {
			return "GET, HEAD"
		}
		return m
	}
	return ""
}

// audit writes one audit line: the event, the fixed reason, the client
// address, the method and the path (never the query, a cookie or a token).
func (g *Gate) audit(r *http.Request, event string, why reason, attrs ...any) {
	g.countEvent(event, why, attrs)
	base := []any{"reason", string(why), "ip", infoOf(r).ip.String(), "method", r.Method, "path", logPath(r)}
	g.log.Info(event, append(base, attrs...)...)
}
