package logpipe

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// ring keeps the latest entries of a service in a byte buffer of size
// bytes, allocated on first use. Each entry is a header (time, length and
// flags) and the line; the oldest entries are evicted to make room. The
// Log's mutex guards it.
type ring struct {
	buf         []byte
	size        int
	start, end  uint64 // byte positions of the oldest entry and of the next one; buf index = pos % size
	first, next uint64 // sequence numbers of the oldest entry and of the next one
}

const (
	hdrBytes = 12 // int64 UnixNano, uint32 length | flags<<24
	flagCont = 1 << 2
)

// add appends one entry per piece.
func (r *ring) add(t int64, s Stream, src []byte, pieces []piece) {
	if r.buf == nil {
		r.buf = make([]byte, r.size)
	}
	var hdr [hdrBytes]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(t))
	for _, p := range pieces {
		line := src[p.off : p.off+min(p.n, int32(r.size/4))]
		flags := uint32(s)
		if p.cont {
			flags |= flagCont
		}
		binary.LittleEndian.PutUint32(hdr[8:], uint32(len(line))|flags<<24)
		need := uint64(hdrBytes + len(line))
		for uint64(r.size)-(r.end-r.start) < need {
			_, n := r.header(r.start)
			r.start += hdrBytes + uint64(n)
			r.first++
		}
		r.put(r.end, hdr[:])
		r.put(r.end+hdrBytes, line)
		r.end += need
		r.next++
	}
}

func (r *ring) put(pos uint64, b []byte) {
	i := int(pos % uint64(r.size))
	k := copy(r.buf[i:], b)
	copy(r.buf, b[k:])
}

func (r *ring) get(pos uint64, b []byte) {
	i := int(pos % uint64(r.size))
	k := copy(b, r.buf[i:])
	copy(b[k:], r.buf)
}

// header returns the flags and line length of the entry at pos.
func (r *ring) header(pos uint64) (flags uint32, n int) {
	var hdr [4]byte
	r.get(pos+8, hdr[:])
	v := binary.LittleEndian.Uint32(hdr[:])
	return v >> 24, int(v & 0xffffff)
}

// entry decodes the entry at pos and returns it with the next position.
func (r *ring) entry(pos uint64) (Entry, uint64) {
	var t [8]byte
	r.get(pos, t[:])
	flags, n := r.header(pos)
	line := make([]byte, n)
	r.get(pos+hdrBytes, line)
	e := Entry{
		Time:      time.Unix(0, int64(binary.LittleEndian.Uint64(t[:]))).UTC(),
		Stream:    Stream(flags & 3),
		Line:      string(line),
		Continued: flags&flagCont != 0,
	}
	return e, pos + hdrBytes + uint64(n)
}

// skip returns the position of entry seq (first <= seq <= next).
func (r *ring) skip(seq uint64) uint64 {
	pos := r.start
	for i := r.first; i < seq; i++ {
		_, n := r.header(pos)
		pos += hdrBytes + uint64(n)
	}
	return pos
}

// since appends to out up to max entries from seq on. It returns them,
// the sequence number to ask for next, and how many entries before the
// oldest one were missed (evicted before they were read).
func (r *ring) since(seq uint64, out []Entry, max int) ([]Entry, uint64, uint64) {
	var missed uint64
	if seq < r.first {
		missed, seq = r.first-seq, r.first
	}
	pos := r.skip(seq)
	for ; seq < r.next && len(out) < max; seq++ {
		var e Entry
		e, pos = r.entry(pos)
		out = append(out, e)
	}
	return out, seq, missed
}

// resize changes the size; the newest entries that fit are kept, with
// their sequence numbers.
func (r *ring) resize(size int) {
	if size == r.size {
		return
	}
	old := *r
	*r = ring{size: size}
	if old.buf != nil {
		entries, _, _ := old.since(old.first, nil, int(old.next-old.first))
		for _, e := range entries {
			p := []piece{{n: int32(len(e.Line)), cont: e.Continued}}
			r.add(e.Time.UnixNano(), e.Stream, []byte(e.Line), p)
		}
	}
	kept := r.next - r.first
	r.first, r.next = old.next-kept, old.next
}

// Tail returns the last n entries of the ring, oldest first.
func (l *Log) Tail(n int) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.ring.next - min(uint64(max(n, 0)), l.ring.next-l.ring.first)
	out, _, _ := l.ring.since(seq, nil, n)
	return out
}

// followBatch bounds the entries a follower copies out under the lock.
const followBatch = 256

// Follow calls fn with the last n entries of the ring and then with every
// new entry, in order, until ctx is done or the Log is closed (it then
// returns nil) or fn returns an error (Follow returns it). fn runs without
// locks held; the pipeline never waits for it. A follower that falls
// behind by more than the ring holds gets one synthetic Entry in place of
// the entries it missed: Stream Stderr, Line "[logpipe: N lines missed]",
// and then goes on with the oldest entry still there.
func (l *Log) Follow(ctx context.Context, n int, fn func(Entry) error) error {
	l.mu.Lock()
	seq := l.ring.next - min(uint64(max(n, 0)), l.ring.next-l.ring.first)
	l.mu.Unlock()
	var batch []Entry
	for ctx.Err() == nil {
		var missed uint64
		l.mu.Lock()
		batch, seq, missed = l.ring.since(seq, batch[:0], followBatch)
		closed := l.closed
		var now time.Time
		if missed > 0 {
			now = l.cfg.Now()
		}
		var wait chan struct{}
		if len(batch) == 0 && missed == 0 && !closed {
			if l.notify == nil {
				l.notify = make(chan struct{})
			}
			wait = l.notify
		}
		l.mu.Unlock()
		if missed > 0 {
			e := Entry{Time: now.UTC(), Stream: Stderr, Line: fmt.Sprintf("[logpipe: %d lines missed]", missed)}
			if err := fn(e); err != nil {
				return err
			}
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		clear(batch)
		switch {
		case wait != nil:
			select {
			case <-wait:
			case <-ctx.Done():
			}
		case closed && len(batch) == 0 && missed == 0:
			return nil
		}
	}
	return nil
}
