package sessions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
func (s *Store) AppendTurn(ctx context.Context, t Turn) error {
	if err := checkTurn(t); err != nil {
		return err
	}
	w, err := s.writer()
	if err != nil {
		return err
	}
	if err := s.Admit(ctx); err != nil {
		return fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	at := t.At
	if at.IsZero() {
		at = s.now()
	}
	msgs := append([]Message(nil), t.Messages...)
	var sum Usage
	if t.Usage != nil {
		sum = *t.Usage
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Role == RoleAssistant {
				if msgs[i].Usage == nil {
					u := *t.Usage
					msgs[i].Usage = &u
				}
				break
			}
		}
	} else {
		for _, m := range msgs {
			if m.Usage != nil {
				sum.add(*m.Usage)
			}
		}
	}

	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	defer tx.Rollback()
	var count int
	var title string
	err = tx.StmtContext(ctx, s.turn.selectSession).QueryRowContext(ctx, t.SessionID).Scan(&count, &title)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.StmtContext(ctx, s.turn.insertSession).ExecContext(ctx, t.SessionID, t.Profile, t.Model, ms(at), ms(at))
	}
	if err != nil {
		return fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	insertMessage := tx.StmtContext(ctx, s.turn.insertMessage)
	written := 0
	for _, m := range msgs {
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
		if _, err := insertMessage.ExecContext(ctx,
			t.SessionID, count, m.Role, m.Content, raw, ms(created), model, p, c, tt, nullString(m.ResponseID)); err != nil {
			return fmt.Errorf("session %s: message %d: %w", t.SessionID, count, err)
		}
		if title == "" && m.Role == RoleUser {
			title = makeTitle(m.Content)
		}
	}
	if _, err := tx.StmtContext(ctx, s.turn.updateSession).ExecContext(ctx,
		t.Model, t.Model, title, ms(at), count, sum.PromptTokens, sum.CompletionTokens, sum.TotalTokens, t.SessionID); err != nil {
		return fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("session %s: %w", t.SessionID, err)
	}
	s.size.grew(written)
	return nil
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
