package supervise

import (
	"testing"
	"time"
)

// TestPolicy: what each restart policy makes of an exit no operator asked
// for (code -1: a death by signal, or a start that failed).
func TestPolicy(t *testing.T) {
	tests := []struct {
		restart   Restart
		noRestart []int
		code      int
		wantState State
		wantNote  string
	}{
		{RestartOnFailure, []int{78}, 0, Stopped, " (restart on-failure)"},
		{RestartNever, []int{78}, 0, Stopped, " (restart never)"},
		{RestartAlways, []int{78}, 0, Backoff, ""},
		{RestartOnFailure, []int{78}, 1, Backoff, ""},
		{RestartAlways, []int{78}, 1, Backoff, ""},
		{RestartNever, []int{78}, 1, Failed, " (restart never)"},
		{RestartOnFailure, []int{78}, -1, Backoff, ""},
		{RestartAlways, []int{78}, -1, Backoff, ""},
		{RestartNever, []int{78}, -1, Failed, " (restart never)"},
		// no_restart_exit_codes wins over every policy.
		{RestartOnFailure, []int{78}, 78, Failed, ", not restarted"},
		{RestartAlways, []int{78}, 78, Failed, ", not restarted"},
		{RestartNever, []int{78}, 78, Failed, ", not restarted"},
		{RestartOnFailure, []int{3, 4}, 4, Failed, ", not restarted"},
		{RestartOnFailure, []int{3, 4}, 78, Backoff, ""},
		{RestartOnFailure, []int{}, 78, Backoff, ""},
		{RestartAlways, []int{0}, 0, Failed, ", not restarted"},
	}
	for _, tt := range tests {
		sp := Spec{Restart: tt.restart, NoRestartExitCodes: tt.noRestart}
		gotState, gotNote := policy(sp, tt.code)
		if gotState != tt.wantState || gotNote != tt.wantNote {
			t.Errorf("restart %s, no_restart_exit_codes %v, code %d: got %s %q, want %s %q",
				tt.restart, tt.noRestart, tt.code, gotState, gotNote, tt.wantState, tt.wantNote)
		}
	}
}

// TestBackoffDelay: the delay before a restart and the one kept for the
// next, from the kept delay and how long the run lasted, with the
// defaults of CONTRACT §4 (50 ms, doubling, 30 s cap, reset after 60 s up).
func TestBackoffDelay(t *testing.T) {
	b := New(Config{}).backoff
	ms := time.Millisecond
	tests := []struct {
		kept, up           time.Duration
		wantWait, wantNext time.Duration
	}{
		{0, 0, 50 * ms, 100 * ms},
		{100 * ms, 0, 100 * ms, 200 * ms},
		{200 * ms, 10 * time.Second, 200 * ms, 400 * ms},
		{12800 * ms, 0, 12800 * ms, 25600 * ms},
		{25600 * ms, 0, 25600 * ms, 30 * time.Second},
		{30 * time.Second, 0, 30 * time.Second, 30 * time.Second},
		{30 * time.Second, 60*time.Second - time.Nanosecond, 30 * time.Second, 30 * time.Second},
		{30 * time.Second, 60 * time.Second, 50 * ms, 100 * ms},
		{400 * ms, time.Hour, 50 * ms, 100 * ms},
	}
	for _, tt := range tests {
		gotWait, gotNext := b.delay(tt.kept, tt.up)
		if gotWait != tt.wantWait || gotNext != tt.wantNext {
			t.Errorf("delay(kept %v, up %v) = %v, %v; want %v, %v", tt.kept, tt.up, gotWait, gotNext, tt.wantWait, tt.wantNext)
		}
	}
}
