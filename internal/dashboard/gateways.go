package dashboard

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// stateUnknown is the state shown for a gateway_state.json that cannot be
// read, or that records a state this hermes does not know.
const stateUnknown = "unknown"

// gatewayView is what the dashboard knows of one profile's gateway, read
// from the profile's own directory: never through a "current" profile (the
// reference did, and showed a running gateway as STOPPED: its #23457).
type gatewayView struct {
	Profile string
	// State is the effective state: the recorded gateway_state, corrected
	// by the pid lock (see readGateway).
	State string
	// Running: State is "running" (a live gateway holds the pid lock, or
	// the lock cannot be told and the file says running).
	Running bool
	// Recorded is the file's gateway_state as written ("" when none).
	Recorded string
	// Desired is desired_state ("" when never recorded).
	Desired string
	// Lock is gateway.LockHeld, gateway.LockFree or gateway.LockUnknown.
	Lock string
	// PID, UpdatedAt and ExitReason are the file's (a pid only while the
	// gateway runs).
	PID        int
	UpdatedAt  string
	ExitReason string
	// StateErr says why the state file could not be read ("" when it
	// could, or is missing).
	StateErr string
	// Dir is the profile's directory.
	Dir string
}

// stateDegraded was written by the reference's gateways.
const stateDegraded = "degraded"

// knownState reports whether a gateway_state value is shown as it is; any
// other is stateUnknown, so that nothing a file holds reaches the public
// probe unchecked.
func knownState(st string) bool {
	switch st {
	case gateway.StateStopped, gateway.StateStartupFailed:
		return true
	}
	return liveState(st)
}

// liveState reports whether only a live gateway process can be in state st.
func liveState(st string) bool {
	switch st {
	case gateway.StateStarting, gateway.StateRunning, gateway.StateDraining, stateDegraded:
		return true
	}
	return false
}

// readGateway reads the gateway of profile from its own files:
// gateway_state.json for what it recorded, and gateway.pid's flock for
// whether it is alive. The lock decides, because a gateway killed with
// SIGKILL, or left behind by a restarted container, never records that it
// stopped:
//
//   - lock held: the recorded state when it is a live one (starting,
//     running, draining), else "starting" (a gateway takes the lock before
//     it records anything);
//   - lock free: a recorded live state is stale and shows "stopped"; a
//     recorded stopped or startup_failed is shown as it is; no file shows
//     "stopped";
//   - lock unknown: the recorded state as it is.
//
// A state file that cannot be read shows "unknown". Running is State ==
// "running".
func readGateway(home, profile string) gatewayView {
	dir := profiles.Dir(home, profile)
	v := gatewayView{Profile: profile, Dir: dir, Lock: gateway.LockState(dir)}
	st, err := gateway.ReadProfileState(home, profile)
	switch {
	case err == nil:
		v.Recorded, v.Desired, v.PID, v.UpdatedAt, v.ExitReason = st.GatewayState, st.DesiredState, st.PID, st.UpdatedAt, st.ExitReason
	case errors.Is(err, fs.ErrNotExist):
	default:
		v.StateErr = err.Error()
	}
	recorded := v.Recorded
	if v.StateErr != "" || recorded != "" && !knownState(recorded) {
		recorded = stateUnknown
	}
	switch v.Lock {
	case gateway.LockHeld:
		v.State = gateway.StateStarting
		if liveState(recorded) {
			v.State = recorded
		}
	case gateway.LockFree:
		switch {
		case recorded == "" || liveState(recorded):
			v.State = gateway.StateStopped
		default:
			v.State = recorded
		}
		v.PID = 0
	default:
		v.State = recorded
		if v.State == "" {
			v.State = stateUnknown
		}
	}
	v.Running = v.State == gateway.StateRunning
	return v
}

// storeTimeout bounds the reading of one profile's sessions store for the
// status probe, so that a locked or slow file never hangs it.
const storeTimeout = 2 * time.Second

// sessionsPath is the sessions store of profile.
func sessionsPath(home, profile string) string {
	return filepath.Join(profiles.Dir(home, profile), sessions.FileName)
}

// activeSessions counts the active sessions of profile (read-only). A store
// that cannot be read (foreign, newer, corrupt, unreadable) counts 0; the
// error is returned for the gated views and logged once per change.
func (s *Server) activeSessions(ctx context.Context, profile string, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	n, err := sessions.CountActive(ctx, sessionsPath(s.home, profile), now)
	s.noteStore(profile, err)
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

// profileList returns the profiles of the home ("default" first); a
// profiles/ directory that cannot be read leaves "default" alone, and is
// logged once.
func (s *Server) profileList() []string {
	names, err := profiles.List(s.home)
	s.note("profiles", err, "reading the profiles")
	return names
}
