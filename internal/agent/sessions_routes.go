// The sessions API over HTTP, behind the gateway's key: the profile's
// sessions listed and searched, shown, renamed or ended, deleted and
// exported, in the JSON of the sessions package (the dashboard's
// /api/sessions gives the same), and the size cap's refusal of new turns.

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// ErrStoreFull: the sessions store is at sessions.max_bytes and nothing
// could be pruned (507).
var ErrStoreFull = errors.New("insufficient storage")

// sessionRoutes are the routes of the sessions API.
func (a *Agent) sessionRoutes() []route {
	return []route{
		{Route{Name: "sessions", Pattern: "GET /v1/sessions", Access: API}, a.listSessions},
		{Route{Name: "session", Pattern: "GET /v1/sessions/{session_id}", Access: API}, a.getSession},
		{Route{Name: "session_update", Pattern: "PATCH /v1/sessions/{session_id}", Access: API}, a.updateSession},
		{Route{Name: "session_delete", Pattern: "DELETE /v1/sessions/{session_id}", Access: API}, a.deleteSession},
		{Route{Name: "session_export", Pattern: "GET /v1/sessions/{session_id}/export", Access: API}, a.exportSession},
	}
}

// needStore is the 503 of the sessions routes on a gateway without a
// store. With one, it waits for the chat turns queued before the request
// (storeChatTurn), so that a client reads every turn it was answered.
func (a *Agent) needStore(ctx context.Context) error {
	if a.store == nil {
		return fail(ErrUnavailable, "no_store", "the gateway of profile %s keeps no sessions store", a.profile)
	}
	if err := a.store.Flush(ctx); err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}

// storeError maps an error of the sessions store to its answer.
func (a *Agent) storeError(err error, param string) error {
	var fe *sessions.FullError
	switch {
	case errors.As(err, &fe):
		return fail(ErrStoreFull, "sessions_store_full", "the sessions store of profile %s is full: it holds %d bytes and %s is %d, and no ended session is left to prune; raise it (hermes -p %s config set %s N, then hermes -p %s gateway restart) or delete sessions (hermes -p %s sessions prune)",
			a.profile, fe.Size, profiles.KeySessionsMaxBytes, fe.Max, a.profile, profiles.KeySessionsMaxBytes, a.profile, a.profile)
	case errors.Is(err, sessions.ErrInvalid):
		e := fail(ErrBadRequest, "invalid_request", "%s", strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": "))
		e.param = param
		return e
	case errors.Is(err, sessions.ErrNotFound):
		return fail(ErrNotFound, "session_not_found", "%s", err.Error())
	}
	return err
}

// admitTurn refuses a new turn with 507 when the store is at its size cap
// and pruning the ended sessions made no room (sessions.Store.Admit). It
// is asked before the upstream is.
func (a *Agent) admitTurn(ctx context.Context) error {
	if a.store == nil {
		return nil
	}
	if err := a.store.Admit(ctx); err != nil {
		return a.storeError(err, "")
	}
	return nil
}

// sessionOf reads the path's session of this profile: a session id that
// is not valid, unknown, or recorded by another profile is a 404.
func (a *Agent) sessionOf(r *http.Request) (sessions.Detail, error) {
	if err := a.needStore(r.Context()); err != nil {
		return sessions.Detail{}, err
	}
	id := r.PathValue("session_id")
	notFound := a.noSession(id)
	if sessions.ValidSessionID(id) != nil {
		return sessions.Detail{}, notFound
	}
	d, err := a.store.Show(r.Context(), id)
	if errors.Is(err, sessions.ErrNotFound) || err == nil && d.Session.Profile != a.profile {
		return sessions.Detail{}, notFound
	}
	return d, err
}

// noSession is the 404 of a session id that is unknown or another
// profile's (the same answer for both).
func (a *Agent) noSession(id string) error {
	return fail(ErrNotFound, "session_not_found", "profile %s has no session %s", a.profile, shorten(id, 200))
}

// ownSession refuses a turn whose X-Hermes-Session-Id (given) names a
// session another profile recorded, with the 404 of an unknown session: a
// store may hold another profile's rows (hermes profile create
// --clone-all copies state.db), and a turn is never read from nor written
// into them. A session not recorded yet is this profile's to start. It is
// asked before the upstream is.
func (a *Agent) ownSession(ctx context.Context, sid string, given bool) error {
	if !given || a.store == nil {
		return nil
	}
	err := a.store.CheckSession(ctx, a.profile, sid)
	if errors.Is(err, sessions.ErrNotFound) {
		return a.noSession(sid)
	}
	if err != nil {
		return fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
	}
	return nil
}

