package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxTitleRunes is the longest title Rename accepts, in runes.
const MaxTitleRunes = 200

// ErrFull: the store is at its size cap (Options.MaxBytes) and pruning the
// ended sessions did not make room; the turn is refused (see FullError).
var ErrFull = errors.New("sessions store full")

// FullError is the refusal of a turn at the size cap: Size is the data the
// store holds, Max the cap, both in bytes. It wraps ErrFull.
type FullError struct {
	Size, Max int64
}

func (e *FullError) Error() string {
	return fmt.Sprintf("the sessions store holds %d bytes, at its cap of %d, and has no ended session left to prune", e.Size, e.Max)
}

// Unwrap returns ErrFull.
func (e *FullError) Unwrap() error { return ErrFull }

// Stats are what the store did on its own since it was opened.
type Stats struct {
	// EndedIdle counts the sessions ended for idleness.
	EndedIdle int64 `json:"ended_idle"`
	// PrunedForCap counts the ended sessions deleted at the size cap.
	PrunedForCap int64 `json:"pruned_for_cap"`
	// RefusedFull counts the turns refused with ErrFull.
	RefusedFull int64 `json:"refused_full"`
}

type stats struct {
	endedIdle, prunedForCap, refusedFull atomic.Int64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{EndedIdle: s.stats.endedIdle.Load(), PrunedForCap: s.stats.prunedForCap.Load(), RefusedFull: s.stats.refusedFull.Load()}
}

// InUse reports whether sess is in use at now for a store whose idle
// timeout is idle: open (not ended) and, when idle is set, with a turn
// more recent than idle. Prune never deletes a session in use.
func InUse(sess Session, now time.Time, idle time.Duration) bool {
	return sess.EndedAt == nil && (idle <= 0 || now.Sub(sess.LastActivityAt) < idle)
}

// CheckTitle is the rule of a title (Rename): trimmed, not empty, at most
// MaxTitleRunes runes of UTF-8 with no control character. It returns the
// trimmed title, or an error wrapping ErrInvalid that says why.
func CheckTitle(title string) (string, error) {
	t := strings.TrimSpace(title)
	switch n := utf8.RuneCountInString(t); {
	case !utf8.ValidString(t):
		return "", fmt.Errorf("%w: a title must be UTF-8 text", ErrInvalid)
	case n == 0:
		return "", fmt.Errorf("%w: a title cannot be empty", ErrInvalid)
	case n > MaxTitleRunes:
		return "", fmt.Errorf("%w: a title is at most %d characters; this one has %d", ErrInvalid, MaxTitleRunes, n)
	}
	if i := strings.IndexFunc(t, unicode.IsControl); i >= 0 {
		return "", fmt.Errorf("%w: a title is one line of text; this one has the control character %q at byte %d", ErrInvalid, t[i:i+1], i)
	}
	return t, nil
}

