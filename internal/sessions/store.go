package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// Defaults of Options.
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultReadConns   = 4
)

// walSizeLimit is the size, in bytes, a WAL is truncated to when it is
// reset.
const walSizeLimit = 16 << 20

// Options tunes the writer's Store.
type Options struct {
	// BusyTimeout bounds how long a statement waits for a lock held by
	// another process (a reader recovering the WAL index, a second writer
	// during a gateway --replace); 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool; 0 means DefaultReadConns.
	ReadConns int
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives what the store does on its own (sessions ended for
	// idleness, pruned at the size cap, turns refused when full); nil
	// discards.
	Logger *slog.Logger
	// IdleTimeout ends a session with no turn for that long (Run, EndIdle;
	// the gateway passes sessions.idle_timeout); 0 never ends one. It is
	// also what Prune counts as in use: an open session whose last turn is
	// more recent than that.
	IdleTimeout time.Duration
	// MaxBytes caps the data of the store (its pages in use): at the cap
	// the oldest ended sessions are pruned, and when that is not enough
	// new turns are refused with ErrFull (the gateway passes
	// sessions.max_bytes); 0 means no cap.
	MaxBytes int64
}

// Store is a profile's state.db: opened by Open for the gateway (which
// writes) or by OpenReadOnly for everyone else. Its methods are safe for
// concurrent use.
type Store struct {
	path  string
	now   func() time.Time
	busy  time.Duration
	conns int
	log   *slog.Logger
	idle  time.Duration
	max   int64
	stats stats
	// quickScan replaces the constant of that name (tests); 0 keeps it.
	quickScan int
	// commitDelay replaces the constant of that name (tests); 0 keeps it.
	commitDelay time.Duration
	// w is the writer's one connection; nil in a read-only store.
	w *sql.DB
	// turn holds the statements of AppendTurn, prepared once on w (a
	// turn's SQL is parsed once per store, not once per turn).
	turn turnStmts
	// size is the cap's measure between measurements (Admit).
	size sizeCache
	// group queues the turns for their commit (AppendTurn).
	group group
	// unindexed counts the messages listed for the index since the last
	// Index (a hint: another writer's turns are not counted).
	unindexed atomic.Int64

	mu     sync.Mutex
	r      *sql.DB // read pool; nil while a read-only store's file is missing or empty
	closed bool
}

// dsn is the driver's name of the database at path (absolute): a file: URI
// (so that SQLite reads mode=ro) with the driver's connection settings.
// Nothing here changes the file itself: the journal mode is set after the
// file has been found to be ours.
func dsn(path string, readOnly bool, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// After a checkpoint has reset it, a WAL larger than this is
		// truncated (a burst of writes does not keep its size forever).
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(walSizeLimit)+")")
		q.Set("_txlock", "immediate")
	}
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

// openReadPool opens a pool of read-only connections on path and reads its
// header through it. A file that is not an SQLite database or that fails
// the verdict is refused with a *SchemaError and the pool is closed.
func openReadPool(ctx context.Context, path string, busy time.Duration, conns int) (*sql.DB, int, error) {
	db, err := sql.Open("sqlite", dsn(path, true, busy))
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	h, err := readHeader(ctx, db)
	if errors.Is(err, errNotADatabase) {
		db.Close()
		return nil, 0, &SchemaError{Path: path, Kind: ErrForeignSchema, Found: "it is not an SQLite database"}
	}
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	from, err := h.verdict(path)
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	return db, from, nil
}

