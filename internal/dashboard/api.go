package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// writeJSON answers v as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal","detail":"encoding the answer failed"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// errorBody is the shape of every error the dashboard's API answers.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

func writeError(w http.ResponseWriter, code int, kind, detail string) {
	writeJSON(w, code, errorBody{Error: kind, Detail: detail})
}

// controlError maps an error of the control client to an HTTP status, a
// code and a sentence: the supervisor's own answer when it gave one, 503
// when none answers, 502 otherwise.
func controlError(err error) (code int, kind, detail string) {
	var api *control.APIError
	switch {
	case errors.As(err, &api):
		return api.Status, api.Code, api.Error()
	case errors.Is(err, control.ErrUnavailable):
		return http.StatusServiceUnavailable, "supervisor_unavailable", "no supervisor is answering: " + err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout", "the supervisor did not answer in time"
	}
	return http.StatusBadGateway, "supervisor_error", err.Error()
}

func writeControlError(w http.ResponseWriter, err error) {
	code, kind, detail := controlError(err)
	writeError(w, code, kind, detail)
}

// Paging of /api/sessions and the sessions page.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxOffset       = 1_000_000
)

// intParam parses an integer query parameter within [lo, hi]; absent
// means def.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// sessionItem is one session in a list, in the sessions API's JSON (the
// gateway's /v1/sessions gives the same): its Profile is the profile
// whose directory holds it.
type sessionItem = sessions.Item

// newSessionItem is sess of profile p as the API shows it at now.
func newSessionItem(sess sessions.Session, p string, now time.Time) sessionItem {
	it := sessions.NewItem(sess, now)
	it.Profile = p
	return it
}

// storeError names a profile whose sessions store could not be read.
type storeError struct {
	Profile string `json:"profile"`
	Error   string `json:"error"`
}

// sessionPage is one page of the sessions of every profile (or one): the
// sessions API's page, with the profile asked for and the stores that
// could not be read.
type sessionPage struct {
	sessions.Page
	Profile string       `json:"profile,omitempty"`
	Errors  []storeError `json:"errors"`
}

// errNoProfile is wrapped when a request names a profile that does not
// exist.
var errNoProfile = errors.New("no such profile")

// checkProfile makes a request's profile name a profile (profiles.Parse),
// refusing an invalid name or a profile that does not exist.
func (s *Server) checkProfile(name string) (profiles.Ref, error) {
	r, err := profiles.Parse(s.home, name)
	if err != nil {
		return profiles.Ref{}, fmt.Errorf("%w: %w", errNoProfile, err)
	}
	if !r.IsDefault() && !profiles.Exists(r) {
		return profiles.Ref{}, fmt.Errorf("%w: %s", errNoProfile, name)
	}
	return r, nil
}

// listSessions returns sessions [offset, offset+limit) of the given
// profiles, merged, the most recent activity first (ties: most recently
// started, then profile and id), each store read read-only.
func (s *Server) listSessions(ctx context.Context, refs []profiles.Ref, q string, offset, limit int) sessionPage {
	page := sessionPage{Page: sessions.Page{Query: q, Offset: offset, Limit: limit, Sessions: []sessionItem{}}, Errors: []storeError{}}
	now := s.now()
	var all []sessionItem
	for _, ref := range refs {
		p := ref.Name()
		list, err := s.readSessions(ctx, ref, q, offset+limit+1)
		if err != nil {
			page.Errors = append(page.Errors, storeError{Profile: p, Error: err.Error()})
			continue
		}
		for _, sess := range list {
			all = append(all, newSessionItem(sess, p, now))
		}
	}
	slices.SortFunc(all, func(a, b sessionItem) int {
		return cmp.Or(
			b.LastActivityAt.Compare(a.LastActivityAt),
			b.StartedAt.Compare(a.StartedAt),
			cmp.Compare(a.Profile, b.Profile),
			cmp.Compare(a.ID, b.ID),
		)
	})
	if len(all) > offset+limit {
		next := offset + limit
		page.NextOffset = &next
	}
	if offset < len(all) {
		page.Sessions = all[offset:min(len(all), offset+limit)]
	}
	return page
}

// readSessions lists up to n sessions of one profile's store, those whose
// title or messages hold q when q is set (sessions.Store.Search).
func (s *Server) readSessions(ctx context.Context, profile profiles.Ref, q string, n int) ([]sessions.Session, error) {
	st, err := sessions.OpenReadOnly(sessionsPath(profile))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if q != "" {
		return st.Search(ctx, sessions.SearchOptions{Query: q, Limit: n})
	}
	return st.List(ctx, sessions.ListOptions{Limit: n})
}

// getSession reads one session and its messages.
func (s *Server) getSession(ctx context.Context, profile, id string) (sessions.Session, []sessions.Message, error) {
	ref, err := s.checkProfile(profile)
	if err != nil {
		return sessions.Session{}, nil, err
	}
	return s.readSession(ctx, ref, id)
}