// Rename sets a session's title (CheckTitle's rule); a later turn keeps
// it. An unknown id gives ErrNotFound.
func (s *Store) Rename(ctx context.Context, id, title string) (Session, error) {
	t, err := CheckTitle(title)
	if err != nil {
		return Session{}, err
	}
	w, err := s.writer()
	if err != nil {
		return Session{}, err
	}
	sess, err := scanSession(w.QueryRowContext(ctx, `UPDATE sessions SET title = ? WHERE id = ? RETURNING `+sessionColumns, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("renaming session %s: %w", id, err)
	}
	return sess, nil
}

// deleteSessions deletes the sessions ids in tx, with their messages,
// responses and conversations; it returns how many sessions went.
func deleteSessions(ctx context.Context, tx *sql.Tx, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		for _, q := range []string{
			`DELETE FROM responses WHERE session_id = ?`,
			`DELETE FROM conversations WHERE session_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return n, fmt.Errorf("deleting session %s: %w", id, err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id) // messages: ON DELETE CASCADE
		if err != nil {
			return n, fmt.Errorf("deleting session %s: %w", id, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, nil
}

// Delete deletes a session, its messages, its responses and the named
// conversations that map to it, in one transaction. An unknown id gives
// ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deleting session %s: %w", id, err)
	}
	defer tx.Rollback()
	n, err := deleteSessions(ctx, tx, []string{id})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deleting session %s: %w", id, err)
	}
	return nil
}

// PruneOptions says which sessions Prune deletes: those that match every
// rule given (at least one is needed).
type PruneOptions struct {
	// OlderThan selects the sessions whose last activity is more than
	// that before now; 0 is no rule.
	OlderThan time.Duration
	// Keep selects every session but the Keep most recent (List's order);
	// 0 is no rule.
	Keep int
	// DryRun deletes nothing: the result says what would go.
	DryRun bool
	// Now is the time the rules are judged at; zero means the store's
	// clock.
	Now time.Time
}

// PruneResult is what a prune deleted (or, in a dry run, would delete) and
// the sessions in use it skipped, both in List's order.
type PruneResult struct {
	Pruned  []Session `json:"pruned"`
	Skipped []Session `json:"skipped_in_use"`
	DryRun  bool      `json:"dry_run"`
}

// Prune deletes the sessions o selects, in one transaction, except those in
// use (InUse with the store's IdleTimeout), which it reports as skipped. A
// read-only store can only do a dry run.
func (s *Store) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	res := PruneResult{Pruned: []Session{}, Skipped: []Session{}, DryRun: o.DryRun}
	if o.OlderThan < 0 || o.Keep < 0 {
		return res, fmt.Errorf("%w: a prune's age and count cannot be negative", ErrInvalid)
	}
	if o.OlderThan == 0 && o.Keep == 0 {
		return res, fmt.Errorf("%w: a prune needs an age or a count of sessions to keep", ErrInvalid)
	}
	now := o.Now
	if now.IsZero() {
		now = s.now()
	}
	var db *sql.DB
	var err error
	if o.DryRun {
		db, err = s.reader(ctx)
	} else {
		db, err = s.writer()
	}
	if db == nil || err != nil {
		return res, err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: o.DryRun})
	if err != nil {
		return res, fmt.Errorf("pruning sessions: %w", err)
	}
	defer tx.Rollback()
	q := `SELECT ` + sessionColumns + ` FROM sessions`
	var args []any
	if o.OlderThan > 0 {
		q += ` WHERE last_activity_at < ?`
		args = append(args, ms(now.Add(-o.OlderThan)))
	}
	q += ` ORDER BY last_activity_at DESC, started_at DESC, id LIMIT -1 OFFSET ?`
	args = append(args, o.Keep)
	if o.OlderThan > 0 && o.Keep > 0 {
		// The newest Keep of all sessions stay, whatever their age.
		q = `SELECT ` + sessionColumns + ` FROM sessions WHERE last_activity_at < ? AND id NOT IN
			(SELECT id FROM sessions ORDER BY last_activity_at DESC, started_at DESC, id LIMIT ?)
			ORDER BY last_activity_at DESC, started_at DESC, id`
		args = []any{ms(now.Add(-o.OlderThan)), o.Keep}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return res, fmt.Errorf("pruning sessions: %w", err)
	}
	var ids []string
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return res, fmt.Errorf("pruning sessions: %w", err)
		}
		if InUse(sess, now, s.idle) {
			res.Skipped = append(res.Skipped, sess)
			continue
		}
		res.Pruned = append(res.Pruned, sess)
		ids = append(ids, sess.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("pruning sessions: %w", err)
	}
	if o.DryRun || len(ids) == 0 {
		return res, nil
	}
	if _, err := deleteSessions(ctx, tx, ids); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("pruning sessions: %w", err)
	}
	return res, nil
}

// EndIdle ends every open session whose last turn is IdleTimeout or more
// before now; its end is the moment it became idle (last activity plus
// the timeout). It returns how many it ended; with no IdleTimeout it does
// nothing.
func (s *Store) EndIdle(ctx context.Context) (int, error) {
	if s.idle <= 0 {
		return 0, nil
	}
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	idle := s.idle.Milliseconds()
	res, err := w.ExecContext(ctx, `UPDATE sessions SET ended_at = last_activity_at + ? WHERE ended_at IS NULL AND last_activity_at <= ?`,
		idle, ms(s.now())-idle)
	if err != nil {
		return 0, fmt.Errorf("ending idle sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		s.stats.endedIdle.Add(n)
		s.log.Info("sessions: ended idle sessions", "count", n, "idle_timeout", s.idle.String())
	}
	return int(n), nil
}

// sweepEvery is how often Run ends idle sessions for an idle timeout d.
func sweepEvery(d time.Duration) time.Duration {
	return min(max(d/4, time.Second), time.Minute)
}

// Run keeps a writer's store: it indexes the messages the turns listed
// (Index) every indexEvery, and it ends idle sessions (EndIdle) at once and
// then every quarter of the idle timeout (at least 1 s, at most 1 min);
// until ctx is done, then it returns nil. A failed sweep or indexing is
// logged and retried at the next tick. On a read-only store it only waits
// for ctx.
func (s *Store) Run(ctx context.Context) error {
	if s.w == nil {
		<-ctx.Done()
		return nil
	}
	index := time.NewTicker(indexEvery)
	defer index.Stop()
	var sweep <-chan time.Time
	if s.idle > 0 {
		t := time.NewTicker(sweepEvery(s.idle))
		defer t.Stop()
		sweep = t.C
		s.sweepIdle(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep:
			s.sweepIdle(ctx)
		case <-index.C:
			s.indexIfListed(ctx)
		}
	}
}

// sweepIdle is Run's sweep of the idle sessions.
func (s *Store) sweepIdle(ctx context.Context) {
	if _, err := s.EndIdle(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("sessions: ending idle sessions", "err", err)
	}
}

// dataBytes is the size of what the database holds: its pages in use
// (the free list is reused before the file grows).
func dataBytes(ctx context.Context, q queryRower) (int64, error) {
	var pages, free, size int64
	for _, p := range []struct {
		name string
		v    *int64
	}{{"page_count", &pages}, {"freelist_count", &free}, {"page_size", &size}} {
		if err := q.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(p.v); err != nil {
			return 0, fmt.Errorf("measuring the sessions store: %w", err)
		}
	}
	return (pages - free) * size, nil
}

// sizeCache spares a turn the measure of the store (three PRAGMA queries,
// twice a turn) while the store is far from its cap: a measure is reused
// for at most sizeFresh, plus what the turns since have written, times
// sizeGrowth for the index and the pages around it, as long as that stays
// under nine tenths of the cap. Close to the cap, every Admit measures.
type sizeCache struct {
	mu  sync.Mutex
	at  time.Time // when est was measured; zero: never
	est int64
}

const (
	sizeFresh  = time.Second
	sizeGrowth = 4
)

// roomy reports whether the estimate is recent and well under max.
func (c *sizeCache) roomy(now time.Time, max int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.at.IsZero() && now.Sub(c.at) < sizeFresh && now.Sub(c.at) >= 0 && c.est < max-max/10
}

func (c *sizeCache) measured(now time.Time, size int64) {
	c.mu.Lock()
	c.at, c.est = now, size
	c.mu.Unlock()
}

// grew adds what a turn wrote to the estimate.
func (c *sizeCache) grew(bytes int) {
	c.mu.Lock()
	c.est += int64(bytes) * sizeGrowth
	c.mu.Unlock()
}

// MaxBytes is the store's size cap (Options.MaxBytes); 0 for none.
func (s *Store) MaxBytes() int64 { return s.max }

// Size is the data the store holds, in bytes (the measure of MaxBytes).
func (s *Store) Size(ctx context.Context) (int64, error) {
	db, err := s.reader(ctx)
	if db == nil || err != nil {
		return 0, err
	}
	return dataBytes(ctx, db)
}

// pruneBatch is how many ended sessions a pruning at the cap deletes in
// one transaction before it measures again.
const pruneBatch = 32

// Admit makes room for a turn: below the cap (Options.MaxBytes) it does
// nothing; at the cap it deletes the oldest ended sessions (their end
// first) until the data is back under 95% of the cap, and when no ended
// session is left and the store is still at the cap, it refuses with a
// *FullError (ErrFull). The gateway calls it before it asks the upstream,
// and AppendTurn calls it too. Prunings and refusals are counted (Stats)
// and logged.
func (s *Store) Admit(ctx context.Context) error {
	if s.max <= 0 {
		return nil
	}
	w, err := s.writer()
	if err != nil {
		return err
	}
	if s.size.roomy(s.now(), s.max) {
		return nil
	}
	size, err := dataBytes(ctx, w)
	if err != nil {
		return err
	}
	s.size.measured(s.now(), size)
	if size < s.max {
		return nil
	}
	target := s.max - s.max/20
	pruned := 0
	for size >= target {
		n, err := s.pruneOldestEnded(ctx, w)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		pruned += n
		if size, err = dataBytes(ctx, w); err != nil {
			return err
		}
		s.size.measured(s.now(), size)
	}
	if pruned > 0 {
		s.stats.prunedForCap.Add(int64(pruned))
		s.log.Warn("sessions: the store reached its size cap; pruned the oldest ended sessions", "pruned", pruned, "bytes", size, "max_bytes", s.max)
	}
	if size >= s.max {
		s.stats.refusedFull.Add(1)
		s.log.Warn("sessions: the store is full; refusing new turns", "bytes", size, "max_bytes", s.max, "refused", s.stats.refusedFull.Load())
		return &FullError{Size: size, Max: s.max}
	}
	return nil
}

// pruneOldestEnded deletes up to pruneBatch of the ended sessions that
// ended first; it returns how many went.
func (s *Store) pruneOldestEnded(ctx context.Context, w *sql.DB) (int, error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("pruning at the size cap: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM sessions WHERE ended_at IS NOT NULL ORDER BY ended_at, id LIMIT ?`, pruneBatch)
	if err != nil {
		return 0, fmt.Errorf("pruning at the size cap: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n, err := deleteSessions(ctx, tx, ids)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
