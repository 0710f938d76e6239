package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/initd"
)

// newTestSupervisor runs a Supervisor with a Reaper in this process; it is
// stopped at the end of the test.
func newTestSupervisor(t *testing.T, tune func(*Config)) *Supervisor {
	t.Helper()
	home := t.TempDir()
	r := initd.NewReaper()
	cfg := Config{
		Spawner:     r,
		Home:        home,
		HermesUID:   os.Geteuid(),
		HermesGID:   os.Getegid(),
		Env:         []string{"PATH=" + os.Getenv("PATH")},
		BackoffBase: 20 * time.Millisecond,
		BackoffCap:  200 * time.Millisecond,
		StableAfter: time.Hour,
	}
	if tune != nil {
		tune(&cfg)
	}
	s := New(cfg)
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
	deadline := time.Now().Add(10 * time.Second)
	var st Status
	for time.Now().Before(deadline) {
		var err error
		st, err = s.Status(name)
		if err == nil && cond(st) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("service %s: timed out waiting for %s; last status %+v", name, what, st)
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

func TestCrashRestartsWithGrowingDelays(t *testing.T) {
	s := newTestSupervisor(t, nil)
	var mu sync.Mutex
	var starts []time.Time
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lastPID := 0
		for st := range events {
			if st.Name == "crasher" && st.State == Running && st.PID != lastPID {
				lastPID = st.PID
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
			}
		}
	}()
	if _, err := s.Register(context.Background(), spec(t, "crasher", "exit", "1"), true); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, "crasher", "5 restarts", func(st Status) bool { return st.Restarts >= 5 })
	if _, err := s.Stop(context.Background(), "crasher"); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(starts) < 5 {
		t.Fatalf("saw %d starts, want at least 5", len(starts))
	}
	// Delays are 20, 40, 80, 160, 200 (cap) ms: each gap at least its delay,
	// and the fourth gap clearly longer than the first.
	want := []time.Duration{20, 40, 80, 160}
	for i := 1; i < len(starts) && i <= len(want); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < want[i-1]*time.Millisecond {
			t.Errorf("gap %d = %v, want at least %v", i, gap, want[i-1]*time.Millisecond)
		}
	}
	if g1, g4 := starts[1].Sub(starts[0]), starts[4].Sub(starts[3]); g4 <= g1 {
		t.Errorf("gaps do not grow: first %v, fourth %v", g1, g4)
	}
}

func TestBackoffResetsAfterStableRun(t *testing.T) {
	s := newTestSupervisor(t, func(c *Config) {
		c.BackoffBase = 10 * time.Millisecond
		c.BackoffCap = 5 * time.Second
		c.StableAfter = 150 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	if _, err := s.Register(context.Background(), spec(t, "flappy", "crash-after", "200ms"), true); err != nil {
		t.Fatal(err)
	}
	// Every run lasts longer than StableAfter, so every delay is the base.
	var reasons []string
	for st := range events {
		if st.Name == "flappy" && st.State == Backoff {
			reasons = append(reasons, st.Reason)
			if len(reasons) == 4 {
				break
			}
		}
	}
	for i, r := range reasons {
		if !strings.HasSuffix(r, "restarting in 10ms") {
			t.Errorf("backoff %d: reason %q, want the 10ms base delay after a stable run", i, r)
		}
	}
}

func TestExitConfigFails(t *testing.T) {
	s := newTestSupervisor(t, nil)
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
	// It stays failed.
	time.Sleep(100 * time.Millisecond)
	if st, _ := s.Status("misconfigured"); st.State != Failed || st.Restarts != 0 {
		t.Errorf("later: %s with %d restarts, want failed with 0", st.State, st.Restarts)
	}
}

func TestTermIgnoringServiceIsKilledAfterGrace(t *testing.T) {
	s := newTestSupervisor(t, nil)
	sp := spec(t, "stubborn", "ignore-term")
	sp.StopGrace = Duration(300 * time.Millisecond)
	if _, err := s.Register(context.Background(), sp, true); err != nil {
		t.Fatal(err)
	}
	// Wait until it has announced that it ignores SIGTERM.
	waitLog(t, s, "stubborn", "ignoring SIGTERM")
	start := time.Now()
	st, err := s.Stop(context.Background(), "stubborn")
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if st.LastExit == nil || st.LastExit.Signal != "SIGKILL" {
		t.Errorf("last exit = %+v, want SIGKILL", st.LastExit)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("stop took %v, want the 300ms grace then a prompt kill", took)
	}
}

func waitLog(t *testing.T, s *Supervisor, name, substr string) {
	t.Helper()
	l, err := s.Log(name)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range l.Tail(100) {
			if strings.Contains(e.Line, substr) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never logged %q", name, substr)
}

func TestPolicies(t *testing.T) {
	tests := []struct {
		name      string
		restart   Restart
		code      string
		wantState State
		wantWant  Want
	}{
		{"on-failure-clean", RestartOnFailure, "0", Stopped, WantDown},
		{"never-clean", RestartNever, "0", Stopped, WantDown},
		{"never-failure", RestartNever, "3", Failed, WantUp},
		{"on-failure-failure", RestartOnFailure, "3", Backoff, WantUp},
		{"always-clean", RestartAlways, "0", Backoff, WantUp},
	}
	s := newTestSupervisor(t, func(c *Config) { c.BackoffBase = time.Hour })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(t, tt.name, "exit", tt.code)
			sp.Restart = tt.restart
			if _, err := s.Register(context.Background(), sp, true); err != nil {
				t.Fatal(err)
			}
			st := waitStatus(t, s, tt.name, "an exit", func(st Status) bool { return st.LastExit != nil && st.PID == 0 })
			if st.State != tt.wantState || st.Want != tt.wantWant {
				t.Errorf("got %s/%s, want %s/%s (reason %q)", st.State, st.Want, tt.wantState, tt.wantWant, st.Reason)
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
	s := newTestSupervisor(t, func(c *Config) { c.BackoffBase = time.Hour })
	st, err := s.Register(context.Background(), Spec{Name: "ghost", Argv: []string{"/nonexistent/program"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Backoff || !strings.Contains(st.Reason, "cannot start") {
		t.Errorf("got %s %q, want backoff with a 'cannot start' reason", st.State, st.Reason)
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
	waitLog(t, s, "envy", "cwd=")
	l, _ := s.Log("envy")
	var lines []string
	for _, e := range l.Tail(200) {
		lines = append(lines, e.Line)
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"cwd=" + dir, "env FROM_SPEC=yes", "env PATH="} {
		if !strings.Contains(all, want) {
			t.Errorf("child output lacks %q:\n%s", want, all)
		}
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
