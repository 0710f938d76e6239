// Package supervise runs services: it starts each one in a fresh process
// group as its user, restarts it by its policy with capped exponential
// backoff, stops it with its stop signal, a grace period and SIGKILL, and
// keeps its status (wanted state, current state, pid, restarts, last exit,
// reason, log counters) for the control API.
//
// # One owner of all state
//
// A Supervisor has one goroutine, the loop in Run, that owns every service
// record. API calls (Register, Start, Stop, Remove, …) post a function to
// the loop and wait for the change to take effect; process exits (delivered
// by the Spawner, which owns wait(2)), backoff timers and drained log pipes
// post events to it as well. Nothing else mutates a service, so concurrent
// callers need no locks and always see consistent statuses.
//
// # Services
//
// Every start gets a fresh process group (Setpgid), stdin from /dev/null and
// two pipes for stdout and stderr that the service's logpipe.Log drains.
// When a process exits, the supervisor waits (briefly) for its pipes to
// drain so that the failure reason can quote its last lines, then applies
// the policy: restart after a backoff (50 ms first, doubling, capped at 30
// s, reset once a run has lasted 60 s), stop (exit 0 under on-failure or
// never), or fail (an exit code in no_restart_exit_codes, 78 by default, or
// any failure under never).
//
// # Lifecycle
//
// Run(ctx) serves until ctx is done, then stops every service in parallel
// (each with its stop_grace) and returns once all are gone. Shutdown does the
// same with a deadline that caps every grace, for init's shutdown budget.
// After either, API calls fail with ErrClosed.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// Spawner starts processes and reports their exit. initd.Reaper is the
// implementation: it is the one owner of wait(2).
type Spawner interface {
	Spawn(path string, argv []string, attr *os.ProcAttr, onExit func(unix.WaitStatus)) (int, error)
}

// Config configures a Supervisor.
type Config struct {
	Spawner Spawner
	// Home is HERMES_HOME: the default working directory and log root.
	Home string
	// HermesUID and HermesGID are the hermes user; Groups are the
	// supplementary groups given to processes that run as it.
	HermesUID, HermesGID int
	Groups               []int
	// Env is the base environment of every service (KEY=VALUE); a spec's
	// env is laid over it.
	Env []string
	// Stdout and Stderr are the container's streams; nil disables the copy.
	Stdout, Stderr *logpipe.Console
	Logger         *slog.Logger
	// Backoff tuning; zero values mean 50 ms (so that the
	// first restart comes within 100 ms of the crash), 30 s and 60 s.
	BackoffBase, BackoffCap, StableAfter time.Duration
	// OnOperator, when set, is called on the loop when an operator (an API
	// call, not the policy or a shutdown) changes a service's wanted
	// state. The gateway slots record desired_state through it.
	OnOperator func(name string, want Want)
}

// Supervisor supervises services. Create it with New and run it with Run.
type Supervisor struct {
	cfg  Config
	ops  chan func()
	done chan struct{} // closed when Run has returned
	// closed is set (on the loop) once shutdown has begun.
	closed bool
	svcs   map[string]*service

	subMu sync.Mutex
	subs  map[chan Status]struct{}

	euid int
}

// New returns a Supervisor; nothing runs until Run.
func New(cfg Config) *Supervisor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 50 * time.Millisecond
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = 30 * time.Second
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = 60 * time.Second
	}
	return &Supervisor{
		cfg:  cfg,
		ops:  make(chan func(), 256),
		done: make(chan struct{}),
		svcs: make(map[string]*service),
		subs: make(map[chan Status]struct{}),
		euid: os.Geteuid(),
	}
}

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
	timer    *time.Timer   // backoff or kill timer

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

// post runs fn on the loop. It does not wait.
func (s *Supervisor) post(fn func()) {
	select {
	case s.ops <- fn:
	case <-s.done:
	}
}

