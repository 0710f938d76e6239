// Package testenv is the one place where a test says what it needs from the
// machine (root, Docker, a program) and why. Outside CI a missing need skips
// the test with the reason; under CI (HERMES_CI=1, set by .ci/run) it fails
// it, because CI must never pass by silently skipping.
//
// It also holds what tests would otherwise copy: the one polling helper
// (Eventually, EventuallyNil: a deadline, a short poll interval, a failure
// that says what was awaited), the environment of a child the test binary
// plays (ChildEnv), a copy of the test binary other uids can run
// (Executable), a test re-run as another uid (AsUser), golden files and a
// goroutine-safe buffer.
package testenv

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run under .ci/run.
func InCI() bool { return os.Getenv("HERMES_CI") == "1" }

// Need skips (or, in CI, fails) t unless ok; reason says what is missing
// and why the test needs it.
func Need(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("required by this test and missing in CI: %s", reason)
	}
	t.Skipf("skipped: %s", reason)
}

// NeedRoot requires uid 0; why says what the test does with it.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root to "+why)
}

// NeedProgram requires an executable on PATH.
func NeedProgram(t testing.TB, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, err == nil, "needs "+name+" on PATH to "+why)
	return p
}

// Buffer is a bytes.Buffer that writers (a logger, a child process's
// output) and a test reading it may use at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len returns how many bytes were written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// Reset forgets what was written.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// update is the -update flag of every test binary that compares golden
// files: go test -update rewrites them from what the tests produce.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden compares got with testdata/name (what a person reads: CLI output,
// wire shapes, messages), or rewrites the file under go test -update. A
// difference is reported at its first differing line.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got == string(want) {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("%s differs at line %d (go test -update rewrites it):\n want %q\n  got %q", path, i+1, wl, gl)
			return
		}
	}
}

// Poll intervals of Eventually: the first wait is short, so that a
// condition that is about to hold costs little; later ones grow, so that
// an expensive condition (a docker exec) is not asked in a loop.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// Eventually waits until cond holds, asking it at once and then every few
// milliseconds (5 ms, growing to 100 ms), and fails t naming what it
// waited for when timeout passes first. It is the one polling helper of
// the tests: a test waits for an event, never sleeps and hopes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyNil(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = fmt.Errorf("it does not hold yet")

// EventuallyNil is Eventually for a condition that says what it saw: cond
// returns nil once it holds, and its last error is in the failure.
func EventuallyNil(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := firstPoll
	for {
		err := cond()
		if err == nil {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("still waiting after %v for %s: %v", timeout, what, err)
			return
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(2*interval, maxPoll)
	}
}

// NoExitSleep is the environment entry that keeps a race-built process
// from sleeping a second before it exits with status 0 (the race
// detector's atexit_sleep_ms).
const NoExitSleep = "GORACE=atexit_sleep_ms=0"

// ChildEnv returns env (KEY=VALUE entries) with NoExitSleep added, for a
// child that the test binary (built with -race in CI) plays: without it
// every such child that exits 0 costs the test a second.
func ChildEnv(env ...string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GORACE=") {
			out = append(out, kv)
		}
	}
	return append(out, NoExitSleep)
}

// Executable returns a copy of the running test binary that every uid can
// execute (go test's build directory is private to its user), removed
// when t ends.
func Executable(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "hermes-test-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(exe))
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// asUserEnv names, in the child of AsUser, the test it runs.
const asUserEnv = "HERMES_TESTENV_AS_USER"

// AsUser runs the test t again, alone, in a child of the test binary (a
// copy every uid can execute) as uid and gid without supplementary groups,
// and fails t with the child's output when the child fails. It returns
// true in the parent, whose part is then done, and false where the test's
// body is to run: in that child, or directly in a process that is not
// root (it already is some user's). So a test of what an unprivileged
// process meets runs under CI, which is root, too. t must be a top-level
// test; the child runs in / (its package directory may be closed to uid),
// so it reads no testdata.
func AsUser(t *testing.T, uid, gid int) bool {
	t.Helper()
	if os.Getenv(asUserEnv) == t.Name() || os.Geteuid() != 0 {
		return false
	}
	cmd := exec.Command(Executable(t), "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = ChildEnv(append(os.Environ(), asUserEnv+"="+t.Name(), "TMPDIR=/tmp")...)
	cmd.Dir = "/" // the package's directory may be closed to uid
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as uid %d: %v\n%s", t.Name(), uid, err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s as uid %d did not pass:\n%s", t.Name(), uid, out)
	}
	return true
}

// FreePort returns a TCP port that nothing holds now on any of hosts
// (127.0.0.1 when none is given), below the kernel's ephemeral range
// (32768 and up by default): a port the kernel hands out for ":0" may be
// taken, before the code under test binds it, by any outgoing connection of
// the tests running beside it.
func FreePort(t testing.TB, hosts ...string) int {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	for range 1000 {
		p := 20000 + rand.IntN(12000)
		free := true
		for _, host := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return p
		}
	}
	t.Fatalf("no free port in 20000-31999 on %v", hosts)
	return 0
}
