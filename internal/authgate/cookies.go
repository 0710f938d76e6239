package authgate

import (
	"net/http"
	"time"
)

// Cookie names. The session cookie is SessionCookie with a prefix that
// depends on the scheme: "__Host-hermes_session" (Path=/) over HTTPS at the
// root, "__Secure-hermes_session" (Path=<prefix>/) over HTTPS under a path
// prefix, bare "hermes_session" over plain HTTP. The flow cookie is
// "__Host-hermes_flow" with Path=/ over HTTPS, with or without a prefix (no
// other host can plant a __Host- cookie, so a login flow cannot be fixed
// from a sibling host), and "hermes_flow" with Path=<prefix>/auth/ over
// HTTP. Only the one name for the request's scheme is read.
const (
	SessionCookie = "hermes_session"
	FlowCookie    = "hermes_flow"
)

// secure is "over HTTPS": the public URL's scheme when there is one, else the
// scheme of the request (TLS, or a trusted proxy's X-Forwarded-Proto).
func (g *Gate) secure(r *http.Request) bool {
	if u := g.cfg.PublicURL; u != nil {
		return u.Scheme == "https"
	}
	return infoOf(r).https
}

func (g *Gate) sessionCookieName(secure bool) string {
	switch {
	case !secure:
		return SessionCookie
	case g.prefix == "":
		return "__Host-" + SessionCookie
	}
	return "__Secure-" + SessionCookie
}

func (g *Gate) flowCookieName(secure bool) string {
	if secure {
		return "__Host-" + FlowCookie
	}
	return FlowCookie
}

// flowCookiePath is the flow cookie's Path: "/" over HTTPS (a __Host-
// cookie's only path), the login routes' <prefix>/auth/ over HTTP.
func (g *Gate) flowCookiePath(secure bool) string {
	if secure {
		return "/"
	}
	return g.prefix + "/auth/"
}

// cookie builds the one shape of every cookie the gate sets or clears:
// HttpOnly, SameSite=Lax, Secure over HTTPS, no Domain.
func cookie(name, value, path string, secure bool, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1 // Max-Age=0: delete now
	}
	return c
}

func (g *Gate) setSessionCookie(w http.ResponseWriter, r *http.Request, id string) {
	s := g.secure(r)
	http.SetCookie(w, cookie(g.sessionCookieName(s), id, g.prefix+"/", s, g.cfg.AbsoluteTimeout))
}

// clearSessionCookie deletes the session cookie with the same attributes it
// was set with.
func (g *Gate) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	s := g.secure(r)
	http.SetCookie(w, cookie(g.sessionCookieName(s), "", g.prefix+"/", s, 0))
}

func (g *Gate) setFlowCookie(w http.ResponseWriter, r *http.Request, id string) {
	s := g.secure(r)
	http.SetCookie(w, cookie(g.flowCookieName(s), id, g.flowCookiePath(s), s, flowTTL))
}

func (g *Gate) clearFlowCookie(w http.ResponseWriter, r *http.Request) {
	s := g.secure(r)
	http.SetCookie(w, cookie(g.flowCookieName(s), "", g.flowCookiePath(s), s, 0))
}

// cookieState is what a request carries under one cookie name.
type cookieState int

const (
	cookieNone cookieState = iota
	cookieOne
	cookieDuplicate // the name appears more than once: refused, never guessed
)

// readCookie returns the value of the one cookie called name.
func readCookie(r *http.Request, name string) (string, cookieState) {
	cs := r.CookiesNamed(name)
	switch len(cs) {
	case 0:
		return "", cookieNone
	case 1:
		return cs[0].Value, cookieOne
	}
	return "", cookieDuplicate
}

// sessionFromRequest looks the request's session up. It returns the reason
// to refuse when there is none.
func (g *Gate) sessionFromRequest(r *http.Request) (Identity, reason) {
	v, st := readCookie(r, g.sessionCookieName(g.secure(r)))
	switch st {
	case cookieNone:
		return Identity{}, reasonNoCookie
	case cookieDuplicate:
		return Identity{}, reasonDuplicateCookie
	}
	ident, ok := g.sessions.get(v, g.now())
	if !ok {
		return Identity{}, reasonInvalidSession
	}
	return ident, ""
}