// readSession reads one session of profile and its messages.
func (s *Server) readSession(ctx context.Context, profile profiles.Ref, id string) (sessions.Session, []sessions.Message, error) {
	if err := sessions.ValidSessionID(id); err != nil {
		return sessions.Session{}, nil, fmt.Errorf("%w: %w", sessions.ErrNotFound, err)
	}
	st, err := sessions.OpenReadOnly(sessionsPath(profile))
	if err != nil {
		return sessions.Session{}, nil, err
	}
	defer st.Close()
	return st.Get(ctx, id)
}

// sessionQuery reads the profile filter, the search (q) and the paging of
// a sessions request; a search the store would refuse is refused here.
func (s *Server) sessionQuery(r *http.Request) (refs []profiles.Ref, q string, offset, limit int, err error) {
	q = r.URL.Query().Get("q")
	if q != "" {
		if strings.TrimSpace(q) == "" || len(q) > sessions.MaxQueryBytes || !utf8.ValidString(q) || strings.ContainsRune(q, 0) {
			return nil, "", 0, 0, fmt.Errorf("q: a search is 1 to %d bytes of text", sessions.MaxQueryBytes)
		}
	}
	refs, offset, limit, err = s.sessionPaging(r)
	return refs, q, offset, limit, err
}

// sessionPaging reads the profile filter and paging of a sessions request.
func (s *Server) sessionPaging(r *http.Request) (refs []profiles.Ref, offset, limit int, err error) {
	if offset, err = intParam(r, "offset", 0, 0, maxOffset); err != nil {
		return nil, 0, 0, err
	}
	if limit, err = intParam(r, "limit", defaultPageSize, 1, maxPageSize); err != nil {
		return nil, 0, 0, err
	}
	if p := r.URL.Query().Get("profile"); p != "" {
		ref, err := s.checkProfile(p)
		if err != nil {
			return nil, 0, 0, err
		}
		return []profiles.Ref{ref}, offset, limit, nil
	}
	return s.profileRefs(), offset, limit, nil
}

// apiSessions is GET /api/sessions[?profile=P][&q=TEXT][&offset=N][&limit=N]:
// the sessions of every profile (or of P), newest activity first; with q,
// those whose title or messages hold TEXT. A store that
// cannot be read is named in "errors" and the others are still listed.
func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) {
	names, q, offset, limit, err := s.sessionQuery(r)
	switch {
	case errors.Is(err, errNoProfile):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	page := s.listSessions(r.Context(), names, q, offset, limit)
	page.Profile = r.URL.Query().Get("profile")
	writeJSON(w, http.StatusOK, page)
}

// apiSession is GET /api/sessions/{profile}/{id}: one session and its
// messages, in order.
func (s *Server) apiSession(w http.ResponseWriter, r *http.Request) {
	profile, id := r.PathValue("profile"), r.PathValue("id")
	sess, msgs, err := s.getSession(r.Context(), profile, id)
	switch {
	case errors.Is(err, errNoProfile), errors.Is(err, sessions.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "store_unreadable", err.Error())
		return
	}
	if msgs == nil {
		msgs = []sessions.Message{}
	}
	writeJSON(w, http.StatusOK, sessions.Detail{Session: newSessionItem(sess, profile, s.now()), Messages: msgs})
}

// apiServices is GET /api/services: every service of the supervisor, as
// its control socket lists them.
func (s *Server) apiServices(w http.ResponseWriter, r *http.Request) {
	list, err := s.control(r.Context()).List(r.Context())
	if err != nil {
		writeControlError(w, err)
		return
	}
	if list == nil {
		list = []supervise.Status{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": list})
}

// actionTimeout bounds a start, stop or restart: the supervisor answers once
// the change is in effect, and a stop takes at most the service's grace.
const actionTimeout = 60 * time.Second

// apiServiceAction is POST /api/services/{name}/{start|stop|restart},
// through the control socket: the supervisor answers with the status the
// service ends in. A gateway started or stopped here is recorded by the
// supervisor as the operator's wish (desired_state), as from the CLI.
func (s *Server) apiServiceAction(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
		defer cancel()
		c := s.control(ctx)
		do := c.Restart
		switch verb {
		case "start":
			do = c.Start
		case "stop":
			do = c.Stop
		}
		name := r.PathValue("name")
		st, err := do(ctx, name)
		if err != nil {
			s.log.Warn("service action failed", "service", name, "action", verb, "err", err)
			writeControlError(w, err)
			return
		}
		s.log.Info("service action", "service", name, "action", verb, "state", string(st.State), "by", s.who(r))
		s.hub.poke()
		writeJSON(w, http.StatusOK, s.view(st))
	}
}

// who names the person behind a request for the log.
func (s *Server) who(r *http.Request) string {
	if id, ok := s.gate.Identity(r); ok {
		return identityName(id)
	}
	return string(s.gate.Mode())
}

// profileBody is one profile in /api/profiles.
type profileBody struct {
	Name           string      `json:"name"`
	Dir            string      `json:"dir"`
	Service        string      `json:"service"`
	Host           string      `json:"host,omitempty"`
	Port           int         `json:"port,omitempty"`
	PortError      string      `json:"port_error,omitempty"`
	Model          string      `json:"model,omitempty"`
	BaseURLHost    string      `json:"base_url_host,omitempty"`
	ConfigError    string      `json:"config_error,omitempty"`
	Gateway        gatewayJSON `json:"gateway"`
	ActiveSessions int         `json:"active_sessions"`
	SessionsError  string      `json:"sessions_error,omitempty"`
	// KeyFingerprint identifies the gateway's API_SERVER_KEY of the
	// profile's .env (profiles.Fingerprint), never the key; "" when the
	// .env sets none.
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
}

// gatewayJSON is a gateway as the gated views show it.
type gatewayJSON struct {
	State         string `json:"state"`
	Running       bool   `json:"running"`
	RecordedState string `json:"recorded_state"`
	DesiredState  string `json:"desired_state"`
	PIDLock       string `json:"pid_lock"`
	PID           *int   `json:"pid"`
	UpdatedAt     string `json:"updated_at,omitempty"`
	ExitReason    string `json:"exit_reason,omitempty"`
	StateError    string `json:"state_error,omitempty"`
}

// readProfile reads what the dashboard shows of one profile, from its own
// files.
func (s *Server) readProfile(ctx context.Context, ref profiles.Ref, now time.Time) profileBody {
	name := ref.Name()
	v := readGateway(ref)
	p := profileBody{
		Name: name, Dir: v.Dir, Service: gateway.ServiceName(name),
		Gateway: gatewayJSON{
			State: v.State, Running: v.Running, RecordedState: v.File.GatewayState, DesiredState: v.File.DesiredState,
			PIDLock: v.Lock, PID: pidOrNil(v.PID), UpdatedAt: v.File.UpdatedAt, ExitReason: v.File.ExitReason,
			StateError: stateError(v),
		},
	}
	if port, err := profiles.Port(ref); err != nil {
		p.PortError = err.Error()
	} else {
		p.Port = port
	}
	if host, err := profiles.Host(ref, s.env); err == nil {
		p.Host = host
	}
	if m, err := s.model(ref); err != nil {
		p.ConfigError = err.Error()
	} else {
		p.Model, p.BaseURLHost = m.Name, urlHost(m.BaseURL)
	}
	if d, err := profiles.LoadEnvDoc(ref); err == nil {
		if key, ok := d.Get(profiles.APIKeyVar); ok {
			p.KeyFingerprint = profiles.Fingerprint(key)
		}
	}
	n, err := s.activeSessions(ctx, ref, now)
	p.ActiveSessions = n
	if err != nil {
		p.SessionsError = err.Error()
	}
	return p
}

// readProfiles reads every profile, "default" first.
func (s *Server) readProfiles(ctx context.Context) []profileBody {
	now := s.now()
	var out []profileBody
	for _, ref := range s.profileRefs() {
		out = append(out, s.readProfile(ctx, ref, now))
	}
	return out
}

// apiProfiles is GET /api/profiles: each profile's port, model, gateway
// (read from its own files) and active sessions, with the reason of
// anything that could not be read.
func (s *Server) apiProfiles(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"profiles": s.readProfiles(r.Context())})
}

