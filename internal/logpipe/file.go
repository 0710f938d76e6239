package logpipe

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-agent/hermes/internal/safefs"
	"golang.org/x/sys/unix"
)

// fileQueueBytes bounds the records queued for one file (and is the size
// of the pooled buffers they are formatted into).
const fileQueueBytes = 128 << 10

var fileBufPool = sync.Pool{New: func() any { return new([fileQueueBytes]byte) }}

// fileSink formats records into a queue that a writer goroutine, started
// when the queue fills from empty and gone once it is empty, appends to
// the current file, rotating it.
type fileSink struct {
	mu     sync.Mutex // guards the fields up to the writer's
	q      queue
	cfg    *FileConfig // normalized; nil: no file
	cfgErr error       // why the configured file is unusable
	now    func() time.Time
	busy   bool // a writer runs; it owns the fields below
	closed bool

	// Owned by the writer while busy, else by whoever holds mu.
	f    *os.File
	dir  *safefs.Dir // the directory of f
	path string      // where f was opened
	size int64       // bytes in f
}

// set replaces the configuration. mu is not held.
func (s *fileSink) set(fc *FileConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg, s.cfgErr = nil, nil
	if fc != nil {
		s.cfg, s.cfgErr = fc.normalized()
		if s.cfgErr != nil {
			s.cfg = &FileConfig{Path: fc.Path}
		}
	}
	if s.cfg == nil && s.q.buf != nil { // no file: forget what was queued for it
		putFileBuf(s.q.buf)
		s.q.buf = nil
	}
	if !s.busy && (s.cfg == nil || s.cfg.Path != s.path) {
		s.closeFile()
	}
}

// put formats pieces of src as records and queues them. It counts them as
// dropped when the writer is stalled.
func (s *fileSink) put(c *counters, ts, src []byte, pieces []piece, stall time.Duration) {
	n := 0
	for _, p := range pieces {
		n += int(p.n)
	}
	n += len(pieces) * (len(ts) + 2)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg == nil || s.closed {
		return
	}
	if !s.q.reserve(&s.mu, n, stall) {
		c.dropped.Add(uint64(len(pieces)))
		return
	}
	if s.cfg == nil || s.closed { // changed while waiting
		return
	}
	if s.q.buf == nil {
		s.q.buf = fileBufPool.Get().(*[fileQueueBytes]byte)[:0]
	}
	if len(s.q.buf) == 0 {
		s.q.filled()
	}
	b := s.q.buf
	for _, p := range pieces {
		b = append(b, ts...)
		if p.cont {
			b = append(b, '+')
		} else {
			b = append(b, ' ')
		}
		b = append(b, src[p.off:p.off+p.n]...)
		b = append(b, '\n')
	}
	s.q.buf = b
	if !s.busy {
		s.busy = true
		go s.run(c)
	}
}

// run is the writer: it writes batches until the queue is empty, then
// returns (closing the file if the sink was closed meanwhile).
func (s *fileSink) run(c *counters) {
	var b []byte
	for {
		if b != nil {
			putFileBuf(b)
		}
		s.mu.Lock()
		s.q.advanced()
		b = s.q.buf
		if len(b) == 0 {
			s.busy = false
			if s.closed || s.cfg == nil {
				s.closeFile()
			}
			s.q.buf = nil
			s.mu.Unlock()
			if b != nil {
				putFileBuf(b)
			}
			return
		}
		s.q.buf = nil
		cfg, cfgErr, now := *s.cfg, s.cfgErr, s.now
		s.mu.Unlock()
		s.write(c, &cfg, cfgErr, now, b)
	}
}

func putFileBuf(b []byte) {
	if cap(b) == fileQueueBytes {
		fileBufPool.Put((*[fileQueueBytes]byte)(b[:fileQueueBytes]))
	}
}

// write appends the records b to the current file, rotating between
// records. A failure drops the rest of b.
func (s *fileSink) write(c *counters, cfg *FileConfig, cfgErr error, now func() time.Time, b []byte) {
	for len(b) > 0 {
		err := cfgErr
		if err == nil {
			err = s.open(cfg)
		}
		if err != nil {
			s.fail(c, b, 0)
			return
		}
		n := len(b)
		if s.size+int64(n) > cfg.MaxBytes {
			// Write the records that still fit, then rotate.
			n = 0
			if room := cfg.MaxBytes - s.size; room > 0 {
				n = bytes.LastIndexByte(b[:min(int64(len(b)), room)], '\n') + 1
			}
			switch {
			case n > 0:
			case s.size == 0: // a record larger than MaxBytes gets a file of its own
				n = bytes.IndexByte(b, '\n') + 1
			default:
				if err := s.rotate(c, cfg, now()); err == nil {
					continue
				}
				// Better an oversized current than lost lines.
				c.writeErrors.Add(1)
				n = len(b)
			}
		}
		w, err := s.f.Write(b[:n])
		s.size += int64(w)
		if err != nil {
			s.fail(c, b, w)
			return
		}
		b = b[n:]
	}
}