// call runs fn on the loop; fn replies through the returned channel by
// calling reply, possibly later (from another loop turn).
func (s *Supervisor) call(ctx context.Context, fn func(reply func(Status, error))) (Status, error) {
	type result struct {
		st  Status
		err error
	}
	ch := make(chan result, 1)
	reply := func(st Status, err error) {
		select {
		case ch <- result{st, err}:
		default:
		}
	}
	select {
	case s.ops <- func() {
		if s.closed {
			reply(Status{}, ErrClosed)
			return
		}
		fn(reply)
	}:
	case <-s.done:
		return Status{}, ErrClosed
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.st, r.err
	case <-s.done:
		return Status{}, ErrClosed
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

type expectUIDKey struct{}

// ExpectUID returns a context under which Register (a replacement), Start,
// Stop, Restart and Remove act on an existing service only if it runs as
// uid, else fail with ErrOwner. The control API authorises the hermes uid
// against a service as it is when the request arrives; the condition makes
// that decision hold when the loop acts, even if root replaced the service
// in between.
func ExpectUID(ctx context.Context, uid int) context.Context {
	return context.WithValue(ctx, expectUIDKey{}, uid)
}

// owned checks ctx's expected uid against svc (nil: nothing to check).
func owned(ctx context.Context, svc *service) error {
	uid, ok := ctx.Value(expectUIDKey{}).(int)
	if !ok || svc == nil || svc.uid == uid {
		return nil
	}
	return fmt.Errorf("%w: %s runs as uid %d", ErrOwner, svc.spec.Name, svc.uid)
}

// Run runs the loop until ctx is done, then stops every service and returns
// nil once they are all gone (see the package doc).
func (s *Supervisor) Run(ctx context.Context) error {
	defer close(s.done)
	stopped := make(chan struct{})
	shutting := false
	for {
		select {
		case fn := <-s.ops:
			fn()
		case <-ctx.Done():
			if !shutting {
				shutting = true
				s.shutdown(time.Time{}, func() { close(stopped) })
			}
			ctx = context.Background()
		case <-stopped:
			for _, svc := range s.svcs {
				svc.log.Close()
			}
			return nil
		}
	}
}

// Shutdown stops every service in parallel, capping each stop_grace at
// ctx's deadline, and returns once all are gone. When the deadline passes
// first, survivors are killed and Shutdown returns after their exits (or
// after one more second at most). New API calls fail with ErrClosed.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	done := make(chan struct{})
	select {
	case s.ops <- func() { s.shutdown(deadline, func() { close(done) }) }:
	case <-s.done:
		return nil
	}
	select {
	case <-done:
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.post(func() {
		for _, svc := range s.svcs {
			if svc.pid > 0 {
				_ = unix.Kill(-svc.pid, unix.SIGKILL)
			}
		}
	})
	select {
	case <-done:
	case <-s.done:
	case <-time.After(time.Second):
	}
	return ctx.Err()
}

// shutdown (on the loop) stops everything and calls finished once no
// service has a process or draining pipes.
func (s *Supervisor) shutdown(deadline time.Time, finished func()) {
	s.closed = true
	var wg []*service
	for _, svc := range s.svcs {
		svc.graceCap = deadline
		svc.restartNow = false
		s.setWant(svc, WantDown, false)
		s.stop(svc)
		wg = append(wg, svc)
	}
	// remaining counts the services still going, plus one for this loop so
	// that services already gone cannot finish the shutdown early.
	remaining := 1
	check := func() {
		remaining--
		if remaining == 0 {
			finished()
		}
	}
	for _, svc := range wg {
		remaining++
		svc.await(gone, func(*service) { check() })
	}
	check()
}

// setWant changes the wanted state and reports operator changes.
func (s *Supervisor) setWant(svc *service, w Want, operator bool) {
	svc.want = w
	if operator && s.cfg.OnOperator != nil {
		s.cfg.OnOperator(svc.spec.Name, w)
	}
}

// await registers a waiter, or calls reply at once if already settled.
func (svc *service) await(settled func(*service) bool, reply func(*service)) {
	if settled(svc) {
		reply(svc)
		return
	}
	svc.waiters = append(svc.waiters, waiter{settled, reply})
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
	}
	if svc.state == Backoff {
		t := svc.next
		st.NextStart = &t
	}
	return st
}

// ---- API -------------------------------------------------------------

// List returns the status of every service, sorted by name.
func (s *Supervisor) List() []Status {
	ch := make(chan []Status, 1)
	select {
	case s.ops <- func() {
		out := make([]Status, 0, len(s.svcs))
		for _, svc := range s.svcs {
			out = append(out, s.status(svc))
		}
		slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
		ch <- out
	}:
	case <-s.done:
		return nil
	}
	select {
	case out := <-ch:
		return out
	case <-s.done:
		return nil
	}
}

// Status returns one service's status, or ErrNotFound.
func (s *Supervisor) Status(name string) (Status, error) {
	var st Status
	var err error
	ok := s.sync(func() {
		svc := s.svcs[name]
		if svc == nil {
			err = fmt.Errorf("%w: %s", ErrNotFound, name)
			return
		}
		st = s.status(svc)
	})
	if !ok {
		return Status{}, ErrClosed
	}
	return st, err
}

// Spec returns a service's normalised spec, or ErrNotFound.
func (s *Supervisor) Spec(name string) (Spec, error) {
	var sp Spec
	var err error
	ok := s.sync(func() {
		svc := s.svcs[name]
		if svc == nil {
			err = fmt.Errorf("%w: %s", ErrNotFound, name)
			return
		}
		sp = svc.spec
		if svc.pending != nil {
			sp = *svc.pending
		}
	})
	if !ok {
		return Spec{}, ErrClosed
	}
	return sp, err
}

// sync runs fn on the loop and waits for it; false when the loop is gone.
func (s *Supervisor) sync(fn func()) bool {
	done := make(chan struct{})
	select {
	case s.ops <- func() { fn(); close(done) }:
	case <-s.done:
		return false
	}
	select {
	case <-done:
		return true
	case <-s.done:
		return false
	}
}

// Log returns a service's log pipeline (for tails and follows).
func (s *Supervisor) Log(name string) (*logpipe.Log, error) {
	var l *logpipe.Log
	ok := s.sync(func() {
		if svc := s.svcs[name]; svc != nil {
			l = svc.log
		}
	})
	if !ok {
		return nil, ErrClosed
	}
	if l == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return l, nil
}

// Register adds a service, or replaces the spec of an existing one (a
// running service is restarted with the new spec unless the spec is
// unchanged). With start, the service is wanted up and Register returns once
// it has been started (or has failed to start); without, a new service is
// registered down and an existing one keeps its wanted state.
func (s *Supervisor) Register(ctx context.Context, spec Spec, start bool) (Status, error) {
	norm, err := spec.Normalize(s.cfg.Home)
	if err != nil {
		return Status{}, err
	}
	uid, gid, err := ResolveUser(norm.User, s.cfg.HermesUID, s.cfg.HermesGID)
	if err != nil {
		return Status{}, err
	}
	if s.euid != 0 && uid != s.euid {
		return Status{}, fmt.Errorf("%w: service %s: cannot run as uid %d: the supervisor is not root", ErrInvalid, norm.Name, uid)
	}
	return s.call(ctx, func(reply func(Status, error)) {
		svc := s.svcs[norm.Name]
		if err := owned(ctx, svc); err != nil {
			reply(Status{}, err)
			return
		}
		if svc == nil {
			svc = &service{spec: norm, uid: uid, gid: gid, want: WantDown, state: Stopped, since: time.Now()}
			svc.log = logpipe.New(s.logConfig(norm))
			s.svcs[norm.Name] = svc
		} else if !specEqual(svc.spec, norm) {
			if svc.pid > 0 || svc.pending != nil {
				svc.pending = &norm
				svc.restartNow = svc.want == WantUp || start
				s.stop(svc)
			} else {
				s.apply(svc, norm)
			}
			svc.uid, svc.gid = uid, gid
		}
		if svc.removing {
			reply(Status{}, fmt.Errorf("%w: %s is being removed", ErrInvalid, norm.Name))
			return
		}
		if start {
			s.setWant(svc, WantUp, true)
			if svc.state != Running && svc.state != Stopping {
				s.start(svc)
			}
			svc.await(startSettled, func(v *service) { reply(s.status(v), nil) })
		} else {
			reply(s.status(svc), nil)
		}
		s.changed(svc)
	})
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

// Start wants a service up and returns once it has been started.
func (s *Supervisor) Start(ctx context.Context, name string) (Status, error) {
	return s.call(ctx, func(reply func(Status, error)) {
		svc := s.svcs[name]
		if svc == nil || svc.removing {
			reply(Status{}, fmt.Errorf("%w: %s", ErrNotFound, name))
			return
		}
		if err := owned(ctx, svc); err != nil {
			reply(Status{}, err)
			return
		}
		s.setWant(svc, WantUp, true)
		switch svc.state {
		case Running:
		case Stopping:
			svc.restartNow = true
		default:
			svc.delay = 0
			s.start(svc)
		}
		svc.await(startSettled, func(v *service) { reply(s.status(v), nil) })
		s.changed(svc)
	})
}

// Stop wants a service down and returns once its process is gone.
func (s *Supervisor) Stop(ctx context.Context, name string) (Status, error) {
	return s.call(ctx, func(reply func(Status, error)) {
		svc := s.svcs[name]
		if svc == nil {
			reply(Status{}, fmt.Errorf("%w: %s", ErrNotFound, name))
			return
		}
		if err := owned(ctx, svc); err != nil {
			reply(Status{}, err)
			return
		}
		s.setWant(svc, WantDown, true)
		svc.restartNow = false
		s.stop(svc)
		svc.await(stopSettled, func(v *service) { reply(s.status(v), nil) })
		s.changed(svc)
	})
}

// Restart stops a service (if it runs) and starts it again, returning once
// the new process has been started.
func (s *Supervisor) Restart(ctx context.Context, name string) (Status, error) {
	return s.call(ctx, func(reply func(Status, error)) {
		svc := s.svcs[name]
		if svc == nil || svc.removing {
			reply(Status{}, fmt.Errorf("%w: %s", ErrNotFound, name))
			return
		}
		if err := owned(ctx, svc); err != nil {
			reply(Status{}, err)
			return
		}
		s.setWant(svc, WantUp, true)
		svc.delay = 0
		if svc.pid > 0 {
			svc.restartNow = true
			s.stop(svc)
		} else {
			s.start(svc)
		}
		svc.await(startSettled, func(v *service) { reply(s.status(v), nil) })
		s.changed(svc)
	})
}

// Remove stops a service and forgets it; removing an absent service is not
// an error.
func (s *Supervisor) Remove(ctx context.Context, name string) error {
	_, err := s.call(ctx, func(reply func(Status, error)) {
		svc := s.svcs[name]
		if svc == nil {
			reply(Status{}, nil)
			return
		}
		if err := owned(ctx, svc); err != nil {
			reply(Status{}, err)
			return
		}
		svc.removing = true
		svc.restartNow = false
		svc.pending = nil
		s.setWant(svc, WantDown, false)
		s.stop(svc)
		svc.await(gone, func(v *service) {
			if s.svcs[name] == v {
				delete(s.svcs, name)
				v.log.Close()
				st := s.status(v)
				st.Reason = "removed"
				s.publish(st)
			}
			reply(Status{}, nil)
		})
		s.changed(svc)
	})
	return err
}

// Signal sends sig to a running service's process group.
func (s *Supervisor) Signal(name string, sig syscall.Signal) error {
	var err error
	ok := s.sync(func() {
		svc := s.svcs[name]
		switch {
		case svc == nil:
			err = fmt.Errorf("%w: %s", ErrNotFound, name)
		case svc.pid == 0:
			err = fmt.Errorf("%w: %s", ErrNotRunning, name)
		default:
			if e := unix.Kill(-svc.pid, sig); e != nil {
				err = fmt.Errorf("signal %s: %w", name, e)
			}
		}
	})
	if !ok {
		return ErrClosed
	}
	return err
}

// Subscribe returns a channel of status changes until ctx is done. A slow
// reader loses events rather than block the supervisor.
func (s *Supervisor) Subscribe(ctx context.Context) <-chan Status {
	ch := make(chan Status, 64)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	context.AfterFunc(ctx, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
		close(ch)
	})
	return ch
}

func (s *Supervisor) publish(st Status) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- st:
		default:
		}
	}
}

