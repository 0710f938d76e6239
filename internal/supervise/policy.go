// The restart policy and the backoff: what follows an exit, as pure
// functions of a service's spec, its exit status and the time it ran.

package supervise

import (
	"slices"
	"time"
)

// policy applies sp's restart policy to an exit that no operator asked
// for. code is the exit status, or -1 when there is none (a death by
// signal, or a process that could not be started). It returns Failed (not
// restarted until started again; an exit code in no_restart_exit_codes, or
// any failure under never), Stopped (a clean exit under on-failure or
// never: the service is no longer wanted up) or Backoff (restarted after
// the backoff delay), and the note that follows the exit's description in
// the reason.
func policy(sp Spec, code int) (State, string) {
	switch {
	case code >= 0 && slices.Contains(sp.NoRestartExitCodes, code):
		return Failed, ", not restarted"
	case code == 0 && sp.Restart != RestartAlways:
		return Stopped, " (restart " + string(sp.Restart) + ")"
	case sp.Restart == RestartNever:
		return Failed, " (restart never)"
	}
	return Backoff, ""
}

// backoff is the restart delay of CONTRACT §4: the first restart after
// base, each next one after twice the previous delay but never more than
// max, and base again once a run has lasted stableAfter.
type backoff struct {
	base, max, stableAfter time.Duration
}

// delay returns the wait before the restart that follows a run that lasted
// up, and the wait to keep for the restart after it. kept is the wait the
// previous restart kept; zero means none (the first exit, or the first
// after an operator's start).
func (b backoff) delay(kept, up time.Duration) (wait, next time.Duration) {
	if up >= b.stableAfter {
		kept = 0
	}
	wait = kept
	if wait == 0 {
		wait = b.base
	}
	return wait, min(2*wait, b.max)
}
