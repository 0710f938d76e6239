package procmem

import (
	"context"
	"runtime/debug"
	"time"
)

// DefaultQuiet is how long a Trimmer waits after the last piece of work
// it was told about before it gives memory back.
const DefaultQuiet = time.Second

// Trimmer gives back, once a burst of work is over, what the burst left
// behind: the heap the Go runtime keeps after a collection
// (debug.FreeOSMemory) and the pages of the executable's code that the work
// faulted back in (ReleaseStartupPages). PID 1 serves the control API in
// bursts (a hundred `hermes svc add` in a row, a dashboard's poll) and
// then idles for hours; without it, every code path a request touched
// stays mapped.
//
// Touch may be called from any goroutine, at any rate; it never blocks.
// Run is the only goroutine. Create one with NewTrimmer.
type Trimmer struct {
	quiet  time.Duration
	work   chan struct{}
	trim   func()
	timers func(time.Duration) (<-chan time.Time, func() bool)
}

// NewTrimmer returns a Trimmer that trims after quiet has passed with no
// Touch (DefaultQuiet when quiet is 0).
func NewTrimmer(quiet time.Duration) *Trimmer {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	return &Trimmer{
		quiet: quiet,
		work:  make(chan struct{}, 1),
		trim: func() {
			debug.FreeOSMemory()
			_, _ = ReleaseStartupPages()
		},
		timers: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
	}
}

// Touch says that work has just been done.
func (t *Trimmer) Touch() {
	select {
	case t.work <- struct{}{}:
	default: // a touch is already pending
	}
}

// Run trims once after each burst of touches, when quiet has passed since
// the last one. It returns nil when ctx ends, without a last trim (the
// process is ending).
func (t *Trimmer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.work:
		}
		// A burst has begun: wait until it has been quiet long enough.
		for burst := true; burst; {
			fired, stop := t.timers(t.quiet)
			select {
			case <-ctx.Done():
				stop()
				return nil
			case <-t.work:
				stop() // still busy: start the quiet period again
			case <-fired:
				burst = false
			}
		}
		t.trim()
	}
}
