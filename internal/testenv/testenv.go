// Package testenv is the one place where a test says what it needs from the
// machine (root, Docker, a program) and why. Outside CI a missing need skips
// the test with the reason; under CI (HERMES_CI=1, set by .ci/run) it fails
// it, because CI must never pass by silently skipping.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
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
