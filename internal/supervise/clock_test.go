package supervise

import (
	"slices"
	"sync"
	"time"
)

// fakeClock is a clock that moves only when a test advances it. Advance
// calls the functions of the timers that fall due, in the order they fall
// due, before it returns: what they post reaches the loop before anything
// the test asks next, so a test sees their effect without waiting.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer // armed, neither fired nor stopped
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	n := len(t.c.timers)
	t.c.timers = slices.DeleteFunc(t.c.timers, func(o *fakeTimer) bool { return o == t })
	return len(t.c.timers) < n
}

// Advance moves the clock by d, firing the timers that fall due on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var due *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(end) && (due == nil || t.at.Before(due.at)) {
				due = t
			}
		}
		if due == nil {
			break
		}
		c.timers = slices.DeleteFunc(c.timers, func(o *fakeTimer) bool { return o == due })
		c.now = due.at
		c.mu.Unlock()
		due.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// armed returns how long from now each timer that s has armed is due,
// earliest first (nil when none is). It asks the loop first, so that what
// an Advance posted (a restart that arms the next backoff) is seen.
func armed(s *Supervisor, c *fakeClock) []time.Duration {
	s.sync(func() {})
	return c.pending()
}

// pending returns how long from now each armed timer is due, earliest
// first (nil when none is armed).
func (c *fakeClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, t := range c.timers {
		out = append(out, t.at.Sub(c.now))
	}
	slices.Sort(out)
	return out
}
