package procmem

import (
	"context"
	"testing"
	"time"
)

// fakeTimers hands the test each timer the Trimmer starts, so that the
// test decides when the quiet period ends.
type fakeTimers struct{ started chan chan time.Time }

func (f *fakeTimers) timer(time.Duration) (<-chan time.Time, func() bool) {
	c := make(chan time.Time, 1)
	f.started <- c
	return c, func() bool { return true }
}

// TestTrimmerOncePerBurst: touches during the quiet period restart it; one
// trim follows the end of a burst; nothing is trimmed without a touch.
func TestTrimmerOncePerBurst(t *testing.T) {
	ft := &fakeTimers{started: make(chan chan time.Time)}
	trims := make(chan struct{}, 10)
	tr := NewTrimmer(time.Hour)
	tr.timers = ft.timer
	tr.trim = func() { trims <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()

	tr.Touch()
	first := <-ft.started // the burst's quiet period
	tr.Touch()            // more work: the period starts again
	second := <-ft.started
	select {
	case <-trims:
		t.Fatal("trimmed while the burst was going on")
	default:
	}
	_ = first
	second <- time.Now()
	select {
	case <-trims:
	case <-time.After(10 * time.Second):
		t.Fatal("no trim after the quiet period")
	}
	// Without a touch nothing more happens; cancel ends Run.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := len(trims); got != 0 {
		t.Fatalf("%d extra trims, want 0", got)
	}
}

// TestTouchNeverBlocks: many touches with nobody running.
func TestTouchNeverBlocks(t *testing.T) {
	tr := NewTrimmer(0)
	for i := 0; i < 1000; i++ {
		tr.Touch()
	}
	if tr.quiet != DefaultQuiet {
		t.Fatalf("quiet = %v, want %v", tr.quiet, DefaultQuiet)
	}
}
