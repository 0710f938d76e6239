package logpipe

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sizes of the read path.
const (
	readBytes   = 16 << 10 // one read(2)
	batchPieces = 512      // pieces handed to the sinks at once
	tsLayout    = "2006-01-02T15:04:05.000000Z"
)

// chunk is the memory one read needs; Pumps take it from chunkPool only
// while their pipe has data.
type chunk struct {
	data   [readBytes]byte
	pieces [batchPieces]piece
	ts     [len(tsLayout)]byte
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// Pump copies the lines read from r to the sinks of stream s until EOF on
// r (all its writers are closed), writes a final line that has no newline,
// closes r and returns nil, or the read error. It is called once per
// stream per process start, in a goroutine owned by the caller; the two
// Pumps of a start, and Pumps of an earlier start still draining, may run
// at the same time. Pump waits while a sink is slow; it never waits longer
// than StallTimeout for a stalled one.
//
// r should be pollable (a pipe from os.Pipe): Pump then holds no read
// buffer while it waits for data. A blocking descriptor works too, but
// keeps its buffer while blocked.
func (l *Log) Pump(s Stream, r *os.File) error {
	defer r.Close()
	rc, err := r.SyscallConn()
	if err != nil {
		return fmt.Errorf("pumping %s: %w", s, err)
	}
	var (
		sp   splitter
		ck   *chunk
		n    int
		rerr error
	)
	read := func(fd uintptr) bool {
		ck = chunkPool.Get().(*chunk)
		for {
			n, rerr = unix.Read(int(fd), ck.data[:])
			if !errors.Is(rerr, unix.EINTR) {
				break
			}
		}
		if errors.Is(rerr, unix.EAGAIN) {
			chunkPool.Put(ck)
			ck = nil
			sp.idle()
			return false
		}
		return true
	}
	for {
		if err := rc.Read(read); err != nil {
			rerr = err
		}
		if rerr != nil || n <= 0 {
			if ck != nil {
				chunkPool.Put(ck)
			}
			l.eof(s, &sp)
			if rerr != nil {
				return fmt.Errorf("pumping %s: %w", s, rerr)
			}
			return nil
		}
		l.consume(s, &sp, ck, ck.data[:n])
		chunkPool.Put(ck)
		ck = nil
	}
}

// sinks is what one chunk is written to: a snapshot of the configuration.
type sinks struct {
	now     time.Time
	ts      []byte
	console *Console
	stall   time.Duration
}

func (l *Log) sinks(s Stream, ts []byte) sinks {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := sinks{now: l.cfg.Now(), console: l.cfg.Stdout, stall: l.cfg.StallTimeout}
	if s == Stderr {
		k.console = l.cfg.Stderr
	}
	k.ts = k.now.UTC().AppendFormat(ts[:0], tsLayout)
	return k
}

// consume splits one read and hands its pieces to the sinks.
func (l *Log) consume(s Stream, sp *splitter, ck *chunk, data []byte) {
	l.c.bytes.Add(uint64(len(data)))
	k := l.sinks(s, ck.ts[:])
	for len(data) > 0 {
		var src []byte
		var pieces []piece
		src, pieces, data = sp.next(data, ck.pieces[:0])
		l.dispatch(s, &k, src, pieces)
	}
}

// eof writes the unfinished line, if any.
func (l *Log) eof(s Stream, sp *splitter) {
	var out [1]piece
	src, pieces := sp.flush(out[:0])
	if len(pieces) > 0 {
		var ts [len(tsLayout)]byte
		k := l.sinks(s, ts[:])
		l.dispatch(s, &k, src, pieces)
	}
	sp.idle()
}

// dispatch hands pieces of src to the ring, the file and the console.
func (l *Log) dispatch(s Stream, k *sinks, src []byte, pieces []piece) {
	if len(pieces) == 0 {
		return
	}
	if s == Stderr {
		l.c.stderrLines.Add(uint64(len(pieces)))
	}
	l.c.lines.Add(uint64(len(pieces)))
	l.mu.Lock()
	l.ring.add(k.now.UnixNano(), s, src, pieces)
	l.wakeFollowers()
	l.mu.Unlock()
	l.file.put(&l.c, k.ts, src, pieces, k.stall)
	if k.console != nil {
		k.console.put(l, src, pieces, k.stall)
	}
}
