package dashboard

import (
	"context"
	"path/filepath"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// readGateway reads the gateway of profile from its own files (its state
// file and its pid lock, gateway.Observe has the rule): never through a
// "current" profile (the reference did, and showed a running gateway as
// STOPPED: its #23457), and without the supervisor's view, which /api/status
// does not wait for.
func readGateway(profile profiles.Ref) gateway.Observation {
	return gateway.Observe(profile, nil)
}

// stateError is why the state file of v could not be read, "" when it
// could or is missing.
func stateError(v gateway.Observation) string {
	if v.FileErr == nil {
		return ""
	}
	return v.FileErr.Error()
}

// storeTimeout bounds the reading of one profile's sessions store for the
// status probe, so that a locked or slow file never hangs it.
const storeTimeout = 2 * time.Second

// sessionsPath is the sessions store of profile.
func sessionsPath(profile profiles.Ref) string {
	return filepath.Join(profile.Dir(), profiles.FileSessions)
}

// activeSessions counts the active sessions of profile (read-only). A store
// that cannot be read (foreign, newer, corrupt, unreadable) counts 0; the
// error is returned for the gated views and logged once per change.
func (s *Server) activeSessions(ctx context.Context, profile profiles.Ref, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	n, err := sessions.CountActive(ctx, sessionsPath(profile), now)
	s.noteStore(profile.Name(), err)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// noteStore logs a profile's store error (see note).
func (s *Server) noteStore(profile string, err error) {
	s.note("sessions store of "+profile, err, "sessions store unreadable, counted as 0 active sessions", "profile", profile)
}

// note logs err under msg when it differs from the error last logged for
// key, and that the thing reads again once err is nil after one: a
// failure that every request meets is logged once, not once a request.
func (s *Server) note(key string, err error, msg string, attrs ...any) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	s.mu.Lock()
	prev, seen := s.reported[key]
	if text == "" {
		delete(s.reported, key)
	} else {
		s.reported[key] = text
	}
	s.mu.Unlock()
	switch {
	case text != "" && text != prev:
		s.log.Warn(msg, append(attrs, "err", err)...)
	case text == "" && seen:
		s.log.Info(key+" reads again", attrs...)
	}
}

// profileRefs returns the profiles of the home ("default" first); a
// profiles/ directory that cannot be read leaves "default" alone, and is
// logged once.
func (s *Server) profileRefs() []profiles.Ref {
	refs, err := profiles.List(s.home)
	s.note("profiles", err, "reading the profiles")
	return refs
}

// profileList is the names of profileRefs, for the pages.
func (s *Server) profileList() []string {
	var names []string
	for _, r := range s.profileRefs() {
		names = append(names, r.Name())
	}
	return names
}
