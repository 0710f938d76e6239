// Package controltest provides a fake supervisor for tests of the control
// API and of its clients (the CLI, the dashboard), and a helper that serves
// it on a temporary Unix socket, in the manner of net/http/httptest.
//
// The fake keeps services in memory: registering normalises the spec like
// the real supervisor and records the uid it resolves to (a new service is
// registered down, an existing one keeps its state and is restarted when
// running with a new spec); start, stop and
// restart change the state at once; every change is published to
// subscribers; logs are entries appended by the test.
package controltest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/procstat"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// Supervisor is an in-memory control.Supervisor (and control.LogOpener).
// Create it with NewSupervisor.
type Supervisor struct {
	home                 string
	hermesUID, hermesGID int
	now                  func() time.Time
	reserved             func(name string) bool

	mu       sync.Mutex // guards everything below
	services map[string]*service
	subs     map[chan supervise.Status]struct{}
	nextPID  int
	signals  []string
}

type service struct {
	spec   supervise.Spec
	status supervise.Status
	log    *fakeLog
}

// NewSupervisor returns an empty fake supervisor for home and the hermes
// ids. Its clock is fixed at Epoch().
func NewSupervisor(home string, hermesUID, hermesGID int) *Supervisor {
	return &Supervisor{
		home: home, hermesUID: hermesUID, hermesGID: hermesGID,
		now:      Epoch,
		services: map[string]*service{},
		subs:     map[chan supervise.Status]struct{}{},
		nextPID:  1000,
	}
}

// Reserve makes reserved the names that belong to the runtime (Reserved),
// as the wiring hands them to the real supervisor; without it no name is
// reserved. It returns f.
func (f *Supervisor) Reserve(reserved func(name string) bool) *Supervisor {
	f.reserved = reserved
	return f
}

// Reserved implements control.Supervisor.
func (f *Supervisor) Reserved(name string) bool { return f.reserved != nil && f.reserved(name) }

// Epoch is the time on the fake supervisor's clock.
func Epoch() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

var _ control.Supervisor = (*Supervisor)(nil)
var _ control.LogOpener = (*Supervisor)(nil)

// Put sets a service's status as it is (to seed states the fake would not
// reach by itself: failed, backoff, root-owned).
func (f *Supervisor) Put(st supervise.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[st.Name]
	if svc == nil {
		svc = &service{spec: supervise.Spec{Name: st.Name}, log: newFakeLog()}
		f.services[st.Name] = svc
	}
	svc.status = st
	f.publish(st)
}

// AppendLog appends entries to a service's log (the service must exist).
func (f *Supervisor) AppendLog(name string, entries ...logpipe.Entry) error {
	f.mu.Lock()
	svc := f.services[name]
	f.mu.Unlock()
	if svc == nil {
		return fmt.Errorf("%w: %s", supervise.ErrNotFound, name)
	}
	svc.log.append(entries...)
	return nil
}

// Signals returns the signals sent so far, as "name:SIGNAME".
func (f *Supervisor) Signals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signals)
}

// Spec returns the normalised spec of a registered service.
func (f *Supervisor) Spec(name string) (supervise.Spec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[name]
	if svc == nil {
		return supervise.Spec{}, false
	}
	return svc.spec, true
}

