package sessions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ms is the stored form of a time: Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS is the time of a stored value, in UTC.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// usageArgs are the three columns of a usage, NULL when there is none.
func usageArgs(u *Usage) (any, any, any) {
	if u == nil {
		return nil, nil, nil
	}
	return u.PromptTokens, u.CompletionTokens, u.TotalTokens
}

// scanUsage is the usage of three nullable columns.
func scanUsage(p, c, t sql.NullInt64) *Usage {
	if !p.Valid && !c.Valid && !t.Valid {
		return nil
	}
	return &Usage{PromptTokens: p.Int64, CompletionTokens: c.Int64, TotalTokens: t.Int64}
}

// validRole reports whether r is one of the four roles.
func validRole(r string) bool {
	switch r {
	case RoleSystem, RoleUser, RoleAssistant, RoleTool:
		return true
	}
	return false
}

// makeTitle is a session's title from its first user message: on one line,
// at most TitleRunes runes, "…" marking a cut.
func makeTitle(content string) string {
	t := strings.Join(strings.Fields(content), " ")
	if utf8.RuneCountInString(t) <= TitleRunes {
		return t
	}
	r := []rune(t)[:TitleRunes-1]
	return strings.TrimRight(string(r), " ") + "…"
}

// checkTurn validates a turn before anything is written.
func checkTurn(t Turn) error {
	if err := ValidSessionID(t.SessionID); err != nil {
		return err
	}
	if len(t.Messages) == 0 {
		return fmt.Errorf("%w: a turn of session %s has no messages", ErrInvalid, t.SessionID)
	}
	for i, m := range t.Messages {
		if !validRole(m.Role) {
			return fmt.Errorf("%w: message %d of a turn of session %s has role %q; want system, user, assistant or tool", ErrInvalid, i+1, t.SessionID, m.Role)
		}
		if len(m.Raw) > 0 && !json.Valid(m.Raw) {
			return fmt.Errorf("%w: message %d of a turn of session %s has a raw field that is not JSON", ErrInvalid, i+1, t.SessionID)
		}
		if m.ResponseID != "" {
			if err := validID("response id", m.ResponseID); err != nil {
				return err
			}
		}
	}
	return nil
}

// AppendTurn records a turn in one transaction: it creates the session on
// its first turn (StartedAt is the turn's time), appends the messages with
// the next sequence numbers, adds the usage to the session's totals, sets
// the title from the first user message, moves the last activity forward
// and reopens an ended session. Either all of it is committed or nothing.
// At the size cap it makes room first (Admit) or refuses with ErrFull.
//
// Turns that arrive while another is being written are committed together
// (a group commit: each in its own savepoint, so that one turn's failure
// is that turn's alone): a commit's cost, most of a turn's, is shared by
// the turns of its group. AppendTurn returns when its turn is committed or
// refused; a turn whose ctx is done before its group is written is not
// written and gets ctx's error.
func (s *Store) AppendTurn(ctx context.Context, t Turn) error {
	q, err := s.enqueue(ctx, t, false)
	if err != nil {
		return err
	}
	return s.commit(q)
}

// maxQueued bounds the turns QueueTurn leaves waiting for their commit:
// past it, QueueTurn waits for its turn's commit as AppendTurn does (a
// store slower than the turns arrive holds their callers back instead of
// their messages piling up in memory).
const maxQueued = 256

// commitDelay is how long a turn of QueueTurn's that finds the queue idle
// waits for others to share its commit (nobody waits for that turn); an
// AppendTurn, a Flush, a Close or maxGroup turns queued end the wait at
// once. Under concurrent turns a commit then writes several turns' pages
// once: a group commit delay, as databases have.
const commitDelay = time.Millisecond

// maxGroup is the queue's length that ends commitDelay's wait.
const maxGroup = 64

