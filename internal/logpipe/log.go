package logpipe

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// Stream identifies which output of a service a line came from.
type Stream uint8

// The two streams of a service.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// String returns "stdout" or "stderr".
func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	}
	return fmt.Sprintf("stream(%d)", uint8(s))
}

// Counters are the log counters of one service, cumulative over restarts.
type Counters struct {
	Lines       uint64 `json:"lines"`        // lines (pieces of split lines) received from the service
	StdoutLines uint64 `json:"stdout_lines"` // of Lines, those from its stdout
	StderrLines uint64 `json:"stderr_lines"` // of Lines, those from its stderr
	Bytes       uint64 `json:"bytes"`        // bytes received, newlines included
	Dropped     uint64 `json:"dropped"`      // lines a sink could not take, counted once per sink
	WriteErrors uint64 `json:"write_errors"` // failed operations of the file sink (write, open, rotate)
}

// counters is the live form of Counters.
type counters struct {
	lines, bytes, dropped, writeErrors atomic.Uint64
	stderrLines                        atomic.Uint64 // stdout's are lines less these
}

// Defaults and limits of a Config.
const (
	defaultMaxBytes     = 1_000_000
	defaultKeep         = 10
	defaultMode         = 0o640
	dirMode             = 0o750 // directories the file sink creates
	maxRingBytes        = 32 << 10
	minRingBytes        = 256
	defaultStallTimeout = 5 * time.Second
	maxLine             = 64 << 10 // longer lines are split into pieces of this size
)

// FileConfig describes the log file of a service.
type FileConfig struct {
	Path     string       // absolute path of the current file
	Base     string       // trusted base directory, Path is below it; no symlink is followed below Base
	MaxBytes int64        // rotate when current would exceed this; 0 means 1,000,000
	Keep     int          // archives kept beside current; 0 means 10
	Owner    safefs.Owner // owner of created directories and files; the zero value is root, safefs.Keep leaves the creator's
	Mode     os.FileMode  // mode of created files; 0 means 0640 (created directories get 0750)
}

// normalized returns a copy of fc with defaults applied, or an error
// wrapping ErrConfig.
func (fc *FileConfig) normalized() (*FileConfig, error) {
	c := *fc
	if c.MaxBytes == 0 {
		c.MaxBytes = defaultMaxBytes
	}
	if c.Keep == 0 {
		c.Keep = defaultKeep
	}
	if c.Mode == 0 {
		c.Mode = defaultMode
	}
	switch {
	case !filepath.IsAbs(c.Path) || !filepath.IsAbs(c.Base):
		return nil, fmt.Errorf("log file %q, base %q: %w: paths must be absolute", c.Path, c.Base, ErrConfig)
	case c.MaxBytes < 0 || c.Keep < 0:
		return nil, fmt.Errorf("log file %q: %w: negative max bytes or keep", c.Path, ErrConfig)
	}
	c.Path, c.Base = filepath.Clean(c.Path), filepath.Clean(c.Base)
	rel, err := filepath.Rel(c.Base, filepath.Dir(c.Path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || c.Path == c.Base {
		return nil, fmt.Errorf("log file %q: %w: not below base %q", c.Path, ErrConfig, c.Base)
	}
	return &c, nil
}

// Config configures the log pipeline of one service.
type Config struct {
	Name           string           // service name (for messages)
	File           *FileConfig      // nil: no file sink
	Stdout, Stderr *Console         // where each stream is copied raw; nil: no copy
	RingBytes      int              // size of the ring, 256 B to 32 KiB; 0 means 32 KiB
	Now            func() time.Time // clock of the timestamps; nil means time.Now
	StallTimeout   time.Duration    // a sink without progress for this long is stalled; 0 means 5 s
}

// normalized returns c with defaults applied.
func (c Config) normalized() Config {
	if c.RingBytes <= 0 || c.RingBytes > maxRingBytes {
		c.RingBytes = maxRingBytes
	}
	c.RingBytes = max(c.RingBytes, minRingBytes)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = defaultStallTimeout
	}
	return c
}

// Entry is one line (or piece of a split line) of a service's output.
type Entry struct {
	Time      time.Time // when it was read (UTC)
	Stream    Stream
	Line      string // without the newline
	Continued bool   // this piece continues the previous one (a line longer than 64 KiB was split)
}

// Log is the log pipeline of one service. Its methods are safe for
// concurrent use.
type Log struct {
	c    counters
	file fileSink

	mu     sync.Mutex // guards cfg, ring, notify and closed
	cfg    Config
	ring   ring
	notify chan struct{} // closed when the ring changes or the Log closes; made by a waiting follower
	closed bool
}

// New returns the log pipeline described by cfg. Nothing runs until Pump.
// An invalid cfg.File is not reported here: every batch for the file then
// fails and is counted (use Reconfigure to check and replace a config).
func New(cfg Config) *Log {
	l := &Log{cfg: cfg.normalized()}
	l.file.now = l.cfg.Now
	l.file.q.limit = fileQueueBytes
	l.file.set(cfg.File)
	l.ring.size = l.cfg.RingBytes
	return l
}

// Reconfigure applies a replaced spec: the file path, limits, owner and
// mode, the consoles, the ring size and the clock. When the file path
// changes, the old file is closed and the new one opened by the next write
// (records still queued may land in either file). An invalid cfg.File is
// returned as an error wrapping ErrConfig and nothing is changed.
// Reconfigure after Close only changes the consoles and the ring.
func (l *Log) Reconfigure(cfg Config) error {
	if cfg.File != nil {
		if _, err := cfg.File.normalized(); err != nil {
			return fmt.Errorf("reconfiguring log of %s: %w", cfg.Name, err)
		}
	}
	cfg = cfg.normalized()
	l.mu.Lock()
	l.cfg = cfg
	l.ring.resize(cfg.RingBytes)
	l.mu.Unlock()
	l.file.mu.Lock()
	l.file.now = cfg.Now
	l.file.mu.Unlock()
	l.file.set(cfg.File)
	return nil
}

// Counters returns a snapshot of the service's log counters.
func (l *Log) Counters() Counters {
	stderr := l.c.stderrLines.Load() // before lines: never more than lines
	lines := l.c.lines.Load()
	return Counters{
		Lines:       lines,
		StdoutLines: lines - stderr,
		StderrLines: stderr,
		Bytes:       l.c.bytes.Load(),
		Dropped:     l.c.dropped.Load(),
		WriteErrors: l.c.writeErrors.Load(),
	}
}

// Close writes the records queued for the file, closes it and waits for
// the file writer; if the writer makes no progress for StallTimeout, Close
// stops waiting and returns an error wrapping ErrStalled (the writer closes
// the file when it returns). Close also ends every Follow once it has
// delivered the entries already in the ring. After Close, Pump still feeds
// the ring and the consoles but writes no file. A second Close returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.wakeFollowers()
	stall, name := l.cfg.StallTimeout, l.cfg.Name
	l.mu.Unlock()
	if err := l.file.close(stall); err != nil {
		return fmt.Errorf("closing log of %s: %w", name, err)
	}
	return nil
}

// wakeFollowers wakes the followers waiting for news. l.mu is held.
func (l *Log) wakeFollowers() {
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
}
