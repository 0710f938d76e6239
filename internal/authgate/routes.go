package authgate

import (
	"context"
	"crypto/subtle"
	"mime"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"
)

// maxForm bounds the password form's body.
const maxForm = 16 << 10

// ownHandler returns the gate's handler for one of its public patterns.
func (g *Gate) ownHandler(pattern string) http.HandlerFunc {
	switch pattern {
	case loginPageRoute:
		return g.serveLoginPage
	case authLoginRoute:
		return g.serveAuthLogin
	case authCallbackRoute:
		return g.serveCallback
	case passwordLoginRoute:
		return g.servePasswordLogin
	case providersRoute:
		return g.serveProviders
	case logoutRoute:
		return g.serveLogout
	}
	return nil
}

// rateOK charges the client's login bucket; false means 429 was sent.
func (g *Gate) rateOK(w http.ResponseWriter, r *http.Request) bool {
	if g.limits.allow(infoOf(r).ip, g.now()) {
		return true
	}
	g.audit(r, "auth.login.failure", reasonRateLimited)
	w.Header().Set("Retry-After", strconv.Itoa(int(loginEvery.Seconds())))
	refuseJSON(w, reasonRateLimited, "")
	return false
}

// GET /login: the server-rendered login page.
func (g *Gate) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	g.renderLogin(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
}

// GET /auth/login?provider=&next=: start an OAuth login.
func (g *Gate) serveAuthLogin(w http.ResponseWriter, r *http.Request) {
	if !g.rateOK(w, r) {
		return
	}
	if g.mode != Gated {
		g.refusePage(w, r, reasonNotFound, "")
		return
	}
	q := r.URL.Query()
	name, next := q.Get("provider"), safeNext(q.Get("next"))
	p := g.byName[name]
	if p == nil {
		g.refusePage(w, r, reasonUnknownProvider, "")
		return
	}
	op, ok := p.(oauthProvider)
	if !ok {
		redirect(w, g.loginURL(next), http.StatusFound) // the password form lives on /login
		return
	}
	callback, ok := g.callbackURL(r)
	if !ok {
		g.refusePage(w, r, reasonBadHost, name)
		return
	}
	f := &flow{provider: name, state: newID(), nonce: newID(), verifier: oauth2.GenerateVerifier(), next: next, redirect: callback, created: g.now()}
	target, err := op.authURL(r.Context(), f, f.redirect)
	if err != nil {
		g.log.Warn("auth.provider.error", "provider", name, "error", logError(err))
		g.refusePage(w, r, reasonOf(err), name)
		return
	}
	g.setFlowCookie(w, r, g.flows.put(f))
	g.audit(r, "auth.login.start", "", "provider", name)
	redirect(w, target, http.StatusFound)
}