// QueueTurn records a turn as AppendTurn does, in the same queue and so in
// the order of the calls (a turn queued before another of its session
// takes the lower sequence numbers), but returns once the turn is queued,
// without waiting for its commit; done, when not nil, is called with what
// AppendTurn would have returned, once the turn is written or refused.
// With maxQueued turns already waiting it waits like AppendTurn, and calls
// done before it returns. A turn that finds the queue idle is written
// commitDelay later, with the turns queued meanwhile.
//
// The gateway queues a chat completion's turn once the answer is
// delivered, so that neither the client's next request on the same
// connection nor the handler waits for the commit; Flush and Close wait
// for every queued turn.
func (s *Store) QueueTurn(ctx context.Context, t Turn, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	q, err := s.enqueue(ctx, t, true)
	switch {
	case err != nil:
		done(err)
	case !q.async:
		done(s.commit(q))
	default:
		go func() { done(s.commit(q)) }()
	}
}

// Flush waits until every turn queued before the call (AppendTurn's and
// QueueTurn's) is written or refused, or ctx is done. The gateway's reads
// of the store call it first, so that a client reads every turn it was
// answered; the gateway calls it when it stops.
func (s *Store) Flush(ctx context.Context) error {
	g := &s.group
	g.mu.Lock()
	target := g.queued
	if g.written < target {
		g.kickLocked()
	}
	for g.written < target {
		ch := g.settledLocked()
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
	}
	g.mu.Unlock()
	return nil
}

// enqueue checks a turn and puts it in the group queue; async marks a
// QueueTurn turn (counted against maxQueued).
func (s *Store) enqueue(ctx context.Context, t Turn, async bool) (*queuedTurn, error) {
	if err := checkTurn(t); err != nil {
		return nil, err
	}
	if _, err := s.writer(); err != nil {
		return nil, err
	}
	q := s.queueTurn(ctx, t)
	g := &s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return nil, ErrClosed
	}
	g.queued++
	q.seq = g.queued
	if async && g.async < maxQueued {
		q.async = true
		g.async++
	}
	g.queue = append(g.queue, q)
	q.first = !g.writing
	g.writing = true
	if !async || len(g.queue) >= maxGroup {
		g.kickLocked() // someone waits for this turn, or the group is large
	}
	return q, nil
}

// gather is commitDelay's wait of the first turn of QueueTurn's to find
// the queue idle: it returns after commitDelay, or once kicked.
func (g *group) gather(delay time.Duration) {
	g.mu.Lock()
	if g.kick == nil {
		g.kick = make(chan struct{}, 1)
	}
	select {
	case <-g.kick: // a stale kick, of an earlier wait
	default:
	}
	for _, o := range g.queue {
		if !o.async {
			g.mu.Unlock()
			return
		}
	}
	g.gathering = true
	g.mu.Unlock()
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-g.kick:
	}
	t.Stop()
	g.mu.Lock()
	g.gathering = false
	g.mu.Unlock()
}

