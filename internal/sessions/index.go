package sessions

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"modernc.org/sqlite"
)

// The trigram index (messages_text) is filled off a turn's path: a turn
// lists its messages in messages_unindexed (the insert trigger of schema
// version 3) and Index moves them into the index in batches. A batch of
// many messages costs one FTS5 segment, where a message indexed by its own
// turn cost one each (and their merges).
const (
	// indexBatch is the most messages one Index transaction moves (the
	// writer is held that long; turns wait behind it).
	indexBatch = 512
	// indexEvery is how often Run indexes what the turns listed.
	indexEvery = time.Second
	// indexInline is how many listed messages make a turn index them
	// itself (a store whose Run is not running keeps its list short).
	indexInline = 4 * indexBatch
	// closeIndexBudget bounds the indexing Close does.
	closeIndexBudget = time.Second
)

// Index moves the messages waiting in messages_unindexed into the trigram
// index, in transactions of at most indexBatch messages, and returns how
// many it moved. Search finds a message whether it waits or not; Index
// only makes the search of it quicker. ErrReadOnly on a read-only store.
func (s *Store) Index(ctx context.Context) (int, error) {
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		n, err := indexOnce(ctx, w)
		total += n
		s.unindexed.Add(-int64(n))
		if err != nil {
			return total, fmt.Errorf("indexing the sessions' messages: %w", err)
		}
		if n < indexBatch {
			if s.unindexed.Load() < 0 {
				s.unindexed.Store(0)
			}
			return total, nil
		}
	}
}

// indexOnce moves the first indexBatch listed messages into the index in
// one transaction.
func indexOnce(ctx context.Context, w *sql.DB) (int, error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var upto sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM messages_unindexed ORDER BY id LIMIT ?)`, indexBatch).Scan(&upto); err != nil {
		return 0, err
	}
	if !upto.Valid {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO messages_text (rowid, content)
		SELECT m.rowid, m.content FROM messages_unindexed p CROSS JOIN messages m ON m.rowid = p.id WHERE p.id <= ?`, upto.Int64); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM messages_unindexed WHERE id <= ?`, upto.Int64)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return int(n), nil
}

// countUnindexed reads how many messages wait for the index (Open: what
// the last writer left).
func countUnindexed(ctx context.Context, w *sql.DB) (int64, error) {
	var n int64
	err := w.QueryRowContext(ctx, `SELECT count(*) FROM messages_unindexed`).Scan(&n)
	return n, err
}

// listed is called by a turn that listed n messages: it wakes Run, or
// indexes itself when the list has grown long (no Run).
func (s *Store) listed(ctx context.Context, n int) {
	if s.unindexed.Add(int64(n)) >= indexInline {
		s.indexLogged(ctx)
	}
}

// indexIfListed is Run's tick: it indexes when turns have listed messages
// since the last time.
func (s *Store) indexIfListed(ctx context.Context) {
	if s.unindexed.Load() > 0 {
		s.indexLogged(ctx)
	}
}

// indexLogged is Index on the store's own behalf: a failure is logged (the
// messages stay listed, and searchable, for the next try), unless ctx
// ended or the store closed.
func (s *Store) indexLogged(ctx context.Context) {
	if _, err := s.Index(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
		s.log.Warn("sessions: indexing the messages", "err", err)
	}
}

// containsFunc is the SQL function that matches the listed messages as
// the trigram index matches the indexed ones: literally, the case of
// every letter folded (SQLite's LIKE folds only ASCII).
const containsFunc = "hermes_contains_folded"

// registerContains registers containsFunc with the driver, once, before
// the store's first connection (the driver gives a function only to the
// connections opened after it).
var registerContains = sync.OnceValue(func() error {
	return sqlite.RegisterDeterministicScalarFunction(containsFunc, 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		text, _ := args[0].(string)
		query, _ := args[1].(string)
		if strings.Contains(fold(text), fold(query)) {
			return int64(1), nil
		}
		return int64(0), nil
	})
})

// fold lowers the case of every letter, as the trigram tokenizer does
// (case_sensitive 0, diacritics kept).
func fold(s string) string { return strings.Map(unicode.ToLower, s) }
