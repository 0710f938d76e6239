package initd

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Reaper is the one owner of wait(2) in the process (see the package doc).
// Every process that the init process starts is started through Spawn, which
// registers a callback for its pid; Run reaps every child that exits, hands
// the status to the callback of a pid it knows, and silently reaps the rest
// (orphans re-parented to us).
//
// Nothing else in the init process may call wait(2), os/exec's Cmd.Wait or
// os.Process.Wait: they would race with Run for the same statuses.
//
// A Reaper from NewScopedReaper waits only for the pids it spawned
// (wait4(pid) for each), never for any other child of the process: an init
// run inside a process that has children of its own (a test) uses one, and
// reaps no orphan.
type Reaper struct {
	// mu is held across fork and registration in Spawn, and while Run looks
	// up a reaped pid, so that a child that exits before Spawn has
	// registered it is still delivered to its callback.
	mu      sync.Mutex
	waiters map[int]func(unix.WaitStatus)
	// scoped: wait for the registered pids only.
	scoped bool

	orphans atomic.Uint64
}

// NewReaper returns the process's Reaper, which reaps every child
// (wait4(-1)), orphans included; it reaps nothing until Run is called.
func NewReaper() *Reaper {
	return &Reaper{waiters: make(map[int]func(unix.WaitStatus))}
}

// NewScopedReaper returns a Reaper that waits only for the processes it
// spawned and leaves every other child of the process to its own waiter.
func NewScopedReaper() *Reaper {
	r := NewReaper()
	r.scoped = true
	return r
}

// Spawn starts a process as os.StartProcess does and arranges for onExit to
// be called, from the reaper's goroutine, with its wait status once it has
// exited. onExit must not block for long: it runs before other statuses are
// delivered. The returned pid is never waited for by anyone but Run.
func (r *Reaper) Spawn(path string, argv []string, attr *os.ProcAttr, onExit func(unix.WaitStatus)) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	// The *os.Process may hold a pidfd; we never wait through it.
	_ = p.Release()
	r.waiters[pid] = onExit
	return pid, nil
}

// Orphans returns how many processes were reaped that no Spawn had
// registered (double-forked descendants, orphans re-parented to us).
func (r *Reaper) Orphans() uint64 { return r.orphans.Load() }

// Reap reaps every child that has exited, delivering statuses, and returns
// without blocking. Run calls it on every SIGCHLD; shutdown calls it once
// more before the process exits. A scoped Reaper reaps only its own.
func (r *Reaper) Reap() {
	if r.scoped {
		r.reapSpawned()
		return
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		fn := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if fn == nil {
			r.orphans.Add(1)
			continue
		}
		fn(ws)
	}
}

// reapSpawned reaps the registered pids that have exited, one wait4(pid)
// each.
func (r *Reaper) reapSpawned() {
	r.mu.Lock()
	pids := make([]int, 0, len(r.waiters))
	for pid := range r.waiters {
		pids = append(pids, pid)
	}
	r.mu.Unlock()
	for _, pid := range pids {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		for errors.Is(err, unix.EINTR) {
			got, err = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		if err != nil || got != pid {
			continue
		}
		r.mu.Lock()
		fn := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		fn(ws)
	}
}

// Run reaps children until ctx is done. It subscribes to SIGCHLD before it
// reaps for the first time, so no exit is missed. It returns ctx.Err() after
// a last Reap.
func (r *Reaper) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	for {
		r.Reap()
		select {
		case <-sigs:
		case <-ctx.Done():
			r.Reap()
			return ctx.Err()
		}
	}
}
