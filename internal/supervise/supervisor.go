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
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/logpipe"
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
	// Reserved reports the names that belong to the runtime, whose specs
	// the runtime builds itself (the dashboard, the profile gateways):
	// the control API lets no client register or remove one
	// (Supervisor.Reserved). The wiring composes it from the names'
	// owners (dashboard.ServiceName, gateway.InNamespace); nil reserves
	// none.
	Reserved func(name string) bool
}

// Supervisor supervises services. Create it with New and run it with Run.
type Supervisor struct {
	cfg     Config
	clock   clock
	backoff backoff
	ops     chan func()
	done    chan struct{} // closed when Run has returned
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
	if cfg.Reserved == nil {
		cfg.Reserved = func(string) bool { return false }
	}
	return &Supervisor{
		cfg:     cfg,
		clock:   wallClock{},
		backoff: backoff{base: cfg.BackoffBase, max: cfg.BackoffCap, stableAfter: cfg.StableAfter},
		ops:     make(chan func(), 256),
		done:    make(chan struct{}),
		svcs:    make(map[string]*service),
		subs:    make(map[chan Status]struct{}),
		euid:    os.Geteuid(),
	}
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
