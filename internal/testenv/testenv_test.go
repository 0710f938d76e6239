package testenv

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of ending the
// test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestEventually(t *testing.T) {
	calls := 0
	Eventually(t, 5*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Errorf("cond called %d times, want 3 (it returns as soon as cond holds)", calls)
	}

	r := &recorder{}
	start := time.Now()
	EventuallyNil(r, 50*time.Millisecond, "a door to open", func() error { return errors.New("it is shut") })
	if took := time.Since(start); took < 50*time.Millisecond || took > 2*time.Second {
		t.Errorf("gave up after %v, want just after the 50ms timeout", took)
	}
	for _, want := range []string{"50ms", "a door to open", "it is shut"} {
		if !strings.Contains(r.failed, want) {
			t.Errorf("failure %q does not say %q", r.failed, want)
		}
	}
}

func TestChildEnv(t *testing.T) {
	got := ChildEnv("A=1", "GORACE=halt_on_error=1", "B=2")
	if want := []string{"A=1", "B=2", "GORACE=atexit_sleep_ms=0"}; !slices.Equal(got, want) {
		t.Errorf("ChildEnv = %q, want %q", got, want)
	}
}

// TestAsUser: the body runs as the uid asked for (in a child when the
// test runs as root, directly otherwise).
func TestAsUser(t *testing.T) {
	if AsUser(t, 4242, 4242) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatalf("the body runs as root")
	}
	if os.Getenv(asUserEnv) != "" && (os.Geteuid() != 4242 || os.Getegid() != 4242) {
		t.Errorf("the child runs as %d:%d, want 4242:4242", os.Geteuid(), os.Getegid())
	}
}