// ---- state machine (loop only) -----------------------------------------

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
		File:   &logpipe.FileConfig{Path: sp.LogFile, Base: base, MaxBytes: sp.LogMaxBytes, Keep: sp.LogKeep, Owner: owner, Mode: 0o640},
		Stdout: s.cfg.Stdout,
		Stderr: s.cfg.Stderr,
	}
}

func (s *Supervisor) apply(svc *service, sp Spec) {
	if sp.LogFile != svc.spec.LogFile || sp.LogMaxBytes != svc.spec.LogMaxBytes || sp.LogKeep != svc.spec.LogKeep {
		if err := svc.log.Reconfigure(s.logConfig(sp)); err != nil {
			s.cfg.Logger.Warn("log reconfigure", "service", sp.Name, "err", err)
		}
	}
	svc.spec = sp
	svc.pending = nil
}

func (s *Supervisor) cancelTimer(svc *service) {
	if svc.timer != nil {
		svc.timer.Stop()
		svc.timer = nil
	}
}

// start spawns the service's process now.
func (s *Supervisor) start(svc *service) {
	s.cancelTimer(svc)
	if svc.pending != nil {
		s.apply(svc, *svc.pending)
	}
	svc.restartNow = false
	svc.gen++
	gen := svc.gen
	now := time.Now()
	pid, err := s.spawn(svc, gen)
	if err != nil {
		svc.lastExit = nil
		s.cfg.Logger.Warn("cannot start service", "service", svc.spec.Name, "err", err)
		s.afterExit(svc, now, fmt.Sprintf("cannot start: %v", err), true)
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
	sys := &syscall.SysProcAttr{Setpgid: true}
	if s.euid == 0 && (svc.uid != 0 || svc.gid != 0) {
		groups := []uint32{}
		if svc.uid == s.cfg.HermesUID {
			for _, g := range s.cfg.Groups {
				groups = append(groups, uint32(g))
			}
		}
		sys.Credential = &syscall.Credential{Uid: uint32(svc.uid), Gid: uint32(svc.gid), Groups: groups}
	}
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
	l := svc.log
	for _, p := range []struct {
		st logpipe.Stream
		r  *os.File
	}{{logpipe.Stdout, outR}, {logpipe.Stderr, errR}} {
		go func() {
			if err := l.Pump(p.st, p.r); err != nil {
				s.cfg.Logger.Warn("log pump", "service", name, "stream", p.st, "err", err)
			}
			s.post(func() { s.drained(name, gen) })
		}()
	}
	return pid, nil
}

// drainWait bounds how long an exit waits for the service's pipes, which a
// surviving descendant may hold open.
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
	s.afterExit(svc, started, desc, false)
}