// List implements control.Supervisor.
func (f *Supervisor) List() []supervise.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]supervise.Status, 0, len(f.services))
	for _, svc := range f.services {
		out = append(out, svc.status)
	}
	slices.SortFunc(out, func(a, b supervise.Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Status implements control.Supervisor.
func (f *Supervisor) Status(name string) (supervise.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[name]
	if svc == nil {
		return supervise.Status{}, fmt.Errorf("%w: %s", supervise.ErrNotFound, name)
	}
	return svc.status, nil
}

// Register implements control.Supervisor.
func (f *Supervisor) Register(ctx context.Context, spec supervise.Spec, start bool) (supervise.Status, error) {
	n, err := spec.Normalize(f.home)
	if err != nil {
		return supervise.Status{}, err
	}
	uid, _, err := supervise.ResolveUser(n.User, f.hermesUID, f.hermesGID)
	if err != nil {
		return supervise.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[n.Name]
	if svc == nil {
		svc = &service{log: newFakeLog()}
		svc.status = supervise.Status{Name: n.Name, Want: supervise.WantDown, State: supervise.Stopped, Since: f.now()}
		f.services[n.Name] = svc
	}
	// As the real supervisor: a new service is registered down, an
	// existing one keeps its wanted state, and a running one is restarted
	// when its spec changes.
	changed := !reflect.DeepEqual(svc.spec, n)
	svc.spec = n
	svc.status.UID = uid
	svc.status.Saved = n.Saved
	running := svc.status.State == supervise.Running
	if start && !running || running && changed {
		f.run(svc)
	}
	f.publish(svc.status)
	return svc.status, nil
}

// Remove implements control.Supervisor.
func (f *Supervisor) Remove(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[name]
	if svc == nil {
		return fmt.Errorf("%w: %s", supervise.ErrNotFound, name)
	}
	delete(f.services, name)
	st := svc.status
	st.Want, st.State, st.PID = supervise.WantDown, supervise.Stopped, 0
	f.publish(st)
	return nil
}

// Start implements control.Supervisor.
func (f *Supervisor) Start(ctx context.Context, name string) (supervise.Status, error) {
	return f.change(name, func(svc *service) {
		if svc.status.State != supervise.Running {
			f.run(svc)
		}
	})
}

// Stop implements control.Supervisor.
func (f *Supervisor) Stop(ctx context.Context, name string) (supervise.Status, error) {
	return f.change(name, func(svc *service) {
		st := &svc.status
		if st.State == supervise.Running {
			code := 0
			st.LastExit = &supervise.Exit{Code: &code}
		}
		st.Want, st.State, st.PID, st.Since = supervise.WantDown, supervise.Stopped, 0, f.now()
	})
}

// Restart implements control.Supervisor.
func (f *Supervisor) Restart(ctx context.Context, name string) (supervise.Status, error) {
	return f.change(name, func(svc *service) {
		if svc.status.State == supervise.Running {
			svc.status.LastExit = &supervise.Exit{Signal: "SIGTERM"}
		}
		f.run(svc)
		svc.status.Restarts++
	})
}

// Signal implements control.Supervisor.
func (f *Supervisor) Signal(name string, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[name]
	switch {
	case svc == nil:
		return fmt.Errorf("%w: %s", supervise.ErrNotFound, name)
	case svc.status.PID == 0:
		return fmt.Errorf("%w: %s", supervise.ErrNotRunning, name)
	}
	f.signals = append(f.signals, name+":"+unix.SignalName(sig))
	return nil
}

// Subscribe implements control.Supervisor.
func (f *Supervisor) Subscribe(ctx context.Context) <-chan supervise.Status {
	ch := make(chan supervise.Status, 64)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, ch)
		close(ch)
	})
	return ch
}

// Subscribers returns the number of live subscriptions.
func (f *Supervisor) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Log implements control.Supervisor; the fake serves its logs through
// OpenLog instead.
func (f *Supervisor) Log(name string) (*logpipe.Log, error) {
	return nil, fmt.Errorf("controltest: the fake serves logs through OpenLog")
}

// OpenLog implements control.LogOpener.
func (f *Supervisor) OpenLog(name string) (control.LogReader, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[name]
	if svc == nil {
		return nil, fmt.Errorf("%w: %s", supervise.ErrNotFound, name)
	}
	return svc.log, nil
}

func (f *Supervisor) change(name string, do func(*service)) (supervise.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[name]
	if svc == nil {
		return supervise.Status{}, fmt.Errorf("%w: %s", supervise.ErrNotFound, name)
	}
	do(svc)
	f.publish(svc.status)
	return svc.status, nil
}

// run marks svc running with a fresh pid; f.mu is held.
func (f *Supervisor) run(svc *service) {
	f.nextPID++
	st := &svc.status
	st.Want, st.State, st.PID, st.Since, st.Reason = supervise.WantUp, supervise.Running, f.nextPID, f.now(), ""
}

// publish sends st to every subscriber that has room; f.mu is held.
func (f *Supervisor) publish(st supervise.Status) {
	for ch := range f.subs {
		select {
		case ch <- st:
		default:
		}
	}
}

// fakeLog is an in-memory log: entries appended by the test, followers
// woken by a channel that is replaced on every append.
type fakeLog struct {
	mu      sync.Mutex
	entries []logpipe.Entry
	grew    chan struct{}
}

func newFakeLog() *fakeLog { return &fakeLog{grew: make(chan struct{})} }

func (l *fakeLog) append(es ...logpipe.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, es...)
	close(l.grew)
	l.grew = make(chan struct{})
}

// Tail implements control.LogReader.
func (l *fakeLog) Tail(n int) []logpipe.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries[max(0, len(l.entries)-n):])
}

