package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/buildinfo"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// The pages, each rendered inside web/templates/layout.html.
const (
	pageOverview = "overview"
	pageSessions = "sessions"
	pageSession  = "session"
	pageLogs     = "logs"
	pageError    = "error"
	// pageConfigName is the config page.
	pageConfigName = "config"
	// pageProfilesName is the profiles page.
	pageProfilesName = "profiles"
	// pageSecretsName is the secrets page.
	pageSecretsName = "secrets"
)

// parsePages parses the layout with each page's template; urlOf is the
// gate's URL (every link, form action and script URL goes through it).
func parsePages(urlOf func(string) string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"url":  urlOf,
		"path": pathOf,
		"ago":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"exact": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"bytes":      humanBytes,
		"statusText": http.StatusText,
		"sentence":   sentence,
	}
	out := map[string]*template.Template{}
	for _, name := range []string{pageOverview, pageSessions, pageSession, pageLogs, pageError, pageConfigName, pageProfilesName, pageSecretsName} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/templates/layout.html", "web/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: page %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// pathOf joins path segments, each escaped, into an absolute path:
// path "api" "services" name "start" → /api/services/<name>/start.
func pathOf(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// page is what the layout shows around a page's content.
type page struct {
	Title   string
	Nav     string
	Mode    string
	Version string
	Commit  string
	// Token is the per-process token of open-local mode, which the page's
	// script sends as X-Hermes-Session-Token; "" in the other modes.
	Token string
	// User names the signed-in person (gated mode); "" when nobody is.
	User string
	// Warning is shown in a banner on every page (open-insecure).
	Warning string
	// Body is the page's own data.
	Body any
}

// render writes a page: HTML from the embedded templates, every URL
// through the gate (so that a path prefix is kept), never cached, framed
// by nobody, with only the dashboard's own scripts and styles allowed.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, body any) {
	p := page{Title: title, Nav: name, Mode: string(s.gate.Mode()), Version: buildinfo.Version(), Commit: buildinfo.Short(), Body: body}
	switch s.gate.Mode() {
	case authgate.OpenLocal:
		p.Token = s.gate.LocalToken()
	case authgate.OpenInsecure:
		p.Warning = "This dashboard is open to anyone who can reach it: no login is required (--insecure or HERMES_DASHBOARD_INSECURE)."
	}
	if id, ok := s.gate.Identity(r); ok {
		p.User = identityName(id)
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	securityHeaders(h)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// contentSecurityPolicy allows the pages nothing but the dashboard's own
// scripts, styles, images and API: no inline script or style (the pages
// have none: every script and stylesheet is an embedded file), no plugin,
// no framing, forms only to the dashboard.
const contentSecurityPolicy = "default-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every answer of the dashboard carries.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// noRoute answers a request no route takes: 404 (405 with Allow when the
// path has routes for other methods), as JSON under /api/, else as the
// error page.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	rec := &statusOnly{header: http.Header{}}
	s.mux.ServeHTTP(rec, r) // the mux's own verdict: 404, or 405 and Allow
	code := rec.code
	if code == 0 || code < 400 {
		code = http.StatusNotFound
	}
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, code, strings.ToLower(strings.ReplaceAll(http.StatusText(code), " ", "_")), r.Method+" "+r.URL.Path+": "+http.StatusText(code))
		return
	}
	msg := "There is no page at " + r.URL.Path + "."
	if code == http.StatusMethodNotAllowed {
		msg = r.URL.Path + " does not take " + r.Method + "."
	}
	s.renderError(w, r, code, msg)
}

// statusOnly records the status and headers of the mux's fallback answer
// and drops its body.
type statusOnly struct {
	header http.Header
	code   int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

// sentence makes a summary of the table of keys a sentence: a capital
// first letter and a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// humanBytes is a size for a person: 512 B, 3.4 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// identityName is how a signed-in person is named on the pages and in the
// log.
func identityName(id authgate.Identity) string {
	for _, v := range []string{id.DisplayName, id.Email, id.UserID} {
		if v != "" {
			return v
		}
	}
	return "signed in"
}

// errorPage is the body of the error page.
type errorPage struct {
	Code    int
	Message string
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, pageError, http.StatusText(code), errorPage{Code: code, Message: msg})
}

// pageOverview is GET /: the gateways of every profile, the services with
// their buttons, and the active sessions, as /api/events pushes them (the
// page's script keeps it up to date from there).
func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pageOverview, "Overview", s.snapshot(r.Context()))
}

// listServices lists the supervisor's services for a page; the error is a
// sentence for the page.
func (s *Server) listServices(ctx context.Context) ([]supervise.Status, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := s.control(ctx).List(ctx)
	if err != nil {
		_, _, detail := controlError(err)
		return nil, detail
	}
	return list, ""
}

// sessionsView is the body of the sessions page.
type sessionsView struct {
	sessionPage
	Profiles []string
	Prev     *int
}

// pageSessions is GET /sessions[?profile=P][&offset=N]: the sessions of
// every profile (or one), newest activity first, with paging.
func (s *Server) pageSessions(w http.ResponseWriter, r *http.Request) {
	names, q, offset, limit, err := s.sessionQuery(r)
	switch {
	case errors.Is(err, errNoProfile):
		s.renderError(w, r, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	v := sessionsView{sessionPage: s.listSessions(r.Context(), names, q, offset, limit), Profiles: s.profileList()}
	v.Profile = r.URL.Query().Get("profile")
	if offset > 0 {
		prev := max(0, offset-limit)
		v.Prev = &prev
	}
	s.render(w, r, http.StatusOK, pageSessions, "Sessions", v)
}

// sessionView is the body of a session's page.
type sessionView struct {
	Profile  string
	Session  sessions.Session
	Active   bool
	Messages []sessions.Message
}

// pageSession is GET /sessions/{profile}/{id}: one session's messages.
func (s *Server) pageSession(w http.ResponseWriter, r *http.Request) {
	profile, id := r.PathValue("profile"), r.PathValue("id")
	sess, msgs, err := s.getSession(r.Context(), profile, id)
	switch {
	case errors.Is(err, errNoProfile), errors.Is(err, sessions.ErrNotFound):
		s.renderError(w, r, http.StatusNotFound, "There is no session "+id+" in profile "+profile+".")
		return
	case err != nil:
		s.renderError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	s.render(w, r, http.StatusOK, pageSession, sess.Title, sessionView{Profile: profile, Session: sess, Active: sess.Active(s.now()), Messages: msgs})
}

// logsView is the body of the logs page.
type logsView struct {
	Services []supervise.Status
	Error    string
	Selected string
}

// pageLogs is GET /logs[?service=NAME]: a service picker and the live tail
// of the chosen service's log (the page's script follows
// /api/logs/{service}/stream).
func (s *Server) pageLogs(w http.ResponseWriter, r *http.Request) {
	v := logsView{Selected: r.URL.Query().Get("service")}
	v.Services, v.Error = s.listServices(r.Context())
	if v.Selected == "" && len(v.Services) > 0 {
		v.Selected = v.Services[0].Name
		for _, st := range v.Services {
			if st.Name == gateway.ServiceName(profiles.Default) {
				v.Selected = st.Name
			}
		}
	}
	s.render(w, r, http.StatusOK, pageLogs, "Logs", v)
}
