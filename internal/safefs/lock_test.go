package safefs

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// The test binary also plays another process holding a lock: with
// HERMES_TEST_CHILD=hold-lock it locks os.Args[1] exclusively, says
// "locked" and holds the lock until its stdin closes.
func TestMain(m *testing.M) {
	if os.Getenv("HERMES_TEST_CHILD") == "hold-lock" {
		f, err := os.OpenFile(os.Args[1], os.O_RDWR|os.O_CREATE, 0o600)
		if err == nil {
			err = Lock(context.Background(), f, Exclusive, Wait{})
		}
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdLock starts a process holding path's lock until the test ends, and
// returns its pid.
func holdLock(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], path)
	cmd.Env = testenv.ChildEnv(append(os.Environ(), "HERMES_TEST_CHILD=hold-lock")...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder: %q", line)
	}
	return cmd.Process.Pid
}

// hold locks path on an open file of its own (flock(2) locks belong to
// the open file, so it conflicts with any other, even in this process).
func hold(t *testing.T, path string) {
	t.Helper()
	if err := Lock(context.Background(), open(t, path), Exclusive, Wait{}); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestLockFreeAndHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, b := open(t, path), open(t, path)
	if err := Lock(context.Background(), a, Exclusive, Wait{}); err != nil {
		t.Fatalf("a free lock: %v", err)
	}
	// flock(2) locks belong to the open file: b conflicts with a even in
	// this process.
	if ok, err := TryLock(b, Shared); ok || err != nil {
		t.Fatalf("TryLock of a held lock = %v, %v; want false, nil", ok, err)
	}
	if err := Unlock(a); err != nil {
		t.Fatal(err)
	}
	if ok, err := TryLock(b, Shared); !ok || err != nil {
		t.Fatalf("TryLock of a free lock = %v, %v; want true, nil", ok, err)
	}
}

// TestLockBoundedWait: a lock held by another process is waited for at
// most Max, and the error names the file and the holder's pid.
func TestLockBoundedWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway_state.json")
	pid := holdLock(t, path)
	f := open(t, path)
	start := time.Now()
	err := Lock(context.Background(), f, Exclusive, Wait{Max: 200 * time.Millisecond})
	waited := time.Since(start)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock of a held file = %v, want a *LockedError", err)
	}
	if waited < 200*time.Millisecond || waited > 5*time.Second {
		t.Errorf("waited %s, want 200ms (and never unbounded)", waited)
	}
	if le.Holder != pid || le.Path != path {
		t.Errorf("LockedError names %s held by %d, want %s held by %d", le.Path, le.Holder, path, pid)
	}
	for _, want := range []string{path, "pid ", "waited"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestLockCancel: a cancelled context ends a wait at once, even a wait
// without a bound.
func TestLockCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container-boot.log")
	hold(t, path)
	f := open(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- Lock(ctx, f, Exclusive, Wait{Max: Forever}) }()
	time.AfterFunc(50*time.Millisecond, cancel)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Lock after cancel = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the cancelled wait took %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled Lock did not return")
	}
}

// TestLockBudget: waits charged to one budget stop when it is spent, and
// the locks that ran out are counted.
func TestLockBudget(t *testing.T) {
	dir := t.TempDir()
	budget := NewBudget(300 * time.Millisecond)
	start := time.Now()
	for i := range 3 {
		path := filepath.Join(dir, string(rune('a'+i)))
		hold(t, path)
		err := Lock(context.Background(), open(t, path), Exclusive, Wait{Max: 250 * time.Millisecond, Budget: budget})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("lock %d: %v, want ErrLocked", i, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("three waits under a 300ms budget took %s", d)
	}
	if budget.Left() != 0 || budget.Skipped() != 3 {
		t.Errorf("budget left %s, skipped %d; want 0 and 3", budget.Left(), budget.Skipped())
	}
	// A free lock still succeeds on a spent budget: only waiting costs.
	if err := Lock(context.Background(), open(t, filepath.Join(dir, "free")), Exclusive, Wait{Max: time.Second, Budget: budget}); err != nil {
		t.Errorf("a free lock on a spent budget: %v", err)
	}
}

func TestParseLocks(t *testing.T) {
	table := `1: FLOCK  ADVISORY  WRITE 1427 fe:01:762137 0 EOF
1: -> FLOCK  ADVISORY  WRITE 1500 fe:01:762137 0 EOF
2: POSIX  ADVISORY  WRITE 1600 fe:01:762137 0 EOF
3: FLOCK  ADVISORY  READ 1700 fe:01:99 0 EOF
4: FLOCK  ADVISORY  READ 1800 08:01:762137 0 EOF
5: OFDLCK ADVISORY  READ -1 fe:01:762137 0 EOF
garbage
`
	dev := uint64(0xfe<<8 | 0x01)
	got := parseLocks(strings.NewReader(table), dev, 762137)
	if len(got) != 1 || got[0] != 1427 {
		t.Errorf("parseLocks = %v, want [1427] (holders only, this file only)", got)
	}
}

func TestRefuse(t *testing.T) {
	tests := []struct {
		err     error
		want    string
		locked  bool
		refusal bool
	}{
		{&os.PathError{Op: "open", Path: "/h/auth.json", Err: ErrSymlink}, "refusing /h/auth.json: it is a symbolic link", false, true},
		{&os.PathError{Op: "open", Path: "/h/profiles", Err: ErrSymlink}, "refusing /h/auth.json: /h/profiles on its path is a symbolic link", false, true},
		{&FileError{Path: "/h/auth.json", Links: 2, Err: ErrHardLink}, "refusing /h/auth.json: it has 2 hard links", false, true},
		{&FileError{Path: "/h/auth.json", Kind: "a character device", Err: ErrNotRegular}, "refusing /h/auth.json: it is a character device, not a regular file", false, true},
		{&LockedError{Path: "/h/auth.json", Holder: 42, Waited: time.Second}, "refusing /h/auth.json: it is locked by pid 42; waited 1s", true, true},
		{os.ErrPermission, "", false, false},
	}
	for _, tt := range tests {
		r, ok := Refuse("/h/auth.json", tt.err, "not seeded")
		if ok != tt.refusal || r.Locked != tt.locked {
			t.Errorf("Refuse(%v) ok=%v locked=%v, want %v %v", tt.err, ok, r.Locked, tt.refusal, tt.locked)
			continue
		}
		if ok && (!strings.HasPrefix(r.String(), tt.want) || !strings.HasSuffix(r.String(), "; not seeded")) {
			t.Errorf("Refuse(%v) = %q, want it to start with %q and end with \"; not seeded\"", tt.err, r, tt.want)
		}
	}
}
