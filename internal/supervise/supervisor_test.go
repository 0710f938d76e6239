package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// newTestSupervisor runs a Supervisor with a Reaper in this process, on
// the wall clock or, when clk is not nil, on clk; it is stopped at the end
// of the test. The backoff has the defaults of CONTRACT §4.
func newTestSupervisor(t *testing.T, clk *fakeClock) *Supervisor {
	t.Helper()
	home := t.TempDir()
	r := initd.NewReaper()
	s := New(Config{
		Spawner:   r,
		Home:      home,
		HermesUID: os.Geteuid(),
		HermesGID: os.Getegid(),
		Env:       []string{"PATH=" + os.Getenv("PATH")},
	})
	if clk != nil {
		s.clock = clk
	}
	// The reaper outlives the supervisor, as in init: the supervisor's
	// shutdown needs the exits it delivers.
	reapCtx, stopReaper := context.WithCancel(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	reaped, supervised := make(chan struct{}), make(chan struct{})
	go func() { defer close(reaped); _ = r.Run(reapCtx) }()
	go func() { defer close(supervised); _ = s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-supervised
		stopReaper()
		<-reaped
	})
	return s
}

func spec(t *testing.T, name, role string, args ...string) Spec {
	argv, env := childArgv(t, role, args...)
	return Spec{Name: name, Argv: argv, Env: env}
}

// waitStatus polls until cond holds for the service (never a fixed sleep).
func waitStatus(t *testing.T, s *Supervisor, name string, what string, cond func(Status) bool) Status {
	t.Helper()
	var st Status
	testenv.EventuallyNil(t, 10*time.Second, "service "+name+" to be "+what, func() error {
		var err error
		if st, err = s.Status(name); err != nil {
			return err
		}
		if !cond(st) {
			return fmt.Errorf("last status %+v", st)
		}
		return nil
	})
	return st
}

func alive(pid int) bool { return unix.Kill(pid, 0) == nil }

