package initd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The test binary plays the children: TestMain runs the role named by
// HERMES_TEST_CHILD instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("HERMES_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "exit":
		code, _ := strconv.Atoi(os.Args[1])
		os.Exit(code)
	case "double-fork":
		// Start N grandchildren that outlive us, then exit at once: they
		// are re-parented to the nearest subreaper.
		n, _ := strconv.Atoi(os.Args[1])
		for range n {
			p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "sleep 0.2"}, &os.ProcAttr{})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			p.Release()
		}
		os.Exit(0)
	case "subreaper":
		os.Exit(subreaperHarness(os.Args[1]))
	case "ignored-32":
		// Inherit signal 32 ignored, as from a launcher that ignores it,
		// reset, then become what the main command would be.
		ign := [4]uint64{1}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, 32, uintptr(unsafe.Pointer(&ign)), 0, 8, 0, 0)
		if os.Args[1] == "reset" {
			resetIgnoredSignals()
		}
		syscall.Exec("/bin/grep", []string{"grep", "SigIgn", "/proc/self/status"}, nil)
		os.Exit(3)
	}
	os.Exit(2)
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestSpawnDeliversImmediateExit(t *testing.T) {
	r := NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	for _, code := range []int{0, 1, 42, 78} {
		got := make(chan unix.WaitStatus, 1)
		_, err := r.Spawn(self(t), []string{"child", strconv.Itoa(code)}, &os.ProcAttr{
			Env: []string{"HERMES_TEST_CHILD=exit"},
		}, func(ws unix.WaitStatus) { got <- ws })
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ws := <-got:
			if c := exitCode(ws); c != code {
				t.Errorf("exit status = %d, want %d", c, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("exit %d never delivered", code)
		}
	}
}

// TestResetIgnoredSignals: signals init inherited as ignored (here 32, one
// the Go runtime leaves alone, plus whatever this test's own launcher
// ignores) reach the main command with the default disposition.
func TestResetIgnoredSignals(t *testing.T) {
	ignored := func(mode string) uint64 {
		t.Helper()
		cmd := exec.Command(self(t), mode)
		cmd.Env = []string{"HERMES_TEST_CHILD=ignored-32"}
		out, err := cmd.CombinedOutput()
		hex, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "SigIgn:\t")
		v, perr := strconv.ParseUint(hex, 16, 64)
		if err != nil || !ok || perr != nil {
			t.Fatalf("%s: %q (%v)", mode, out, err)
		}
		return v
	}
	if got := ignored("keep"); got&(1<<31) == 0 {
		t.Errorf("without the reset: SigIgn %#x, want signal 32 (bit 31) ignored: the test does not reproduce", got)
	}
	if got := ignored("reset"); got != 0 {
		t.Errorf("after the reset: SigIgn %#x, want nothing ignored", got)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		ws   unix.WaitStatus
		want int
	}{
		{"exit 0", 0, 0},
		{"exit 42", 42 << 8, 42},
		{"SIGTERM", unix.WaitStatus(unix.SIGTERM), 143},
		{"SIGKILL", unix.WaitStatus(unix.SIGKILL), 137},
		{"SIGINT", unix.WaitStatus(unix.SIGINT), 130},
	}
	for _, tt := range tests {
		if got := exitCode(tt.ws); got != tt.want {
			t.Errorf("exitCode(%s) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// subreaperHarness runs in a child test process that is a subreaper: it
// spawns a double-forking child through the Reaper and checks that every
// orphan is reaped and no zombie is left.
func subreaperHarness(nStr string) int {
	n, _ := strconv.Atoi(nStr)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Println("prctl:", err)
		return 1
	}
	r := NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	exe, _ := os.Executable()
	done := make(chan unix.WaitStatus, 1)
	if _, err := r.Spawn(exe, []string{"child", nStr}, &os.ProcAttr{
		Env:   []string{"HERMES_TEST_CHILD=double-fork"},
		Files: []*os.File{nil, os.Stdout, os.Stderr},
	}, func(ws unix.WaitStatus) { done <- ws }); err != nil {
		fmt.Println("spawn:", err)
		return 1
	}
	if ws := <-done; exitCode(ws) != 0 {
		fmt.Println("double-fork child failed:", exitCode(ws))
		return 1
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.Orphans() < uint64(n) {
		if time.Now().After(deadline) {
			fmt.Printf("reaped %d orphans, want %d\n", r.Orphans(), n)
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
	if z := zombieChildren(os.Getpid()); len(z) > 0 {
		fmt.Println("zombies left:", z)
		return 1
	}
	fmt.Printf("reaped %d orphans\n", r.Orphans())
	return 0
}

// zombieChildren lists the zombie children of pid from /proc.
func zombieChildren(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func TestDoubleForkedOrphansAreReaped(t *testing.T) {
	cmd := exec.Command(self(t), "100")
	cmd.Env = append(os.Environ(), "HERMES_TEST_CHILD=subreaper")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("subreaper harness: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "reaped 100 orphans") {
		t.Errorf("harness said %q, want 'reaped 100 orphans'", out)
	}
}

// TestScopedReaperReapsOnlyItsOwn: a scoped Reaper delivers the exits of
// what it spawned and leaves the process's other children to their own
// waiter (here os/exec's).
func TestScopedReaperReapsOnlyItsOwn(t *testing.T) {
	other := exec.Command(self(t), "0")
	other.Env = []string{"HERMES_TEST_CHILD=exit"}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	r := NewScopedReaper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	got := make(chan unix.WaitStatus, 1)
	if _, err := r.Spawn(self(t), []string{"child", "7"}, &os.ProcAttr{
		Env: []string{"HERMES_TEST_CHILD=exit"},
	}, func(ws unix.WaitStatus) { got <- ws }); err != nil {
		t.Fatal(err)
	}
	select {
	case ws := <-got:
		if c := exitCode(ws); c != 7 {
			t.Errorf("own child's exit = %d, want 7", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("own child's exit never delivered")
	}
	// The other child is a zombie waiting for its waiter: a Reap now would
	// take it, were it not scoped.
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(zombieChildren(os.Getpid()), other.Process.Pid); {
		if time.Now().After(deadline) {
			t.Fatal("the other child never exited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Reap()
	cancel()
	<-done
	if err := other.Wait(); err != nil {
		t.Errorf("the other child: %v (reaped by the scoped reaper?)", err)
	}
	if n := r.Orphans(); n != 0 {
		t.Errorf("orphans = %d, want 0", n)
	}
}
