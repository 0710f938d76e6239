// A service's process: starting it with its pipes, stopping it with its
// stop signal and SIGKILL after the grace, and taking in its exit, to which
// the restart policy (policy.go) is applied.

package supervise

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/logpipe"
)

// start spawns the service's process now.
func (s *Supervisor) start(svc *service) {
	s.cancelTimer(svc)
	if svc.pending != nil {
		s.apply(svc, *svc.pending)
	}
	svc.restartNow = false
	svc.gen++
	gen := svc.gen
	now := s.clock.Now()
	pid, err := s.spawn(svc, gen)
	if err != nil {
		svc.lastExit = nil
		s.cfg.Logger.Warn("cannot start service", "service", svc.spec.Name, "err", err)
		s.afterExit(svc, now, fmt.Sprintf("cannot start: %v", err))
		return
	}
	svc.pid = pid
	svc.state = Running
	svc.since, svc.started = now, now
	svc.reason = ""
}

// spawn forks the process with its pipes; the pumps and the exit callback
// post back to the loop with gen.
func (s *Supervisor) spawn(svc *service, gen uint64) (int, error) {
	sp := svc.spec
	env := mergeEnv(s.cfg.Env, sp.Env)
	path, err := LookPath(sp.Argv[0], env)
	if err != nil {
		return 0, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	sys := &syscall.SysProcAttr{Setpgid: true, Credential: s.credential(svc)}
	attr := &os.ProcAttr{Dir: sp.Dir, Env: env, Files: []*os.File{devnull, outW, errW}, Sys: sys}
	name := sp.Name
	pid, err := s.cfg.Spawner.Spawn(path, sp.Argv, attr, func(ws unix.WaitStatus) {
		s.post(func() { s.exited(name, gen, ws) })
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	svc.pumps, svc.abandoned = 2, false
	s.pump(svc.log, name, gen, logpipe.Stdout, outR)
	s.pump(svc.log, name, gen, logpipe.Stderr, errR)
	return pid, nil
}

// credential is who a service's process runs as: nil (the supervisor's
// own identity) unless the supervisor is root and the service is not. The
// hermes user gets its supplementary groups, any other user none.
func (s *Supervisor) credential(svc *service) *syscall.Credential {
	if s.euid != 0 || (svc.uid == 0 && svc.gid == 0) {
		return nil
	}
	groups := []uint32{}
	if svc.uid == s.cfg.HermesUID {
		for _, g := range s.cfg.Groups {
			groups = append(groups, uint32(g))
		}
	}
	return &syscall.Credential{Uid: uint32(svc.uid), Gid: uint32(svc.gid), Groups: groups}
}

// pump drains one of the process's pipes into its log on a goroutine of
// its own, and tells the loop when the pipe is closed.
func (s *Supervisor) pump(l *logpipe.Log, name string, gen uint64, st logpipe.Stream, r *os.File) {
	go func() {
		if err := l.Pump(st, r); err != nil {
			s.cfg.Logger.Warn("log pump", "service", name, "stream", st, "err", err)
		}
		s.post(func() { s.drained(name, gen) })
	}()
}

// drainWait bounds how long an exit waits for the service's pipes, which a
// surviving descendant may hold open. It is wall time: it bounds real
// pipe I/O.
const drainWait = 250 * time.Millisecond

func (s *Supervisor) drained(name string, gen uint64) {
	svc := s.svcs[name]
	if svc == nil || svc.gen != gen {
		return
	}
	svc.pumps--
	if svc.pumps == 0 && svc.exited != nil {
		s.finishExit(svc)
		return
	}
	if svc.pumps == 0 {
		s.changed(svc)
	}
}

func (s *Supervisor) exited(name string, gen uint64, ws unix.WaitStatus) {
	svc := s.svcs[name]
	if svc == nil || svc.gen != gen || svc.pid == 0 {
		return
	}
	if svc.want == WantDown || svc.removing || svc.restartNow {
		// A stop: take the rest of the group with it.
		_ = unix.Kill(-svc.pid, unix.SIGKILL)
	}
	svc.exited = &ws
	if svc.pumps == 0 {
		s.finishExit(svc)
		return
	}
	svc.drainTimer = time.AfterFunc(drainWait, func() {
		s.post(func() {
			if v := s.svcs[name]; v != nil && v.gen == gen && v.exited != nil {
				s.finishExit(v)
			}
		})
	})
}

// finishExit applies the policy to an exit whose output has been drained.
func (s *Supervisor) finishExit(svc *service) {
	ws := *svc.exited
	svc.exited = nil
	if svc.drainTimer != nil {
		svc.drainTimer.Stop()
		svc.drainTimer = nil
	}
	s.cancelTimer(svc)
	started := svc.started
	svc.pid = 0
	svc.abandoned = svc.pumps > 0
	ex := &Exit{}
	desc := ""
	if ws.Signaled() {
		ex.Signal = unix.SignalName(ws.Signal())
		desc = "killed by " + ex.Signal
	} else {
		c := ws.ExitStatus()
		ex.Code = &c
		desc = fmt.Sprintf("exited with status %d", c)
	}
	svc.lastExit = ex
	s.afterExit(svc, started, desc)
}

// afterExit decides what follows an exit (or a failed start) of a run
// that began at started: what an operator asked for, else the restart
// policy, and the backoff before a restart.
func (s *Supervisor) afterExit(svc *service, started time.Time, desc string) {
	now := s.clock.Now()
	svc.since = now
	switch {
	case svc.removing || (svc.want == WantDown && !svc.restartNow):
		svc.state = Stopped
		svc.reason = "stopped (" + desc + ")"
		s.changed(svc)
		return
	case svc.restartNow:
		svc.restartNow = false
		s.start(svc)
		s.changed(svc)
		return
	}
	code := -1
	if svc.lastExit != nil && svc.lastExit.Code != nil {
		code = *svc.lastExit.Code
	}
	state, note := policy(svc.spec, code)
	svc.state = state
	svc.reason = desc + note
	switch state {
	case Failed:
		svc.reason += lastLines(svc.log)
	case Stopped:
		svc.want = WantDown
	case Backoff:
		var up, wait time.Duration
		if !started.IsZero() {
			up = now.Sub(started)
		}
		wait, svc.delay = s.backoff.delay(svc.delay, up)
		svc.next = now.Add(wait)
		svc.reason = fmt.Sprintf("%s; restarting in %s", desc, wait.Round(time.Millisecond))
		s.armRestart(svc, wait)
	}
	s.changed(svc)
}

// armRestart arms the backoff timer: after wait, the service is started
// again if it is still in that backoff and wanted up.
func (s *Supervisor) armRestart(svc *service, wait time.Duration) {
	name, gen := svc.spec.Name, svc.gen
	svc.timer = s.clock.AfterFunc(wait, func() {
		s.post(func() {
			if v := s.svcs[name]; v != nil && v.gen == gen && v.state == Backoff && v.want == WantUp {
				v.restarts++
				s.start(v)
				s.changed(v)
			}
		})
	})
}

// lastLines quotes the end of a service's output for a failure reason:
// its last three lines that are not blank, each cut to its first 160
// bytes (a long line is read from its start, where an error says what
// failed, never from the middle of its tail).
func lastLines(l *logpipe.Log) string {
	const maxLine = 160
	var parts []string
	for _, e := range l.Tail(3) {
		t := strings.TrimSpace(e.Line)
		if t == "" {
			continue
		}
		if len(t) > maxLine {
			cut := maxLine
			for cut > 0 && !utf8.RuneStart(t[cut]) {
				cut--
			}
			t = t[:cut] + "…"
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, " | ")
}

// stop sends the stop signal and arms the kill timer; a service with no
// process just settles as stopped.
func (s *Supervisor) stop(svc *service) {
	if svc.pid == 0 {
		s.cancelTimer(svc)
		if svc.state == Backoff || svc.state == Running || svc.state == Starting {
			svc.state = Stopped
			svc.reason = "stopped"
			svc.since = s.clock.Now()
		}
		if svc.pending != nil {
			s.apply(svc, *svc.pending)
		}
		if svc.restartNow {
			s.start(svc)
		}
		return
	}
	if svc.state == Stopping {
		s.armKill(svc)
		return
	}
	sig, _ := ParseSignal(svc.spec.StopSignal)
	_ = unix.Kill(-svc.pid, sig)
	if sig != unix.SIGCONT && sig != unix.SIGKILL {
		_ = unix.Kill(-svc.pid, unix.SIGCONT)
	}
	svc.state = Stopping
	svc.since = s.clock.Now()
	s.armKill(svc)
}

// armKill (re)arms the SIGKILL timer at the earlier of stop_grace and the
// shutdown deadline (a wall-clock deadline: it comes from the caller's
// context).
func (s *Supervisor) armKill(svc *service) {
	grace := time.Duration(svc.spec.StopGrace)
	if !svc.graceCap.IsZero() {
		grace = min(grace, time.Until(svc.graceCap))
	}
	if svc.timer != nil {
		svc.timer.Stop()
	}
	name, gen := svc.spec.Name, svc.gen
	svc.timer = s.clock.AfterFunc(max(grace, 0), func() {
		s.post(func() {
			if v := s.svcs[name]; v != nil && v.gen == gen && v.pid > 0 {
				_ = unix.Kill(-v.pid, unix.SIGKILL)
			}
		})
	})
}

func (s *Supervisor) cancelTimer(svc *service) {
	if svc.timer != nil {
		svc.timer.Stop()
		svc.timer = nil
	}
}
