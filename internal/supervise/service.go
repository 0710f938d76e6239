// A service's record: what the loop knows of one service, who waits on
// it, and the Status it shows. Only the loop touches a record.

package supervise

import (
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// service is one service record; only the loop touches it.
type service struct {
	spec     Spec
	uid, gid int
	log      *logpipe.Log

	want     Want
	state    State
	pid      int
	gen      uint64 // incremented at every start; stale events carry old gens
	since    time.Time
	started  time.Time
	restarts int
	lastExit *Exit
	reason   string
	delay    time.Duration // the next backoff delay
	next     time.Time     // when a backoff ends
	timer    timer         // backoff or kill timer

	pumps      int              // log pumps of the current process still draining
	abandoned  bool             // the exit stopped waiting for pumps that a descendant holds open
	exited     *unix.WaitStatus // exit seen, waiting for pumps to drain
	drainTimer *time.Timer      // bounds that wait
	pending    *Spec            // a replaced spec, applied at the next start
	restartNow bool             // restart immediately after the current process exits
	removing   bool             // remove once stopped
	graceCap   time.Time        // shutdown deadline capping stop_grace
	waiters    []waiter
}

type waiter struct {
	settled func(*service) bool
	reply   func(*service)
}

// await registers a waiter, or calls reply at once if already settled.
func (svc *service) await(settled func(*service) bool, reply func(*service)) {
	if settled(svc) {
		reply(svc)
		return
	}
	svc.waiters = append(svc.waiters, waiter{settled, reply})
}

// startSettled: a start has taken effect (the process runs, or it could not
// be kept running).
func startSettled(v *service) bool {
	return v.pending == nil && !v.restartNow && (v.state == Running || v.state == Failed || v.state == Backoff || v.state == Stopped)
}

// gone: no process, and its output drained (or abandoned to a descendant
// that holds the pipe open).
func gone(v *service) bool {
	return v.pid == 0 && (v.pumps == 0 || v.abandoned)
}

func stopSettled(v *service) bool {
	return v.pid == 0 && (v.state == Stopped || v.state == Failed)
}

// changed publishes svc's status and wakes the waiters that are settled.
func (s *Supervisor) changed(svc *service) {
	keep := svc.waiters[:0]
	var ready []waiter
	for _, w := range svc.waiters {
		if w.settled(svc) {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	svc.waiters = keep
	for _, w := range ready {
		w.reply(svc)
	}
	s.publish(s.status(svc))
}

func (s *Supervisor) status(svc *service) Status {
	st := Status{
		Name:     svc.spec.Name,
		Want:     svc.want,
		State:    svc.state,
		PID:      svc.pid,
		Since:    svc.since,
		Restarts: svc.restarts,
		LastExit: svc.lastExit,
		Reason:   svc.reason,
		Logs:     svc.log.Counters(),
		UID:      svc.uid,
		Saved:    svc.spec.Saved,
	}
	if svc.state == Backoff {
		t := svc.next
		st.NextStart = &t
	}
	return st
}

// setWant changes the wanted state and reports operator changes.
func (s *Supervisor) setWant(svc *service, w Want, operator bool) {
	svc.want = w
	if operator && s.cfg.OnOperator != nil {
		s.cfg.OnOperator(svc.spec.Name, w)
	}
}

// apply makes sp the service's spec, moving its log if the log settings
// changed.
func (s *Supervisor) apply(svc *service, sp Spec) {
	if sp.LogFile != svc.spec.LogFile || sp.LogMaxBytes != svc.spec.LogMaxBytes || sp.LogKeep != svc.spec.LogKeep {
		if err := svc.log.Reconfigure(s.logConfig(sp)); err != nil {
			s.cfg.Logger.Warn("log reconfigure", "service", sp.Name, "err", err)
		}
	}
	svc.spec = sp
	svc.pending = nil
}

// logConfig is the log pipeline of a service with spec sp: its file, with
// no symlink followed below HERMES_HOME (or below the file's own directory
// when it lies outside), created for the hermes user when the supervisor is
// root; and the container's streams.
func (s *Supervisor) logConfig(sp Spec) logpipe.Config {
	base := filepath.Dir(sp.LogFile)
	if rel, err := filepath.Rel(s.cfg.Home, sp.LogFile); err == nil && !strings.HasPrefix(rel, "..") {
		base = s.cfg.Home
	}
	owner := safefs.Keep
	if s.euid == 0 {
		owner = safefs.Owner{UID: s.cfg.HermesUID, GID: s.cfg.HermesGID}
	}
	return logpipe.Config{
		Name:   sp.Name,
		File:   &logpipe.FileConfig{Path: sp.LogFile, Base: base, MaxBytes: sp.LogMaxBytes, Keep: sp.LogKeep, Owner: owner, Mode: profiles.LogMode},
		Stdout: s.cfg.Stdout,
		Stderr: s.cfg.Stderr,
	}
}