// kickLocked ends gather's wait, if one is under way.
func (g *group) kickLocked() {
	if g.gathering {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
}

// commit waits for q's turn to be written, or writes it with the turns
// queued with it when q leads, and returns its error.
func (s *Store) commit(q *queuedTurn) error {
	g := &s.group
	if !q.first {
		// Written by the leader, or handed the lead for the next group.
		if lead := <-q.lead; !lead {
			return q.err
		}
	} else if q.async {
		delay := s.commitDelay
		if delay == 0 {
			delay = commitDelay
		}
		g.gather(delay)
	}
	g.mu.Lock()
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	s.writeGroup(batch)
	g.mu.Lock()
	g.written = batch[len(batch)-1].seq
	for _, o := range batch {
		if o.async {
			g.async--
		}
	}
	if g.settled != nil {
		close(g.settled)
		g.settled = nil
	}
	g.mu.Unlock()
	for _, o := range batch {
		if o != q {
			o.lead <- false
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		// The turns queued meanwhile: the first of them leads their group.
		next := g.queue[0]
		g.mu.Unlock()
		next.lead <- true
	} else {
		g.writing = false
		g.mu.Unlock()
	}
	return q.err
}

// group is the queue of the turns waiting for a commit. One turn at a
// time leads: it takes the whole queue, writes it, answers each turn, and
// hands the lead to the first turn queued meanwhile (so that no caller
// writes others' turns for longer than one group).
type group struct {
	mu      sync.Mutex
	queue   []*queuedTurn
	writing bool // a leader is at work or handing over
	// queued numbers the turns queued so far; written is the number of
	// the last one written (groups are written in the queue's order).
	queued, written uint64
	// async counts QueueTurn's turns not yet written (maxQueued).
	async int
	// settled is closed when a group has been written (Flush); nil until
	// someone waits.
	settled chan struct{}
	// closing refuses new turns (Close).
	closing bool
	// gathering: a leader waits commitDelay for others (gather); kick
	// ends its wait.
	gathering bool
	kick      chan struct{}
}

// settledLocked is the channel closed when the next group is written.
func (g *group) settledLocked() chan struct{} {
	if g.settled == nil {
		g.settled = make(chan struct{})
	}
	return g.settled
}

// queuedTurn is a turn waiting in the group queue, ready to be written.
type queuedTurn struct {
	ctx  context.Context
	t    Turn
	msgs []Message
	sum  Usage
	at   time.Time
	err  error
	seq  uint64 // its number in the queue
	// first: the queue was idle when the turn came, so it leads at once.
	first bool
	// async: queued by QueueTurn, counted in group.async.
	async bool
	// lead receives false when the turn has been written (err says how),
	// true when the turn is to lead the next group.
	lead chan bool
}

// queueTurn works out what a turn writes: its time, its messages (the
// turn's usage given to its last assistant message that has none) and the
// usage to add to the session's totals.
func (s *Store) queueTurn(ctx context.Context, t Turn) *queuedTurn {
	q := &queuedTurn{ctx: ctx, t: t, at: t.At, lead: make(chan bool, 1)}
	if q.at.IsZero() {
		q.at = s.now()
	}
	q.msgs = append([]Message(nil), t.Messages...)
	if t.Usage != nil {
		q.sum = *t.Usage
		for i := len(q.msgs) - 1; i >= 0; i-- {
			if q.msgs[i].Role == RoleAssistant {
				if q.msgs[i].Usage == nil {
					u := *t.Usage
					q.msgs[i].Usage = &u
				}
				break
			}
		}
	} else {
		for _, m := range q.msgs {
			if m.Usage != nil {
				q.sum.add(*m.Usage)
			}
		}
	}
	return q
}

// writeGroup writes a group of turns in one transaction, each in a
// savepoint of its own when there are several, and sets each turn's err.
// It runs on the leader's goroutine, apart from the leader's ctx (whose
// end must not undo the others' turns).
func (s *Store) writeGroup(batch []*queuedTurn) {
	ctx := context.WithoutCancel(batch[0].ctx)
	failAll := func(err error) {
		for _, q := range batch {
			if q.err == nil {
				q.err = fmt.Errorf("session %s: %w", q.t.SessionID, err)
			}
		}
	}
	w, err := s.writer()
	if err != nil {
		failAll(err)
		return
	}
	if err := s.Admit(ctx); err != nil {
		failAll(err)
		return
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		failAll(err)
		return
	}
	defer tx.Rollback()
	st := turnTx{
		selectSession: tx.StmtContext(ctx, s.turn.selectSession),
		insertSession: tx.StmtContext(ctx, s.turn.insertSession),
		insertMessage: tx.StmtContext(ctx, s.turn.insertMessage),
		updateSession: tx.StmtContext(ctx, s.turn.updateSession),
	}
	savepoints := len(batch) > 1
	written, listed := 0, 0
	for _, q := range batch {
		if q.err = q.ctx.Err(); q.err != nil {
			continue
		}
		if savepoints {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT turn"); err != nil {
				failAll(err)
				return
			}
		}
		n, err := st.write(ctx, q)
		if err != nil {
			q.err = err
			if !savepoints {
				return
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO turn"); err != nil {
				failAll(err)
				return
			}
		} else {
			written += n
			listed += len(q.msgs)
		}
		if savepoints {
			if _, err := tx.ExecContext(ctx, "RELEASE turn"); err != nil {
				failAll(err)
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		failAll(err)
		return
	}
	s.size.grew(written)
	s.listed(ctx, listed)
}

// turnTx are the turn's statements in the group's transaction.
type turnTx struct {
	selectSession, insertSession, insertMessage, updateSession *sql.Stmt
}

// write writes one turn and returns how many bytes of text it wrote.
func (st turnTx) write(ctx context.Context, q *queuedTurn) (int, error) {
	t, at := q.t, q.at
	var count int
	var title string
	err := st.selectSession.QueryRowContext(ctx, t.SessionID).Scan(&count, &title)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = st.insertSession.ExecContext(ctx, t.SessionID, t.Profile, t.Model, ms(at), ms(at))
	}
	if err != nil {
		return 0, fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	written := 0
	for _, m := range q.msgs {
		count++
		written += len(m.Content) + len(m.Raw)
		created := m.CreatedAt
		if created.IsZero() {
			created = at
		}
		model := m.Model
		if model == "" && m.Role == RoleAssistant {
			model = t.Model
		}
		var raw any
		if len(m.Raw) > 0 {
			raw = string(m.Raw)
		}
		p, c, tt := usageArgs(m.Usage)
		if _, err := st.insertMessage.ExecContext(ctx,
			t.SessionID, count, m.Role, m.Content, raw, ms(created), model, p, c, tt, nullString(m.ResponseID)); err != nil {
			return 0, fmt.Errorf("session %s: message %d: %w", t.SessionID, count, err)
		}
		if title == "" && m.Role == RoleUser {
			title = makeTitle(m.Content)
		}
	}
	if _, err := st.updateSession.ExecContext(ctx,
		t.Model, t.Model, title, ms(at), count, q.sum.PromptTokens, q.sum.CompletionTokens, q.sum.TotalTokens, t.SessionID); err != nil {
		return 0, fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	return written, nil
}

// turnStmts are AppendTurn's statements, prepared on the writer.
type turnStmts struct {
	selectSession, insertSession, insertMessage, updateSession *sql.Stmt
}

func (ts *turnStmts) prepare(ctx context.Context, w *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&ts.selectSession, `SELECT message_count, title FROM sessions WHERE id = ?`},
		{&ts.insertSession, `INSERT INTO sessions (id, profile, model, started_at, last_activity_at) VALUES (?, ?, ?, ?, ?)`},
		{&ts.insertMessage, `INSERT INTO messages (session_id, seq, role, content, raw, created_at, model, prompt_tokens, completion_tokens, total_tokens, response_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&ts.updateSession, `UPDATE sessions SET
			model = CASE WHEN ? <> '' THEN ? ELSE model END,
			title = ?,
			last_activity_at = max(last_activity_at, ?),
			ended_at = NULL,
			message_count = ?,
			prompt_tokens = prompt_tokens + ?,
			completion_tokens = completion_tokens + ?,
			total_tokens = total_tokens + ?
		WHERE id = ?`},
	} {
		st, err := w.PrepareContext(ctx, p.sql)
		if err != nil {
			ts.close()
			return fmt.Errorf("preparing a turn's statements: %w", err)
		}
		*p.stmt = st
	}
	return nil
}

func (ts *turnStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{ts.selectSession, ts.insertSession, ts.insertMessage, ts.updateSession} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// EndSession marks a session ended now (the store's clock); it no longer
// counts as active. Ending an ended session changes nothing; an unknown id
// gives ErrNotFound.
func (s *Store) EndSession(ctx context.Context, id string) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	res, err := w.ExecContext(ctx, `UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL`, ms(s.now()), id)
	if err != nil {
		return fmt.Errorf("ending session %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	var one int
	err = w.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return err
}
