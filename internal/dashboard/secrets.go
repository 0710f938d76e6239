package dashboard

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// The secrets of a profile's .env from the browser (?profile=NAME, default
// "default"): GET /api/env lists every variable with is_set,
// redacted_value, description, category and is_password, never a stored
// value (profiles.EnvVars); PUT /api/env {"key","value"} and DELETE
// /api/env {"key"} write the file through profiles.EnvSet and EnvUnset
// (the CLI's own: comments and order kept, 0600, as the hermes uid, under
// the profiles lock); POST /api/env/reveal {"key"} answers one value. A
// write and a reveal need a login less than 5 minutes old, are refused in
// open-insecure mode, and are audited (the name, never the value); reveals
// are rate-limited.

// Reveal limits: per person (or per mode when nobody signs in) and in all.
const (
	revealsPerPerson = 5
	revealWindow     = time.Minute
	revealsInAll     = 30
)

// revealLimiter counts reveals over a sliding window.
type revealLimiter struct {
	mu   sync.Mutex
	seen map[string][]time.Time
	all  []time.Time
}

func newRevealLimiter() *revealLimiter { return &revealLimiter{seen: map[string][]time.Time{}} }

// allow reports whether who may reveal one more value at now, and counts
// it when so.
func (l *revealLimiter) allow(who string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := func(ts []time.Time) []time.Time {
		out := ts[:0]
		for _, t := range ts {
			if now.Sub(t) < revealWindow {
				out = append(out, t)
			}
		}
		return out
	}
	l.all = keep(l.all)
	mine := keep(l.seen[who])
	if len(mine) >= revealsPerPerson || len(l.all) >= revealsInAll {
		l.seen[who] = mine
		return false
	}
	l.seen[who] = append(mine, now)
	l.all = append(l.all, now)
	for k, v := range l.seen {
		if len(v) == 0 {
			delete(l.seen, k)
		}
	}
	return true
}

// envRequest is the body of PUT, DELETE and reveal.
type envRequest struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// secretGuard refuses a secret's write or reveal that this dashboard may
// not do: any in open-insecure mode, any without a recent login.
func (s *Server) secretGuard(w http.ResponseWriter, r *http.Request, what, profile, key string) bool {
	if s.gate.Mode() == authgate.OpenInsecure {
		s.audit(r, "env.refused", "profile", profile, "key", key, "why", "open-insecure")
		writeError(w, http.StatusForbidden, "insecure", what+" is refused on a dashboard open without a login (--insecure); configure a login, or use hermes env on the container")
		return false
	}
	if err := s.needRecentLogin(r, what); err != nil {
		s.audit(r, "env.refused", "profile", profile, "key", key, "why", "login too old")
		writeReauth(w, s.gate, err)
		return false
	}
	return true
}

// envError maps an error of the .env functions to a status.
func envError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, profiles.ErrEnvName):
		writeError(w, http.StatusBadRequest, "invalid_name", err.Error())
	case errors.Is(err, profiles.ErrEnvNotSet):
		writeError(w, http.StatusNotFound, "not_set", err.Error())
	case errors.Is(err, profiles.ErrEnvSyntax):
		writeError(w, http.StatusConflict, "env_unparsable", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "env_failed", err.Error())
	}
}

// apiEnvList is GET /api/env?profile=NAME.
func (s *Server) apiEnvList(w http.ResponseWriter, r *http.Request) {
	ref, err := s.profileParam(r)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	profile := ref.Name()
	vars, err := profiles.EnvVars(ref)
	if err != nil {
		envError(w, err)
		return
	}
	if vars == nil {
		vars = []profiles.EnvVar{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"profile": profile, "path": profiles.EnvPath(ref), "vars": vars})
}