// Follow implements control.LogReader.
func (l *fakeLog) Follow(ctx context.Context, n int, fn func(logpipe.Entry) error) error {
	l.mu.Lock()
	next := max(0, len(l.entries)-n)
	l.mu.Unlock()
	for {
		l.mu.Lock()
		batch := slices.Clone(l.entries[next:])
		next = len(l.entries)
		grew := l.grew
		l.mu.Unlock()
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-grew:
		}
	}
}

// Options are the optional parts of Serve's server configuration.
type Options struct {
	// HermesUID and HermesGID are the server's hermes user; zero means
	// 10000:10000.
	HermesUID, HermesGID int
	// Health answers /v1/health; nil means boot "ready", owner, version
	// "test".
	Health func() control.Health
	// Resources is control.Config.Resources; nil means the figures of
	// /proc for the test's own process group (syscall.Getpgrp) and none
	// for any other pid: the fake supervisor's pids are made up, and a
	// real process that happens to have one must not change a golden file.
	Resources func(pgids []int) (map[int]procstat.Usage, error)
	// ScrapeSample is control.Config.ScrapeSample.
	ScrapeSample time.Duration
	// BootDuration is control.Config.BootDuration.
	BootDuration func() time.Duration
	// Heartbeat is the event stream's heartbeat; zero means the server's
	// default.
	Heartbeat time.Duration
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Gateways serves /v1/gateways; nil means the routes answer 404 (a
	// test usually passes a gateway.Slots over the fake supervisor).
	Gateways control.Gateways
	// Connections, when set, counts the connections the server accepts,
	// so that a test can tell that a client never called.
	Connections *atomic.Int64
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Serve runs a control server for sup on a socket in a fresh temporary
// directory and returns the socket's path; the server stops when the test
// ends, and the test fails if it does not stop cleanly.
func Serve(t testing.TB, sup control.Supervisor, home string, opts Options) string {
	t.Helper()
	if opts.HermesUID == 0 {
		opts.HermesUID, opts.HermesGID = 10000, 10000
	}
	if opts.Health == nil {
		opts.Health = func() control.Health {
			return control.Health{Boot: control.BootReady, Owner: true, Version: "test"}
		}
	}
	if opts.Resources == nil {
		opts.Resources = func([]int) (map[int]procstat.Usage, error) { return procstat.Groups([]int{syscall.Getpgrp()}) }
	}
	srv := control.NewServer(control.Config{
		Sup: sup, Home: home, HermesUID: opts.HermesUID, HermesGID: opts.HermesGID,
		Health: opts.Health, Heartbeat: opts.Heartbeat, Logger: opts.Logger,
		Gateways: opts.Gateways, BootDuration: opts.BootDuration, Resources: opts.Resources,
		ScrapeSample: opts.ScrapeSample,
	})
	dir, err := os.MkdirTemp("", "hermes-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "control.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	if opts.Connections != nil {
		ln = countingListener{ln, opts.Connections}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control server: %v", err)
		}
		os.RemoveAll(dir)
	})
	return path
}

// Gateways is a fake control.Gateways over a fake Supervisor, for tests
// that do not want real profile directories: the profiles named in
// Profiles exist, and RegisterGateway registers a stand-in spec for them
// (gateway.Slots over the fake Supervisor is the real thing).
type Gateways struct {
	Sup      *Supervisor
	Profiles []string
	// Name is the service name of a profile's gateway: gateway.ServiceName.
	Name func(profile string) string
}

var _ control.Gateways = Gateways{}

// ServiceName implements control.Gateways.
func (g Gateways) ServiceName(profile string) string { return g.Name(profile) }

// RegisterGateway implements control.Gateways.
func (g Gateways) RegisterGateway(ctx context.Context, profile string, start bool) (supervise.Status, error) {
	if !slices.Contains(g.Profiles, profile) {
		return supervise.Status{}, fmt.Errorf("%w: no such profile %q", supervise.ErrNotFound, profile)
	}
	spec := supervise.Spec{
		Name: g.Name(profile),
		Argv: []string{"/opt/hermes/bin/hermes", "-p", profile, "gateway", "run", "--replace"},
	}
	return g.Sup.Register(ctx, spec, start)
}

// RemoveGateway implements control.Gateways.
func (g Gateways) RemoveGateway(ctx context.Context, profile string) error {
	return g.Sup.Remove(ctx, g.Name(profile))
}
