package cli

import (
	"testing"

	"github.com/hermes-agent/hermes/internal/supervise"
)

// TestDescribe: a state is said once, and a failure reads from its first
// meaningful line.
func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		st   supervise.Status
		want string
	}{
		{supervise.Status{State: supervise.Running, PID: 7}, "running (pid 7)"},
		{supervise.Status{State: supervise.Stopped, Reason: "stopped (exited with status 0)"}, "stopped (exited with status 0)"},
		{supervise.Status{State: supervise.Stopped, Reason: "stopped"}, "stopped"},
		{supervise.Status{State: supervise.Failed, Reason: "exited with status 1: ✗ bind: address in use"}, "failed: exited with status 1: ✗ bind: address in use"},
		{supervise.Status{State: supervise.Failed, Reason: "\nexit status 2\n✗ config.yaml line 3: bad\nmore\n"}, "failed: ✗ config.yaml line 3: bad …"},
		{supervise.Status{State: supervise.Backoff}, "backoff"},
	} {
		if got := describe(tc.st); got != tc.want {
			t.Errorf("describe(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}
