// The supervisor's time: the wall clock, or the one a test injects.

package supervise

import "time"

// clock is where the loop reads the time and arms its timers: since,
// started and next_start, the backoff before a restart, and stop_grace
// before SIGKILL. Two waits stay on the wall clock because they bound real
// things: the drain of a dead process's pipes (drainWait) and a shutdown's
// deadline, which comes from the caller's context.
type clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) timer
}

// timer is an armed AfterFunc.
type timer interface {
	// Stop prevents the call if it has not happened yet.
	Stop() bool
}

// wallClock is the clock of a Supervisor made by New.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }
