// Package testenv is the one place where a test says what it needs from the
// machine (root, Docker, a program) and why. Outside CI a missing need skips
// the test with the reason; under CI (HERMES_CI=1, set by .ci/run) it fails
// it, because CI must never pass by silently skipping.
package testenv

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