// fail counts a failed operation and the records of b from written on as
// dropped, cuts a record the failed write left half written, and closes
// the file so that the next batch reopens it.
func (s *fileSink) fail(c *counters, b []byte, written int) {
	c.writeErrors.Add(1)
	whole := bytes.LastIndexByte(b[:written], '\n') + 1
	c.dropped.Add(uint64(bytes.Count(b[whole:], nl)))
	if half := int64(written - whole); half > 0 {
		if st, err := s.f.Stat(); err == nil {
			_ = s.f.Truncate(st.Size() - half)
		}
	}
	s.closeFile()
}

// open makes f the current file of cfg, creating it and its directories
// if needed.
func (s *fileSink) open(cfg *FileConfig) error {
	if s.f != nil && s.path == cfg.Path {
		return nil
	}
	s.closeFile()
	base, err := safefs.OpenBase(cfg.Base)
	if err != nil {
		return fmt.Errorf("opening log base: %w", err)
	}
	rel, _ := filepath.Rel(cfg.Base, filepath.Dir(cfg.Path))
	dir, err := base.MkdirAll(rel, dirMode, cfg.Owner)
	base.Close()
	if err != nil {
		return fmt.Errorf("opening log directory: %w", err)
	}
	// O_NONBLOCK: a planted FIFO must fail (ENXIO) or be refused below,
	// never block the writer.
	f, err := dir.OpenFile(filepath.Base(cfg.Path), os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_NONBLOCK, cfg.Mode, cfg.Owner)
	if err != nil {
		dir.Close()
		return fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		f.Close()
		dir.Close()
		return fmt.Errorf("opening log file %s: %w", cfg.Path, errors.Join(ErrUnsafeFile, err))
	}
	s.f, s.dir, s.path, s.size = f, dir, cfg.Path, fi.Size()
	return nil
}

func (s *fileSink) closeFile() error {
	var err error
	if s.f != nil {
		err = s.f.Close()
		s.dir.Close()
	}
	s.f, s.dir, s.path, s.size = nil, nil, "", 0
	return err
}

// archivePrefix and archiveSuffix frame the rotation time in archive names.
const (
	archivePrefix = "@"
	archiveSuffix = ".s"
	archiveLayout = "20060102T150405.000000Z"
)

// rotate renames the current file to an archive and closes it (the next
// write creates a new current), then removes the oldest archives beyond
// cfg.Keep. The archive is named for t, or, if an archive already sorts
// at or after that name (same microsecond, or a clock that went back),
// for the newest archive's time with the next suffix: lexical order stays
// the order of rotations. It returns an error, with current still open,
// only if the rename failed; a failed removal is counted.
func (s *fileSink) rotate(c *counters, cfg *FileConfig, t time.Time) error {
	names, err := s.dir.Names()
	if err != nil {
		return fmt.Errorf("rotating log: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { _, ok := archiveSeq(n); return !ok })
	slices.Sort(names)
	name := archivePrefix + t.UTC().Format(archiveLayout) + archiveSuffix
	if k := len(names); k > 0 && name <= names[k-1] {
		seq, _ := archiveSeq(names[k-1])
		if seq == maxArchiveSeq {
			return fmt.Errorf("rotating log: %s: %w", names[k-1], os.ErrExist)
		}
		name = fmt.Sprintf("%s_%06d%s", names[k-1][:len(archivePrefix)+len(archiveLayout)], seq+1, archiveSuffix)
	}
	if err := s.dir.Rename(filepath.Base(cfg.Path), name); err != nil {
		return fmt.Errorf("rotating log: %w", err)
	}
	names = append(names, name)
	for _, n := range names[:max(len(names)-cfg.Keep, 0)] {
		if err := s.dir.Remove(n); err != nil {
			c.writeErrors.Add(1)
		}
	}
	s.closeFile()
	return nil
}

const maxArchiveSeq = 999999

// archiveSeq reports whether name is an archive ("@<stamp>.s" or
// "@<stamp>_<6 digits>.s") and returns its suffix number (0 for none).
func archiveSeq(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, archivePrefix)
	rest, ok2 := strings.CutSuffix(rest, archiveSuffix)
	if !ok || !ok2 || len(rest) < len(archiveLayout) {
		return 0, false
	}
	if _, err := time.Parse(archiveLayout, rest[:len(archiveLayout)]); err != nil {
		return 0, false
	}
	rest = rest[len(archiveLayout):]
	if rest == "" {
		return 0, true
	}
	if len(rest) != 7 || rest[0] != '_' {
		return 0, false
	}
	seq, err := strconv.Atoi(rest[1:])
	return seq, err == nil && seq > 0
}

// close marks the sink closed and waits for the writer (see Log.Close).
func (s *fileSink) close(stall time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var t *time.Timer
	for s.busy {
		wait := stall - time.Since(s.q.progress)
		if wait <= 0 {
			return fmt.Errorf("file writer: %w", ErrStalled)
		}
		if s.q.room == nil {
			s.q.room = make(chan struct{})
		}
		room := s.q.room
		s.mu.Unlock()
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-room:
		case <-t.C:
		}
		s.mu.Lock()
	}
	return s.closeFile()
}

// Files returns the log files of a service whose current file is current,
// oldest first: its archives in rotation order, then current itself (when
// it exists). Readers (hermes logs) read a service's whole history with it.
func Files(current string) ([]string, error) {
	dir := filepath.Dir(current)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if _, ok := archiveSeq(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	if fi, err := os.Lstat(current); err == nil && fi.Mode().IsRegular() {
		out = append(out, current)
	}
	return out, nil
}
