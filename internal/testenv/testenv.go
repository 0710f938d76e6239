// Package testenv is the one place where a test says what it needs from the
// machine (root, Docker, a program) and why. Outside CI a missing need skips
// the test with the reason; under CI (HERMES_CI=1, set by .ci/run) it fails
// it, because CI must never pass by silently skipping.
package testenv

import (
	"os"
	"os/exec"
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
