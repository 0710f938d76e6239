package logpipe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Sizes of a Console's queue and the bound of its final flush.
const (
	consoleQueueBytes = 256 << 10
	consoleFlushTime  = time.Second
)

// Console is the shared raw copy of one container stream (fd 1 or fd 2):
// every service's lines of that stream are queued, whole lines only, and
// written by one goroutine, Run. Make one per stream per process.
type Console struct {
	w    io.Writer
	wake chan struct{} // holds a token while data is pending for Run

	mu      sync.Mutex // guards the fields below
	q       queue
	owners  []owner // whose lines q.buf holds, in order
	spare   []byte  // the buffer of the batch Run wrote last, for reuse
	spareOw []owner
	muted   bool
	stopped bool // Run has returned or is flushing for the last time
}

// owner records that the bytes of q.buf up to end belong to log.
type owner struct {
	log *Log
	end int
}

// NewConsole returns a Console writing to w. Nothing is written until Run.
func NewConsole(w io.Writer) *Console {
	c := &Console{w: w, wake: make(chan struct{}, 1)}
	c.q.limit = consoleQueueBytes
	return c
}

// Run writes queued lines to the Console's writer, each batch in one Write
// call, until ctx is done. It then stops accepting lines (later lines are
// counted as dropped by their Log), writes what is queued and returns nil,
// or an error wrapping ErrStalled if that takes longer than a second (a
// stuck writer is abandoned; the goroutine blocked in it writes the rest
// if it ever returns). A Write error loses its batch; the lines are counted
// as dropped by the Logs they came from. Run must be called once.
//
// Lines queued before Run starts wait for it; if it does not start within
// a Log's StallTimeout the Console counts as stalled for that Log.
func (c *Console) Run(ctx context.Context) error {
	for {
		select {
		case <-c.wake:
			c.drain()
		case <-ctx.Done():
			c.mu.Lock()
			c.stopped = true
			c.mu.Unlock()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.drain()
			}()
			t := time.NewTimer(consoleFlushTime)
			defer t.Stop()
			select {
			case <-done:
				return nil
			case <-t.C:
				return fmt.Errorf("console: final flush: %w", ErrStalled)
			}
		}
	}
}

// drain writes batches until the queue is empty.
func (c *Console) drain() {
	for {
		c.mu.Lock()
		b, ow := c.q.buf, c.owners
		if len(b) == 0 {
			c.mu.Unlock()
			return
		}
		c.q.buf, c.owners = c.spare, c.spareOw
		c.spare, c.spareOw = nil, nil
		c.q.advanced()
		c.mu.Unlock()

		if n, err := c.w.Write(b); err != nil {
			lost(b, n, ow)
		}

		clear(ow)
		c.mu.Lock()
		c.spare, c.spareOw = b[:0], ow[:0]
		c.q.advanced()
		c.mu.Unlock()
	}
}

// lost counts the lines of b not completely written by a failed Write as
// dropped by their Logs.
func lost(b []byte, written int, ow []owner) {
	start := 0
	for _, o := range ow {
		if o.end > written {
			from := max(start, written)
			o.log.c.dropped.Add(uint64(bytes.Count(b[from:o.end], nl)))
		}
		start = o.end
	}
}

var nl = []byte{'\n'}

// SetMuted stops (true) or resumes (false) the copy to the console. Lines
// that arrive while muted are not written and not counted as dropped;
// lines queued when it is muted are discarded too.
func (c *Console) SetMuted(muted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.muted = muted
	if muted {
		c.q.buf = c.q.buf[:0]
		clear(c.owners)
		c.owners = c.owners[:0]
		c.q.advanced()
	}
}

// put queues the raw copy of pieces of src for l: each piece and "\n".
func (c *Console) put(l *Log, src []byte, pieces []piece, stall time.Duration) {
	n := 0
	for _, p := range pieces {
		n += int(p.n) + 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.muted {
		return
	}
	ok := !c.stopped && c.q.reserve(&c.mu, n, stall)
	if c.muted { // muted while waiting
		return
	}
	if !ok || c.stopped {
		l.c.dropped.Add(uint64(len(pieces)))
		return
	}
	if len(c.q.buf) == 0 {
		c.q.filled()
		if c.q.buf == nil {
			c.q.buf = make([]byte, 0, consoleQueueBytes)
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	c.q.buf = appendRaw(c.q.buf, src, pieces)
	if k := len(c.owners); k > 0 && c.owners[k-1].log == l {
		c.owners[k-1].end = len(c.q.buf)
	} else {
		c.owners = append(c.owners, owner{l, len(c.q.buf)})
	}
}

// appendRaw appends each piece of src followed by "\n", copying runs of
// consecutive newline-terminated pieces with one copy.
func appendRaw(dst, src []byte, pieces []piece) []byte {
	for i := 0; i < len(pieces); {
		p := pieces[i]
		if !p.nl {
			dst = append(dst, src[p.off:p.off+p.n]...)
			dst = append(dst, '\n')
			i++
			continue
		}
		start, end := p.off, p.off+p.n+1
		for i++; i < len(pieces) && pieces[i].nl && pieces[i].off == end; i++ {
			end = pieces[i].off + pieces[i].n + 1
		}
		dst = append(dst, src[start:end]...)
	}
	return dst
}