// Log streams.
const (
	defaultLogTail = 100
	maxLogTail     = 5000
	// logHeartbeat is the interval of the comment lines that keep an idle
	// stream open through proxies and find departed clients.
	logHeartbeat = 15 * time.Second
)

// apiLogStream is GET /api/logs/{service}/stream[?tail=N]: server-sent
// events of the service's log through the control socket, the last N lines
// (default 100) then every new one, one "line" event each with the JSON of
// control.LogLine as data, flushed at once. It ends when the client goes
// away or Run shuts down; when the supervisor ends it, an "end" event says
// so.
func (s *Server) apiLogStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("service")
	tail, err := intParam(r, "tail", defaultLogTail, 0, maxLogTail)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ctx, cancel := streamContext(r)
	defer cancel()
	c := s.control(ctx)
	if _, err := c.Status(ctx, name); err != nil {
		writeControlError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": hermes log stream\nretry: 3000\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}

	lines := make(chan control.LogLine)
	followed := make(chan error, 1)
	go func() {
		followed <- c.Logs(ctx, name, tail, true, func(l control.LogLine) error {
			select {
			case lines <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	tick := time.NewTicker(logHeartbeat)
	defer tick.Stop()
	for {
		var werr error
		select {
		case l := <-lines:
			b, _ := json.Marshal(l)
			_, werr = fmt.Fprintf(w, "event: line\ndata: %s\n\n", b)
		case <-tick.C:
			_, werr = fmt.Fprint(w, ": keep-alive\n\n")
		case err := <-followed:
			if ctx.Err() == nil {
				reason := "the supervisor ended the stream"
				if err != nil {
					reason = err.Error()
				}
				b, _ := json.Marshal(map[string]string{"reason": reason})
				fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
				rc.Flush()
			}
			return
		}
		if werr == nil {
			werr = rc.Flush()
		}
		if werr != nil {
			cancel() // the client is gone: end the follow, then return
			<-followed
			return
		}
	}
}