// afterExit decides what follows an exit (or a failed start).
func (s *Supervisor) afterExit(svc *service, started time.Time, desc string, startFailed bool) {
	now := time.Now()
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
	clean := code == 0 && !startFailed
	switch {
	case !startFailed && code >= 0 && slices.Contains(svc.spec.NoRestartExitCodes, code):
		svc.state = Failed
		svc.reason = desc + ", not restarted" + lastLines(svc.log)
	case clean && svc.spec.Restart != RestartAlways:
		svc.state = Stopped
		svc.want = WantDown
		svc.reason = desc + " (restart " + string(svc.spec.Restart) + ")"
	case svc.spec.Restart == RestartNever:
		svc.state = Failed
		svc.reason = desc + " (restart never)" + lastLines(svc.log)
	default:
		if !started.IsZero() && now.Sub(started) >= s.cfg.StableAfter {
			svc.delay = 0
		}
		d := svc.delay
		if d == 0 {
			d = s.cfg.BackoffBase
		}
		svc.delay = min(d*2, s.cfg.BackoffCap)
		svc.state = Backoff
		svc.next = now.Add(d)
		svc.reason = fmt.Sprintf("%s; restarting in %s", desc, d.Round(time.Millisecond))
		name, gen := svc.spec.Name, svc.gen
		svc.timer = time.AfterFunc(d, func() {
			s.post(func() {
				if v := s.svcs[name]; v != nil && v.gen == gen && v.state == Backoff && v.want == WantUp {
					v.restarts++
					s.start(v)
					s.changed(v)
				}
			})
		})
	}
	s.changed(svc)
}

