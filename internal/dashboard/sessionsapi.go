package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// The sessions from the browser, on the sessions API (the same JSON as
// the gateway's /v1/sessions and hermes sessions --json): rename, delete
// and export one session; the list's search is GET /api/sessions?q=.

// writeTimeout bounds a change of a sessions store.
const writeTimeout = 10 * time.Second

// sessionTarget checks {profile}/{id} of a request and opens the
// profile's store for writing (the store must exist: nothing is created).
func (s *Server) sessionTarget(w http.ResponseWriter, r *http.Request) (*sessions.Store, string, string, bool) {
	profile, id := r.PathValue("profile"), r.PathValue("id")
	ref, err := s.checkProfile(profile)
	if err == nil {
		_, _, err = s.readSession(r.Context(), ref, id)
	}
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNoProfile) || errors.Is(err, sessions.ErrNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, "not_found", err.Error())
		return nil, "", "", false
	}
	st, err := sessions.Open(sessionsPath(ref), sessions.Options{Clock: s.now})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "store_unwritable", err.Error())
		return nil, "", "", false
	}
	return st, profile, id, true
}

// apiSessionRename is PATCH /api/sessions/{profile}/{id} {"title"}: the
// title by sessions.CheckTitle's rule (400 with its reason otherwise).
func (s *Server) apiSessionRename(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title string `json:"title"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be {"title": TEXT}`)
		return
	}
	if _, err := sessions.CheckTitle(req.Title); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_title", err.Error())
		return
	}
	st, profile, id, ok := s.sessionTarget(w, r)
	if !ok {
		return
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	sess, err := st.Rename(ctx, id, req.Title)
	if err != nil {
		writeSessionError(w, err)
		return
	}
	s.audit(r, "session.rename", "profile", profile, "session", id)
	writeJSON(w, http.StatusOK, newSessionItem(sess, profile, s.now()))
}

// apiSessionDelete is DELETE /api/sessions/{profile}/{id}.
func (s *Server) apiSessionDelete(w http.ResponseWriter, r *http.Request) {
	st, profile, id, ok := s.sessionTarget(w, r)
	if !ok {
		return
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := st.Delete(ctx, id); err != nil {
		writeSessionError(w, err)
		return
	}
	s.audit(r, "session.delete", "profile", profile, "session", id)
	s.hub.poke()
	writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "profile": profile})
}

// apiSessionExport is GET /api/sessions/{profile}/{id}/export?format=json|markdown:
// the session as a file to save (sessions.Export).
func (s *Server) apiSessionExport(w http.ResponseWriter, r *http.Request) {
	format, err := sessions.ParseFormat(cmpOr(r.URL.Query().Get("format"), "json"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	profile, id := r.PathValue("profile"), r.PathValue("id")
	ref, err := s.checkProfile(profile)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	if err := sessions.ValidSessionID(id); err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	st, err := sessions.OpenReadOnly(sessionsPath(ref))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "store_unreadable", err.Error())
		return
	}
	defer st.Close()
	d, err := st.Show(r.Context(), id)
	if err != nil {
		writeSessionError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id+format.Ext()))
	sessions.Export(w, d, format)
}

// writeSessionError maps an error of the sessions API to a status.
func writeSessionError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, sessions.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "store_error", err.Error())
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
