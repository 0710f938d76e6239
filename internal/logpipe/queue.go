package logpipe

import (
	"sync"
	"time"
)

// queue is the bounded byte buffer between the Pumps that fill a sink and
// the one writer that empties it. Its owner's mutex guards it.
type queue struct {
	buf      []byte        // pending bytes: whole lines, appended by Pumps
	limit    int           // Pumps wait while buf is not empty and would exceed limit
	progress time.Time     // last time the writer took or wrote a batch, or data arrived for an empty queue
	room     chan struct{} // closed at progress; made by the first waiting Pump
}

// reserve returns true once n more bytes may be appended (always when the
// queue is empty), and false at once if the writer has made no progress
// for stall: the sink is stalled. mu is held on entry and on return; it is
// released while waiting.
func (q *queue) reserve(mu *sync.Mutex, n int, stall time.Duration) bool {
	if len(q.buf) == 0 || len(q.buf)+n <= q.limit {
		return true
	}
	var t *time.Timer
	for len(q.buf) > 0 && len(q.buf)+n > q.limit {
		wait := stall - time.Since(q.progress)
		if wait <= 0 {
			return false
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		mu.Unlock()
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait)
		}
		select {
		case <-room:
		case <-t.C:
		}
		mu.Lock()
	}
	if t != nil {
		t.Stop()
	}
	return true
}

// filled records that buf went from empty to not empty: the writer has
// stall from now on to take it.
func (q *queue) filled() { q.progress = time.Now() }

// advanced records progress of the writer and wakes the waiting Pumps.
func (q *queue) advanced() {
	q.progress = time.Now()
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}