// envTarget reads the profile and the body of a .env request, refusing a
// bad name with 400 before anything else.
func (s *Server) envTarget(w http.ResponseWriter, r *http.Request) (profile profiles.Ref, req envRequest, ok bool) {
	profile, err := s.profileParam(r)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return profiles.Ref{}, req, false
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be {"key": NAME} (and "value" to set it)`)
		return profiles.Ref{}, req, false
	}
	if err := profiles.CheckEnvName(req.Key); err != nil {
		envError(w, err)
		return profiles.Ref{}, req, false
	}
	return profile, req, true
}

// varOf is the listed variable name of profile's .env.
func (s *Server) varOf(profile profiles.Ref, name string) profiles.EnvVar {
	vars, _ := profiles.EnvVars(profile)
	for _, v := range vars {
		if v.Name == name {
			return v
		}
	}
	return profiles.EnvVar{Name: name}
}

// apiEnvSet is PUT /api/env?profile=NAME {"key", "value"}.
func (s *Server) apiEnvSet(w http.ResponseWriter, r *http.Request) {
	ref, req, ok := s.envTarget(w, r)
	if !ok {
		return
	}
	profile := ref.Name()
	if req.Value == nil {
		writeError(w, http.StatusBadRequest, "bad_request", `PUT needs {"key": NAME, "value": VALUE}`)
		return
	}
	if !s.secretGuard(w, r, "setting "+req.Key, profile, req.Key) {
		return
	}
	if err := profiles.EnvSet(ref, req.Key, *req.Value); err != nil {
		envError(w, err)
		return
	}
	s.audit(r, "env.set", "profile", profile, "key", req.Key)
	writeJSON(w, http.StatusOK, s.varOf(ref, req.Key))
}

// apiEnvDelete is DELETE /api/env?profile=NAME {"key"}.
func (s *Server) apiEnvDelete(w http.ResponseWriter, r *http.Request) {
	ref, req, ok := s.envTarget(w, r)
	if !ok {
		return
	}
	profile := ref.Name()
	if !s.secretGuard(w, r, "removing "+req.Key, profile, req.Key) {
		return
	}
	if err := profiles.EnvUnset(ref, req.Key); err != nil {
		envError(w, err)
		return
	}
	s.audit(r, "env.unset", "profile", profile, "key", req.Key)
	writeJSON(w, http.StatusOK, map[string]any{"key": req.Key, "is_set": false})
}

// apiEnvReveal is POST /api/env/reveal?profile=NAME {"key"}: one value,
// at most revealsPerPerson a minute per person, revealsInAll in all.
func (s *Server) apiEnvReveal(w http.ResponseWriter, r *http.Request) {
	ref, req, ok := s.envTarget(w, r)
	if !ok {
		return
	}
	profile := ref.Name()
	if !s.secretGuard(w, r, "revealing "+req.Key, profile, req.Key) {
		return
	}
	if !s.reveals.allow(s.who(r), s.now()) {
		s.audit(r, "env.reveal.limited", "profile", profile, "key", req.Key)
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many values revealed in the last minute; wait a minute")
		return
	}
	d, err := profiles.LoadEnvDoc(ref)
	if err != nil {
		envError(w, err)
		return
	}
	v, set := d.Get(req.Key)
	if !set {
		writeError(w, http.StatusNotFound, "not_set", req.Key+" is not set in "+d.Path)
		return
	}
	s.audit(r, "env.reveal", "profile", profile, "key", req.Key)
	writeJSON(w, http.StatusOK, map[string]any{"key": req.Key, "value": v})
}

// secretsView is the body of the secrets page.
type secretsView struct {
	Profile  string
	Profiles []string
	Path     string
	Vars     []profiles.EnvVar
	Error    string
	Insecure bool
}

// pageSecrets is GET /secrets?profile=NAME: the variables of the profile's
// .env, masked, with their Reveal, Set and Remove buttons.
func (s *Server) pageSecrets(w http.ResponseWriter, r *http.Request) {
	profile, err := s.profileParam(r)
	if err != nil {
		s.renderError(w, r, http.StatusNotFound, err.Error())
		return
	}
	v := secretsView{Profile: profile.Name(), Profiles: s.profileList(), Path: profiles.EnvPath(profile), Insecure: s.gate.Mode() == authgate.OpenInsecure}
	if v.Vars, err = profiles.EnvVars(profile); err != nil {
		v.Error = err.Error()
	}
	s.render(w, r, http.StatusOK, pageSecretsName, "Secrets", v)
}
