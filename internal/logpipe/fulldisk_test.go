package logpipe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// fullDiskEnv names the directory the re-executed test mounts its tmpfs on.
const fullDiskEnv = "HERMES_LOGPIPE_FULLDISK_DIR"

// TestFullDisk runs fullDisk in a copy of the test binary started in a
// private mount namespace, where it mounts a 64 KiB tmpfs.
func TestFullDisk(t *testing.T) {
	if dir := os.Getenv(fullDiskEnv); dir != "" {
		fullDisk(t, dir)
		return
	}
	testenv.NeedRoot(t, "mounts a 64 KiB tmpfs in a private mount namespace")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFullDisk$", "-test.v", "-test.count=1", "-test.timeout=60s")
	cmd.Env = testenv.ChildEnv(append(os.Environ(), fullDiskEnv+"="+t.TempDir())...)
	// CLONE_NEWNS: os/exec also makes the child's mounts private.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestFullDisk") {
		t.Fatal("the child did not pass TestFullDisk")
	}
}

func fullDisk(t *testing.T, dir string) {
	must(t, unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755"))
	defer unix.Unmount(dir, unix.MNT_DETACH)
	// Leave one page free, so that a write stops half way.
	ballast := filepath.Join(dir, "ballast")
	must(t, os.WriteFile(ballast, make([]byte, 60<<10), 0o600))

	out := new(testenv.Buffer)
	cons := NewConsole(out)
	runConsole(t, cons)
	current := filepath.Join(dir, "logs", "current")
	l := New(Config{File: &FileConfig{Path: current, Base: dir, Owner: safefs.Keep}, Stdout: cons})
	defer l.Close()

	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "%095d\n", i)
		}
		return b.String()
	}
	// While the disk is full the service goes on and so does the console.
	const full, after = 400, 100
	feed(t, l, Stdout, lines(0, full))
	l.idleFile(t)
	c := l.Counters()
	if c.Lines != full || c.WriteErrors == 0 || c.Dropped == 0 {
		t.Fatalf("Counters() = %+v, want %d lines, write errors and drops", c, full)
	}
	recs := readRecords(t, current) // also checks that no record was cut
	t.Logf("disk full: %d records written, counters %+v", len(recs), c)
	if got := uint64(len(recs)) + c.Dropped; got != full {
		t.Errorf("%d records + %d dropped = %d, want %d", len(recs), c.Dropped, got, full)
	}
	testenv.Eventually(t, 10*time.Second, "the console copy", func() bool { return out.String() == lines(0, full) })

	// Once there is room again, writing resumes.
	must(t, os.Remove(ballast))
	feed(t, l, Stdout, lines(full, full+after))
	l.idleFile(t)
	if got := l.Counters(); got.WriteErrors != c.WriteErrors || got.Dropped != c.Dropped {
		t.Errorf("Counters() = %+v after space was freed, want errors and drops unchanged from %+v", got, c)
	}
	recs2 := readRecords(t, current)
	if len(recs2) != len(recs)+after {
		t.Fatalf("%d records after space was freed, want %d", len(recs2), len(recs)+after)
	}
	for i, r := range recs2[len(recs):] {
		if _, line := untimed(t, r); line != fmt.Sprintf("%095d", full+i) {
			t.Fatalf("record %q, want line %d", r, full+i)
		}
	}
	if err := l.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close() = %v, want nil", err)
	}
}
