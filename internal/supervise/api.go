// The public calls: each posts to the loop and waits there for its change
// to take effect.

package supervise

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/logpipe"
)

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

// Reserved reports whether name belongs to the runtime (Config.Reserved):
// no client of the control API registers or removes it.
func (s *Supervisor) Reserved(name string) bool { return s.cfg.Reserved(name) }

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
			svc = &service{spec: norm, uid: uid, gid: gid, want: WantDown, state: Stopped, since: s.clock.Now()}
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
		// Whether the spec is saved is no part of its equality: a spec
		// saved again, or no longer, changes only the flag.
		svc.spec.Saved = norm.Saved
		if svc.pending != nil {
			svc.pending.Saved = norm.Saved
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

// publish hands st to every subscriber that has room for it.
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