// intQuery reads a whole-number query parameter, def when absent.
func intQuery(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badField(name, "%s=%q is not a whole number", name, shorten(v, 50))
	}
	return n, nil
}

// listSessions is GET /v1/sessions[?q=TEXT][&offset=N][&limit=N]: a page
// of the profile's sessions, newest activity first, those whose title or
// messages hold q when it is given (matched literally).
func (a *Agent) listSessions(w http.ResponseWriter, r *http.Request) error {
	if err := a.needStore(r.Context()); err != nil {
		return err
	}
	offset, err := intQuery(r, "offset", 0)
	if err != nil {
		return err
	}
	limit, err := intQuery(r, "limit", sessions.DefaultPageSize)
	if err != nil {
		return err
	}
	if limit == 0 {
		return badField("limit", "limit must be from 1 to %d", sessions.MaxPageSize)
	}
	q := r.URL.Query()
	if q.Has("q") && q.Get("q") == "" {
		return badField("q", "q is empty: leave it out to list every session")
	}
	page, err := a.store.ListPage(r.Context(), sessions.PageOptions{Query: q.Get("q"), Offset: offset, Limit: limit, Profile: a.profile, Now: a.now()})
	if err != nil {
		return a.storeError(err, "")
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// getSession is GET /v1/sessions/{session_id}: the session and its
// messages.
func (a *Agent) getSession(w http.ResponseWriter, r *http.Request) error {
	d, err := a.sessionOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// sessionPatch is the body of PATCH /v1/sessions/{session_id}.
type sessionPatch struct {
	// Title renames the session.
	Title *string `json:"title"`
	// Ended: true ends the session (it stays, resumable: its next turn
	// reopens it).
	Ended *bool `json:"ended"`
}

// updateSession is PATCH /v1/sessions/{session_id} {"title": "…"} and/or
// {"ended": true}: it answers the session as it is then.
func (a *Agent) updateSession(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.sessionOf(r); err != nil {
		return err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	var p sessionPatch
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || !isObject(body) {
		return fail(ErrBadRequest, "invalid_request", "the body must be a JSON object such as {\"title\": \"a new title\"} or {\"ended\": true}: %s", shorten(fmt.Sprint(err), 200))
	}
	if p.Title == nil && p.Ended == nil {
		return fail(ErrBadRequest, "invalid_request", "nothing to change: send {\"title\": \"…\"} or {\"ended\": true}")
	}
	if p.Ended != nil && !*p.Ended {
		return badField("ended", "a session cannot be un-ended: its next turn reopens it")
	}
	id := r.PathValue("session_id")
	if p.Title != nil {
		if _, err := sessions.CheckTitle(*p.Title); err != nil {
			return a.storeError(err, "title")
		}
		if _, err := a.store.Rename(r.Context(), id, *p.Title); err != nil {
			return a.storeError(err, "title")
		}
	}
	if p.Ended != nil {
		if err := a.store.EndSession(r.Context(), id); err != nil {
			return a.storeError(err, "")
		}
	}
	d, err := a.sessionOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Session)
	return nil
}

// deletedSession is the answer of DELETE /v1/sessions/{session_id}.
type deletedSession struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// deleteSession is DELETE /v1/sessions/{session_id}: the session, its
// messages and its responses are gone.
func (a *Agent) deleteSession(w http.ResponseWriter, r *http.Request) error {
	d, err := a.sessionOf(r)
	if err != nil {
		return err
	}
	if err := a.store.Delete(r.Context(), d.Session.ID); err != nil {
		return a.storeError(err, "")
	}
	writeJSON(w, http.StatusOK, deletedSession{ID: d.Session.ID, Object: "session.deleted", Deleted: true})
	return nil
}

// exportSession is GET /v1/sessions/{session_id}/export?format=json|markdown
// (json when absent): the session as a file to keep.
func (a *Agent) exportSession(w http.ResponseWriter, r *http.Request) error {
	format := sessions.FormatJSON
	if v := r.URL.Query().Get("format"); v != "" {
		f, err := sessions.ParseFormat(v)
		if err != nil {
			return a.storeError(err, "format")
		}
		format = f
	}
	d, err := a.sessionOf(r)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := sessions.Export(&b, d, format); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+d.Session.ID+format.Ext()+`"`)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
	return nil
}