// lastLines quotes the end of a service's output for a failure reason.
func lastLines(l *logpipe.Log) string {
	var parts []string
	for _, e := range l.Tail(3) {
		if t := strings.TrimSpace(e.Line); t != "" {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	r := strings.Join(parts, " | ")
	if len(r) > 500 {
		r = r[len(r)-500:]
	}
	return ": " + r
}

// stop sends the stop signal and arms the kill timer; a service with no
// process just settles as stopped.
func (s *Supervisor) stop(svc *service) {
	if svc.pid == 0 {
		s.cancelTimer(svc)
		if svc.state == Backoff || svc.state == Running || svc.state == Starting {
			svc.state = Stopped
			svc.reason = "stopped"
			svc.since = time.Now()
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
	svc.since = time.Now()
	s.armKill(svc)
}

// armKill (re)arms the SIGKILL timer at the earlier of stop_grace and the
// shutdown deadline.
func (s *Supervisor) armKill(svc *service) {
	grace := time.Duration(svc.spec.StopGrace)
	if !svc.graceCap.IsZero() {
		grace = min(grace, time.Until(svc.graceCap))
	}
	if svc.timer != nil {
		svc.timer.Stop()
	}
	name, gen := svc.spec.Name, svc.gen
	svc.timer = time.AfterFunc(max(grace, 0), func() {
		s.post(func() {
			if v := s.svcs[name]; v != nil && v.gen == gen && v.pid > 0 {
				_ = unix.Kill(-v.pid, unix.SIGKILL)
			}
		})
	})
}

// ---- helpers -------------------------------------------------------------

func specEqual(a, b Spec) bool {
	return a.Name == b.Name && slices.Equal(a.Argv, b.Argv) && mapsEqual(a.Env, b.Env) &&
		a.Dir == b.Dir && a.User == b.User && a.Restart == b.Restart &&
		a.StopSignal == b.StopSignal && a.StopGrace == b.StopGrace &&
		slices.Equal(a.NoRestartExitCodes, b.NoRestartExitCodes) && a.LogFile == b.LogFile &&
		a.LogMaxBytes == b.LogMaxBytes && a.LogKeep == b.LogKeep
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// mergeEnv lays over on top of base (KEY=VALUE lists); later keys win.
func mergeEnv(base []string, over map[string]string) []string {
	out := make([]string, 0, len(base)+len(over))
	idx := make(map[string]int, len(base)+len(over))
	add := func(k, kv string) {
		if i, ok := idx[k]; ok {
			out[i] = kv
			return
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		add(k, kv)
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, k+"="+over[k])
	}
	return out
}

// LookPath finds a program on the PATH of env (not of the calling
// process); a name with a slash is returned as it is. With no PATH in env,
// the usual system directories are searched.
func LookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", file, ErrNotOnPath)
}

// ErrNotOnPath is wrapped when LookPath finds nothing.
var ErrNotOnPath = errors.New("executable file not found in PATH")