// Open opens the store at path for writing, creating the file (mode 0600)
// if it is missing, and migrates it to SchemaVersion. A foreign or newer
// file is refused (ErrForeignSchema, ErrNewerSchema) and left untouched.
// The store is in WAL mode with synchronous=NORMAL and foreign keys on.
func Open(path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs, now: opts.Clock, busy: opts.BusyTimeout, conns: opts.ReadConns, log: opts.Logger, idle: opts.IdleTimeout, max: opts.MaxBytes}
	s.defaults()
	ctx := context.Background()
	if err := registerContains(); err != nil {
		return nil, fmt.Errorf("opening the sessions store: %w", err)
	}

	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the sessions store: %w", err)
	}
	f.Close()
	// Inspect read-only first: a foreign file is never opened for writing
	// (a read-write handle could roll back its hot journal or checkpoint
	// its WAL on close).
	r, _, err := openReadPool(ctx, abs, s.busy, s.conns)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(abs, false, s.busy))
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("opening %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := s.setUp(ctx, w); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	if err := s.turn.prepare(ctx, w); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("opening %s: %w", abs, err)
	}
	n, err := countUnindexed(ctx, w)
	if err != nil {
		s.turn.close()
		w.Close()
		r.Close()
		return nil, fmt.Errorf("opening %s: %w", abs, err)
	}
	s.unindexed.Store(n)
	s.w, s.r = w, r
	return s, nil
}

// setUp migrates the writer's database and turns WAL on.
func (s *Store) setUp(ctx context.Context, w *sql.DB) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	if err := migrate(ctx, tx, s.path); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("turning WAL on in %s: %w", s.path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("turning WAL on in %s: the journal mode stays %q (a filesystem without shared memory?)", s.path, mode)
	}
	return nil
}

// OpenReadOnly opens the store at path for reading: the dashboard's and the
// CLI's handle, never migrating, working while the gateway writes. A
// missing file is not an error: the store reads as empty until the gateway
// creates it. A foreign or newer file is refused as by Open.
func OpenReadOnly(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs}
	s.defaults()
	if err := registerContains(); err != nil {
		return nil, fmt.Errorf("opening the sessions store: %w", err)
	}
	if _, err := s.reader(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) defaults() {
	if s.now == nil {
		s.now = time.Now
	}
	if s.busy <= 0 {
		s.busy = DefaultBusyTimeout
	}
	if s.conns <= 0 {
		s.conns = DefaultReadConns
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// reader returns the read pool, opening it when a read-only store's file
// has appeared; nil (and no error) means that there is nothing to read yet.
func (s *Store) reader(ctx context.Context) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.r != nil {
		return s.r, nil
	}
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading the sessions store: %w", err)
	}
	db, from, err := openReadPool(ctx, s.path, s.busy, s.conns)
	if err != nil {
		return nil, err
	}
	switch {
	case from == 0:
		db.Close() // an empty file: the gateway is creating it
		return nil, nil
	case from < SchemaVersion:
		db.Close()
		return nil, fmt.Errorf("%s has sessions schema version %d and this hermes reads version %d: start the profile's gateway once, it migrates the store", s.path, from, SchemaVersion)
	}
	s.r = db
	return db, nil
}

// writer returns the write connection.
func (s *Store) writer() (*sql.DB, error) {
	if s.w == nil {
		return nil, ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.w, nil
}

// Close closes the store's connections; a writer first refuses new turns
// (ErrClosed) and waits for the turns queued (QueueTurn) to be written,
// then indexes the messages its turns listed (for at most
// closeIndexBudget: what is left is indexed by the next writer), and its
// last close checkpoints the WAL into the database file. Calls after Close
// fail with ErrClosed.
func (s *Store) Close() error {
	if s.w != nil {
		s.group.mu.Lock()
		s.group.closing = true
		s.group.mu.Unlock()
		s.Flush(context.Background())
	}
	if s.w != nil && s.unindexed.Load() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), closeIndexBudget)
		s.indexLogged(ctx)
		cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.turn.close(), s.w.Close())
	}
	return errors.Join(errs...)
}

// Writable reports whether the store can take a write transaction now (the
// gateway's GET /health/detailed): it begins one, waiting for the writes
// in progress within ctx, and rolls it back without writing.
func (s *Store) Writable(ctx context.Context) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: beginning a write: %w", s.path, err)
	}
	return tx.Rollback()
}
