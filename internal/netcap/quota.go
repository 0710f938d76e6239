package netcap

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Quota lets at most N events a minute through (to the log) and counts the
// others. Make one with NewQuota; it is safe for concurrent use.
type Quota struct {
	n   int
	now func() time.Time

	mu      sync.Mutex // guards start, used and missed
	start   time.Time  // of the current minute
	used    int        // events let through in it
	missed  uint64     // events held back since the last one let through
	dropped atomic.Uint64
}

// QuotaWindow is the window of a Quota.
const QuotaWindow = time.Minute

// RefusalsLogged is how many refusals a minute the servers log (the rest
// are counted).
const RefusalsLogged = 10

// NewQuota returns a Quota of n events a minute; now is the clock (nil:
// time.Now).
func NewQuota(n int, now func() time.Time) *Quota {
	if now == nil {
		now = time.Now
	}
	return &Quota{n: n, now: now}
}

// Take reports whether this event may be logged. When it may, missed is
// how many events were held back since the last one that was (say so in
// the line); when it may not, the event is counted in Dropped.
func (q *Quota) Take() (ok bool, missed uint64) {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.start.IsZero() || now.Sub(q.start) >= QuotaWindow || now.Before(q.start) {
		q.start, q.used = now, 0
	}
	if q.used >= q.n {
		q.missed++
		q.dropped.Add(1)
		return false, 0
	}
	q.used++
	missed, q.missed = q.missed, 0
	return true, missed
}

// Dropped returns how many events were held back since the Quota was made.
func (q *Quota) Dropped() uint64 { return q.dropped.Load() }

// LogRefusals returns a Config.OnRefuse that logs each refused connection
// as a warning on log, "<what>: refused a connection over the bound", at
// most RefusalsLogged a minute (Quota); a line says how many were not
// logged before it.
func LogRefusals(log *slog.Logger, what string) func(Refusal) {
	q := NewQuota(RefusalsLogged, nil)
	return func(r Refusal) {
		ok, missed := q.Take()
		if !ok {
			return
		}
		args := []any{"client", r.Client.Key, "bound", r.Bound, "open", r.Open, "limit", r.Limit}
		if missed > 0 {
			args = append(args, "unlogged_before", missed)
		}
		log.Warn(what+": refused a connection over the bound", args...)
	}
}
