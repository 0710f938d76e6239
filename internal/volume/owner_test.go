package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func TestOwnerLock(t *testing.T) {
	home := t.TempDir()
	first, err := TryOwn(home)
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryOwn(home)
	if !errors.Is(err, ErrNotOwner) {
		t.Fatalf("second TryOwn = %v, want ErrNotOwner", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d on host", os.Getpid())) {
		t.Errorf("the error does not say who holds the lock: %v", err)
	}
	// The waiter's retries are driven by the test: each one that finds
	// the lock held says so, and it returns only once the lock is free.
	got, tick, tried := make(chan error, 1), make(chan time.Time), make(chan struct{})
	go func() {
		o, err := waitOwn(context.Background(), home, tick, func() { tried <- struct{}{} })
		if err == nil {
			o.Release()
		}
		got <- err
	}()
	for range 3 {
		<-tried
		select {
		case err := <-got:
			t.Fatalf("WaitOwn returned %v while the lock was held", err)
		default:
		}
		tick <- time.Now()
	}
	<-tried
	first.Release()
	tick <- time.Now()
	first.Release() // a second Release is harmless
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("WaitOwn after Release = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitOwn did not take the released lock")
	}
}

func TestWaitOwnCancelled(t *testing.T) {
	home := t.TempDir()
	o, err := TryOwn(home)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := WaitOwn(ctx, home, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitOwn = %v, want the context's error", err)
	}
}

// Across processes: a successor takes over when the owner dies.
func TestOwnerLockAcrossProcesses(t *testing.T) {
	home := t.TempDir()
	cmd, _, out := helper(t, "own", home, nil)
	if line, _ := out.ReadString('\n'); line != "owned\n" {
		t.Fatalf("helper: %q", line)
	}
	_, err := TryOwn(home)
	if !errors.Is(err, ErrNotOwner) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("TryOwn while the helper owns the home = %v, want ErrNotOwner naming pid %d", err, cmd.Process.Pid)
	}
	got := make(chan error, 1)
	go func() {
		o, err := WaitOwn(context.Background(), home, 10*time.Millisecond)
		o.Release()
		got <- err
	}()
	_ = cmd.Process.Kill() // the owner dies without releasing anything
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("WaitOwn after the owner died = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the successor never took over")
	}
}

// As root, run/ and the lock file belong to the owner of the home, and a
// planted hard link is never written into.
func TestOwnerLockAsRoot(t *testing.T) {
	testenv.NeedRoot(t, "create run/ for the hermes uid and plant links as it would")
	tmp := sharedTempDir(t)
	home := filepath.Join(tmp, "data")
	mkdir(t, home, 0o755, hermesUID, hermesGID)
	o, err := TryOwn(home)
	if err != nil {
		t.Fatal(err)
	}
	o.Release()
	for p, mode := range map[string]uint32{filepath.Join(home, "run"): 0o700, filepath.Join(home, OwnerLockFile): 0o600} {
		wantOwner(t, p, hermesUID, hermesGID)
		if _, _, m := owner(t, p); m != mode {
			t.Errorf("%s mode %o, want %o", p, m, mode)
		}
	}
	victim := filepath.Join(tmp, "victim")
	mkfile(t, victim, "precious\n", 0o644, 0, 0)
	lock := filepath.Join(home, OwnerLockFile)
	os.Remove(lock)
	if err := os.Link(victim, lock); err != nil {
		t.Fatal(err)
	}
	o, err = TryOwn(home)
	if err != nil {
		t.Fatal(err)
	}
	o.Release()
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("TryOwn wrote into a planted hard link: %q", b)
	}
	var st unix.Stat_t
	if err := unix.Lstat(lock, &st); err != nil || st.Nlink != 1 {
		t.Errorf("the planted link was not replaced (%v, %d links)", err, st.Nlink)
	}
	os.Remove(lock)
	if err := os.Symlink(victim, lock); err != nil {
		t.Fatal(err)
	}
	o, err = TryOwn(home)
	if err != nil {
		t.Fatalf("TryOwn with a symlink planted at the lock file = %v, want it replaced", err)
	}
	o.Release()
	if err := unix.Lstat(lock, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("the planted symlink was not replaced (%v)", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("TryOwn wrote through a planted symlink: %q", b)
	}
}

func TestUnsupported(t *testing.T) {
	for _, err := range []error{unix.ENOLCK, unix.EOPNOTSUPP, unix.ENOSYS, fmt.Errorf("x: %w", unix.EINVAL),
		&UnsupportedError{Op: "flock", Path: "/x", Err: unix.ENOLCK}} {
		if !Unsupported(err) {
			t.Errorf("Unsupported(%v) = false", err)
		}
	}
	for _, err := range []error{unix.EACCES, unix.EWOULDBLOCK, ErrNotOwner, nil} {
		if Unsupported(err) {
			t.Errorf("Unsupported(%v) = true", err)
		}
	}
	e := error(&UnsupportedError{Op: "flock", Path: "/x/run/owner.lock", Err: unix.ENOLCK})
	if !errors.Is(e, ErrUnsupported) || !errors.Is(e, unix.ENOLCK) {
		t.Errorf("%v does not wrap ErrUnsupported and ENOLCK", e)
	}
}