func TestStartStop(t *testing.T) {
	s := newTestSupervisor(t, nil)
	ctx := context.Background()
	st, err := s.Register(ctx, spec(t, "sleeper", "sleep"), true)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Running || st.Want != WantUp || st.PID == 0 {
		t.Fatalf("after Register: got %s/%s pid %d, want running/up with a pid", st.State, st.Want, st.PID)
	}
	pid := st.PID
	waitLog(t, s, "sleeper", "sleeping")
	if pgid, _ := unix.Getpgid(pid); pgid != pid {
		t.Errorf("process group of %d = %d, want a fresh group %d", pid, pgid, pid)
	}
	st, err = s.Stop(ctx, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Stopped || st.Want != WantDown || st.PID != 0 {
		t.Fatalf("after Stop: got %s/%s pid %d, want stopped/down pid 0", st.State, st.Want, st.PID)
	}
	if st.LastExit == nil || st.LastExit.Code == nil || *st.LastExit.Code != 0 {
		t.Errorf("last exit = %+v, want code 0 (the child exits 0 on SIGTERM)", st.LastExit)
	}
	if alive(pid) {
		t.Errorf("pid %d still alive after Stop returned", pid)
	}
	st, err = s.Start(ctx, "sleeper")
	if err != nil || st.State != Running || st.PID == pid {
		t.Fatalf("Start again: got %+v, %v; want running with a new pid", st, err)
	}
}

// TestBackoff: the delays before the restarts of a service whose process
// dies, on an injected clock (CONTRACT §4): 50 ms first, then doubling,
// never more than 30 s, and 50 ms again after a run of 60 s.
func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		ups  []time.Duration // how long each run lasts before its process is killed
		want []time.Duration // the delay before each restart
	}{
		{"doubling from 50ms", make([]time.Duration, 5), []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms}},
		{"capped at 30s", make([]time.Duration, 12), []time.Duration{
			50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms,
			12800 * ms, 25600 * ms, 30 * time.Second, 30 * time.Second,
		}},
		{"reset after 60s up", []time.Duration{0, 0, time.Minute, 0}, []time.Duration{50 * ms, 100 * ms, 50 * ms, 100 * ms}},
		{"no reset before 60s up", []time.Duration{0, 0, time.Minute - ms}, []time.Duration{50 * ms, 100 * ms, 200 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			s := newTestSupervisor(t, clk)
			st, err := s.Register(context.Background(), spec(t, "crasher", "sleep"), true)
			if err != nil {
				t.Fatal(err)
			}
			var got []time.Duration
			for i, up := range tt.ups {
				clk.Advance(up)
				if err := s.Signal("crasher", syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				st = waitStatus(t, s, "crasher", "a backoff", func(st Status) bool { return st.State == Backoff && st.Restarts == i })
				wait := st.NextStart.Sub(clk.Now())
				if timers := armed(s, clk); !slices.Equal(timers, []time.Duration{wait}) {
					t.Fatalf("after exit %d: timers %v, want one at next_start, %v from now", i+1, timers, wait)
				}
				got = append(got, wait)

				pid := st.PID
				clk.Advance(wait)
				if st, _ = s.Status("crasher"); st.State != Running || st.Restarts != i+1 || st.PID == pid {
					t.Fatalf("once the backoff is over: %s with %d restarts, want running with %d", st.State, st.Restarts, i+1)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("delays %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExitConfigFails(t *testing.T) {
	clk := newFakeClock()
	s := newTestSupervisor(t, clk)
	if _, err := s.Register(context.Background(), spec(t, "misconfigured", "config-error"), true); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, s, "misconfigured", "failed", func(st Status) bool { return st.State == Failed })
	if st.Restarts != 0 {
		t.Errorf("restarts = %d, want 0 (exit 78 is never restarted)", st.Restarts)
	}
	if st.LastExit == nil || st.LastExit.Code == nil || *st.LastExit.Code != 78 {
		t.Errorf("last exit = %+v, want code 78", st.LastExit)
	}
	if !strings.Contains(st.Reason, "no provider configured") || !strings.Contains(st.Reason, "78") {
		t.Errorf("reason = %q, want the exit code and the service's last line", st.Reason)
	}

	// It stays failed: no restart is armed, and an hour later nothing has
	// happened.
	if timers := armed(s, clk); timers != nil {
		t.Errorf("timers %v armed after exit 78, want none", timers)
	}
	clk.Advance(time.Hour)
	if st, _ := s.Status("misconfigured"); st.State != Failed || st.Restarts != 0 {
		t.Errorf("an hour later: %s with %d restarts, want failed with 0", st.State, st.Restarts)
	}
}

func TestTermIgnoringServiceIsKilledAfterGrace(t *testing.T) {
	clk := newFakeClock()
	s := newTestSupervisor(t, clk)
	sp := spec(t, "stubborn", "ignore-term")
	sp.StopGrace = Duration(300 * time.Millisecond)
	st, err := s.Register(context.Background(), sp, true)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until it has announced that it ignores SIGTERM.
	waitLog(t, s, "stubborn", "ignoring SIGTERM")
	type result struct {
		st  Status
		err error
	}
	stopped := make(chan result, 1)
	go func() {
		st, err := s.Stop(context.Background(), "stubborn")
		stopped <- result{st, err}
	}()
	waitStatus(t, s, "stubborn", "stopping", func(st Status) bool { return st.State == Stopping })
	if timers := armed(s, clk); !slices.Equal(timers, []time.Duration{300 * time.Millisecond}) {
		t.Fatalf("timers %v while stopping, want the kill at the 300ms grace", timers)
	}
	clk.Advance(300*time.Millisecond - time.Nanosecond)
	if got, _ := s.Status("stubborn"); got.State != Stopping || !alive(st.PID) {
		t.Fatalf("before the grace is over: %s, alive %v; want stopping and alive", got.State, alive(st.PID))
	}
	clk.Advance(time.Nanosecond)
	r := <-stopped
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.st.LastExit == nil || r.st.LastExit.Signal != "SIGKILL" {
		t.Errorf("last exit = %+v, want SIGKILL", r.st.LastExit)
	}
}

func waitLog(t *testing.T, s *Supervisor, name, substr string) {
	t.Helper()
	l, err := s.Log(name)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%s to log %q", name, substr), func() bool {
		for _, e := range l.Tail(200) {
			if strings.Contains(e.Line, substr) {
				return true
			}
		}
		return false
	})
}

// TestPolicies: what follows the exit of a service, by its restart policy
// and its no_restart_exit_codes, on an injected clock: the state, the
// wanted state, and the backoff armed (none: nothing happens, even an hour
// later).
func TestPolicies(t *testing.T) {
	tests := []struct {
		name      string
		restart   Restart
		noRestart []int
		code      string
		wantState State
		wantWant  Want
		wantWait  time.Duration // the backoff before a restart; 0: none
	}{
		{"on-failure-clean", RestartOnFailure, nil, "0", Stopped, WantDown, 0},
		{"never-clean", RestartNever, nil, "0", Stopped, WantDown, 0},
		{"never-failure", RestartNever, nil, "3", Failed, WantUp, 0},
		{"on-failure-failure", RestartOnFailure, nil, "3", Backoff, WantUp, 50 * time.Millisecond},
		{"always-clean", RestartAlways, nil, "0", Backoff, WantUp, 50 * time.Millisecond},
		{"78-by-default", "", nil, "78", Failed, WantUp, 0},
		{"always-78", RestartAlways, nil, "78", Failed, WantUp, 0},
		{"listed-code", RestartOnFailure, []int{3, 4}, "4", Failed, WantUp, 0},
		{"78-not-listed", RestartOnFailure, []int{3}, "78", Backoff, WantUp, 50 * time.Millisecond},
		{"empty-list", RestartOnFailure, []int{}, "78", Backoff, WantUp, 50 * time.Millisecond},
		{"always-listed-0", RestartAlways, []int{0}, "0", Failed, WantUp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			s := newTestSupervisor(t, clk)
			sp := spec(t, tt.name, "exit", tt.code)
			sp.Restart = tt.restart
			sp.NoRestartExitCodes = tt.noRestart
			if _, err := s.Register(context.Background(), sp, true); err != nil {
				t.Fatal(err)
			}
			st := waitStatus(t, s, tt.name, "an exit", func(st Status) bool { return st.LastExit != nil && st.PID == 0 })
			if st.State != tt.wantState || st.Want != tt.wantWant {
				t.Errorf("got %s/%s, want %s/%s (reason %q)", st.State, st.Want, tt.wantState, tt.wantWant, st.Reason)
			}
			var want []time.Duration
			if tt.wantWait > 0 {
				want = []time.Duration{tt.wantWait}
			}
			if got := armed(s, clk); !slices.Equal(got, want) {
				t.Errorf("timers armed %v, want %v", got, want)
			}
			wantRestarts := 0
			if tt.wantWait > 0 {
				wantRestarts = 1
			}
			clk.Advance(time.Hour)
			if st, _ := s.Status(tt.name); st.Restarts != wantRestarts {
				t.Errorf("an hour later: %d restarts, want %d", st.Restarts, wantRestarts)
			}
		})
	}
}

func TestReplaceSpecRestartsRunningService(t *testing.T) {
	s := newTestSupervisor(t, nil)
	ctx := context.Background()
	sp := spec(t, "svc", "sleep")
	st1, err := s.Register(ctx, sp, true)
	if err != nil {
		t.Fatal(err)
	}
	// Same spec: nothing happens.
	st2, err := s.Register(ctx, sp, true)
	if err != nil || st2.PID != st1.PID {
		t.Fatalf("identical spec: pid %d -> %d (%v), want unchanged", st1.PID, st2.PID, err)
	}
	sp.Env["EXTRA"] = "1"
	st3, err := s.Register(ctx, sp, true)
	if err != nil {
		t.Fatal(err)
	}
	if st3.State != Running || st3.PID == st1.PID || st3.PID == 0 {
		t.Fatalf("replaced spec: got %s pid %d, want running with a new pid (old %d)", st3.State, st3.PID, st1.PID)
	}
	got, _ := s.Spec("svc")
	if got.Env["EXTRA"] != "1" {
		t.Errorf("spec env = %v, want EXTRA=1", got.Env)
	}
}

func TestRegisterDownAndRemove(t *testing.T) {
	s := newTestSupervisor(t, nil)
	ctx := context.Background()
	st, err := s.Register(ctx, spec(t, "idle", "sleep"), false)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Stopped || st.Want != WantDown || st.PID != 0 {
		t.Fatalf("registered down: got %+v", st)
	}
	if err := s.Remove(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status("idle"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status after Remove: err = %v, want ErrNotFound", err)
	}
	if err := s.Remove(ctx, "never-was"); err != nil {
		t.Errorf("Remove of an absent service: %v, want nil", err)
	}
	if _, err := s.Start(ctx, "never-was"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Start of an absent service: %v, want ErrNotFound", err)
	}
}

func TestConcurrentRegisterRemove(t *testing.T) {
	s := newTestSupervisor(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("svc-%03d", i)
			if _, err := s.Register(ctx, spec(t, name, "sleep"), true); err != nil {
				errs <- err
				return
			}
			if i%2 == 0 {
				if err := s.Remove(ctx, name); err != nil {
					errs <- err
				}
			} else if _, err := s.Stop(ctx, name); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list := s.List()
	if len(list) != 50 {
		t.Fatalf("%d services left, want 50", len(list))
	}
	for i, st := range list {
		want := fmt.Sprintf("svc-%03d", 2*i+1)
		if st.Name != want || st.State != Stopped || st.PID != 0 {
			t.Errorf("list[%d] = %s %s pid %d, want %s stopped pid 0", i, st.Name, st.State, st.PID, want)
		}
	}
}

func TestStartFailureBacksOff(t *testing.T) {
	clk := newFakeClock()
	s := newTestSupervisor(t, clk)
	st, err := s.Register(context.Background(), Spec{Name: "ghost", Argv: []string{"/nonexistent/program"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Backoff || !strings.Contains(st.Reason, "cannot start") {
		t.Errorf("got %s %q, want backoff with a 'cannot start' reason", st.State, st.Reason)
	}
	// Each failed start backs off like a crash.
	for i, want := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond} {
		if got := armed(s, clk); !slices.Equal(got, []time.Duration{want}) {
			t.Fatalf("after failed start %d: timers %v, want %v", i+1, got, want)
		}
		clk.Advance(want)
	}
	if st, _ := s.Status("ghost"); st.State != Backoff || st.Restarts != 2 {
		t.Errorf("after two backoffs: %s with %d restarts, want backoff with 2", st.State, st.Restarts)
	}
}

func TestEnvAndDir(t *testing.T) {
	s := newTestSupervisor(t, nil)
	dir := t.TempDir()
	sp := spec(t, "envy", "env")
	sp.Dir = dir
	sp.Env["FROM_SPEC"] = "yes"
	if _, err := s.Register(context.Background(), sp, true); err != nil {
		t.Fatal(err)
	}
	// The child prints its cwd first, then its environment: wait for each
	// line, not only for the first.
	for _, want := range []string{"cwd=" + dir, "env FROM_SPEC=yes", "env PATH="} {
		waitLog(t, s, "envy", want)
	}
}

func TestSignalReachesGroup(t *testing.T) {
	s := newTestSupervisor(t, nil)
	if _, err := s.Register(context.Background(), spec(t, "sig", "sleep"), true); err != nil {
		t.Fatal(err)
	}
	waitLog(t, s, "sig", "sleeping")
	if err := s.Signal("sig", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, s, "sig", "got SIGTERM")
	if err := s.Signal("nope", syscall.SIGTERM); !errors.Is(err, ErrNotFound) {
		t.Errorf("Signal absent: %v, want ErrNotFound", err)
	}
}

func TestShutdownDeadlineCapsGrace(t *testing.T) {
	s := newTestSupervisor(t, nil)
	for i := range 5 {
		sp := spec(t, fmt.Sprintf("stubborn-%d", i), "ignore-term")
		sp.StopGrace = Duration(time.Minute)
		if _, err := s.Register(context.Background(), sp, true); err != nil {
			t.Fatal(err)
		}
		waitLog(t, s, sp.Name, "ignoring SIGTERM")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = s.Shutdown(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Shutdown took %v, want about the 400ms deadline", took)
	}
	if _, err := s.Register(context.Background(), spec(t, "late", "sleep"), true); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Shutdown: %v, want ErrClosed", err)
	}
}

func TestLogFileDefaultsUnderHome(t *testing.T) {
	sp, err := Spec{Name: "x", Argv: []string{"true"}}.Normalize("/opt/data")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sp.LogFile, filepath.Join("/opt/data", "logs", "x", "current"); got != want {
		t.Errorf("LogFile = %q, want %q", got, want)
	}
}

// TestExpectUID: an operation made under ExpectUID acts only on a service
// that runs as that uid (the control API's authorisation holds when the
// loop acts).
func TestExpectUID(t *testing.T) {
	s := newTestSupervisor(t, nil)
	ctx := context.Background()
	if _, err := s.Register(ctx, spec(t, "mine", "sleep"), false); err != nil {
		t.Fatal(err)
	}
	other := ExpectUID(ctx, os.Geteuid()+1)
	for name, op := range map[string]func() error{
		"start":   func() error { _, err := s.Start(other, "mine"); return err },
		"stop":    func() error { _, err := s.Stop(other, "mine"); return err },
		"restart": func() error { _, err := s.Restart(other, "mine"); return err },
		"remove":  func() error { return s.Remove(other, "mine") },
		"replace": func() error { _, err := s.Register(other, spec(t, "mine", "exit", "0"), false); return err },
	} {
		if err := op(); !errors.Is(err, ErrOwner) {
			t.Errorf("%s under another uid: %v, want ErrOwner", name, err)
		}
	}
	if _, err := s.Start(ExpectUID(ctx, os.Geteuid()), "mine"); err != nil {
		t.Errorf("start under the service's own uid: %v", err)
	}
	if st, _ := s.Status("mine"); st.State != Running {
		t.Errorf("state = %s, want running", st.State)
	}
}

// TestRegisterSaved: the status says saved while the registered spec is
// marked so; the same spec registered again without the mark (or with it)
// changes only the flag, and a running service is not restarted for it.
func TestRegisterSaved(t *testing.T) {
	s := newTestSupervisor(t, nil)
	ctx := context.Background()
	pid := 0
	for _, tt := range []struct {
		saved, start bool
	}{{true, false}, {false, false}, {true, true}, {false, true}, {true, true}} {
		sp := spec(t, "keeper", "sleep")
		sp.Saved = tt.saved
		st, err := s.Register(ctx, sp, tt.start)
		if err != nil {
			t.Fatal(err)
		}
		if st.Saved != tt.saved {
			t.Errorf("Register(saved=%v, start=%v): status saved = %v", tt.saved, tt.start, st.Saved)
		}
		got, _ := s.Status("keeper")
		if got.Saved != tt.saved {
			t.Errorf("Status after Register(saved=%v): saved = %v", tt.saved, got.Saved)
		}
		if tt.start {
			if pid != 0 && got.PID != pid {
				t.Errorf("the flag alone restarted the service: pid %d, was %d", got.PID, pid)
			}
			pid = got.PID
		}
	}
}