// GET /auth/callback: finish an OAuth login. The flow is taken (and so
// deleted) first, the state compared before any network call, and the flow
// cookie cleared whatever happens. A failure never touches an existing
// session.
func (g *Gate) serveCallback(w http.ResponseWriter, r *http.Request) {
	if !g.rateOK(w, r) {
		return
	}
	if g.mode != Gated {
		g.refusePage(w, r, reasonNotFound, "")
		return
	}
	v, st := readCookie(r, g.flowCookieName(g.secure(r)))
	g.clearFlowCookie(w, r)
	if st != cookieOne {
		g.refusePage(w, r, reasonFlowMissing, "")
		return
	}
	f, ok := g.flows.take(v, g.now())
	if !ok {
		g.refusePage(w, r, reasonFlowExpired, "")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.state)) != 1 {
		g.refusePage(w, r, reasonStateMismatch, f.provider)
		return
	}
	op, ok := g.byName[f.provider].(oauthProvider)
	if !ok {
		g.refusePage(w, r, reasonUnknownProvider, f.provider)
		return
	}
	switch {
	case q.Has("error"):
		g.refusePage(w, r, reasonIdPError, f.provider)
		return
	case q.Has("iss") && q.Get("iss") != op.issuer():
		g.refusePage(w, r, reasonIssuerMismatch, f.provider)
		return
	case q.Get("code") == "":
		g.refusePage(w, r, reasonMissingCode, f.provider)
		return
	}
	ident, err := op.finish(r.Context(), f, q.Get("code"), f.redirect)
	if err != nil {
		g.log.Warn("auth.provider.error", "provider", f.provider, "error", logError(err))
		g.refusePage(w, r, reasonOf(err), f.provider)
		return
	}
	g.startSession(w, r, ident)
	redirect(w, g.URL(orRoot(safeNext(f.next))), http.StatusFound)
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// POST /auth/password-login: the password form.
func (g *Gate) servePasswordLogin(w http.ResponseWriter, r *http.Request) {
	if !g.rateOK(w, r) {
		return
	}
	if g.mode != Gated || g.password == nil {
		g.refusePage(w, r, reasonNotFound, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		g.refusePage(w, r, reasonBadForm, "password")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	username := r.PostForm.Get("username")
	account := g.password.account(username)
	if d := g.accounts.delay(account, g.now()); d > 0 {
		g.count.delayed.Add(1)
		if g.sleep(r.Context(), d) != nil {
			return // the client went away
		}
	}
	if !g.password.check(r.Context(), username, r.PostForm.Get("password")) {
		g.accounts.fail(account, g.now())
		g.audit(r, "auth.login.failure", reasonBadCredentials, "provider", "password")
		g.renderLogin(w, r, answerFor(reasonBadCredentials).status, next, answerFor(reasonBadCredentials).detail)
		return
	}
	g.startSession(w, r, Identity{UserID: g.password.username, DisplayName: g.password.username, Provider: "password"})
	redirect(w, g.URL(orRoot(next)), http.StatusSeeOther)
}

// startSession ends the session the request carried (if any) and issues a
// new id: a pre-set cookie value is never adopted.
func (g *Gate) startSession(w http.ResponseWriter, r *http.Request, ident Identity) {
	if v, st := readCookie(r, g.sessionCookieName(g.secure(r))); st == cookieOne {
		g.sessions.delete(v)
	}
	g.setSessionCookie(w, r, g.sessions.create(ident, g.now()))
	g.audit(r, "auth.login.success", "", "provider", ident.Provider, "user", ident.UserID, "email", ident.Email)
}

// POST /auth/logout: end the session, clear the cookies (same attributes as
// when set), back to the login page.
func (g *Gate) serveLogout(w http.ResponseWriter, r *http.Request) {
	if v, st := readCookie(r, g.sessionCookieName(g.secure(r))); st == cookieOne {
		g.sessions.delete(v)
	}
	g.clearSessionCookie(w, r)
	g.clearFlowCookie(w, r)
	g.audit(r, "auth.logout", "")
	target := "/login"
	if g.mode != Gated {
		target = "/"
	}
	redirect(w, g.URL(target), http.StatusSeeOther)
}

// GET /api/auth/providers.
func (g *Gate) serveProviders(w http.ResponseWriter, r *http.Request) {
	if len(g.providers) == 0 {
		refuseJSON(w, reasonNoProviders, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": g.Providers()})
}

// GET /api/auth/me (gated, behind the session check).
func (g *Gate) serveMe(w http.ResponseWriter, r *http.Request) {
	id, ok := g.Identity(r)
	if !ok {
		refuseJSON(w, reasonNotFound, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user_id": id.UserID, "email": id.Email, "display_name": id.DisplayName,
		"org_id": id.OrgID, "provider": id.Provider, "expires_at": id.ExpiresAt.Unix(),
	})
}

// logError bounds a provider error for the log. The errors are built so
// that they carry no code, token or response body (see classifyExchange).
func logError(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// waitSlot is a context-aware semaphore acquire.
func waitSlot(ctx context.Context, slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}
