package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const sessionColumns = `id, profile, model, title, started_at, last_activity_at, ended_at, message_count, prompt_tokens, completion_tokens, total_tokens`

// scanSession reads a row of sessionColumns.
func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var started, last int64
	var ended sql.NullInt64
	if err := row.Scan(&s.ID, &s.Profile, &s.Model, &s.Title, &started, &last, &ended, &s.MessageCount, &s.PromptTokens, &s.CompletionTokens, &s.TotalTokens); err != nil {
		return s, err
	}
	s.StartedAt, s.LastActivityAt = fromMS(started), fromMS(last)
	if ended.Valid {
		t := fromMS(ended.Int64)
		s.EndedAt = &t
	}
	return s, nil
}

// List returns sessions, the most recent activity first (ties: the most
// recently started first, then by id).
func (s *Store) List(ctx context.Context, o ListOptions) ([]Session, error) {
	db, err := s.reader(ctx)
	if db == nil || err != nil {
		return nil, err
	}
	q := `SELECT ` + sessionColumns + ` FROM sessions WHERE true`
	var args []any
	if o.ActiveOnly {
		now := o.Now
		if now.IsZero() {
			now = s.now()
		}
		q += ` AND ended_at IS NULL AND last_activity_at >= ?`
		args = append(args, ms(now.Add(-ActiveWindow)))
	}
	if o.Profile != "" {
		q += ` AND profile = ?`
		args = append(args, o.Profile)
	}
	limit := int64(o.Limit)
	if limit <= 0 {
		limit = -1
	}
	q += ` ORDER BY last_activity_at DESC, started_at DESC, id LIMIT ? OFFSET ?`
	args = append(args, limit, max(o.Offset, 0))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	return out, nil
}

const messageColumns = `session_id, seq, role, content, raw, created_at, model, prompt_tokens, completion_tokens, total_tokens, response_id`

// scanMessages reads rows of messageColumns.
func scanMessages(rows *sql.Rows) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var raw, resp sql.NullString
		var created int64
		var p, c, t sql.NullInt64
		if err := rows.Scan(&m.SessionID, &m.Seq, &m.Role, &m.Content, &raw, &created, &m.Model, &p, &c, &t, &resp); err != nil {
			return nil, err
		}
		if raw.Valid {
			m.Raw = []byte(raw.String)
		}
		m.CreatedAt = fromMS(created)
		m.Usage = scanUsage(p, c, t)
		m.ResponseID = resp.String
		out = append(out, m)
	}
	return out, rows.Err()
}

// Get returns a session and its messages in order (one snapshot: the count
// and the messages agree). An unknown id gives ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Session, []Message, error) {
	db, err := s.reader(ctx)
	if err != nil {
		return Session{}, nil, err
	}
	if db == nil {
		return Session{}, nil, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Session{}, nil, fmt.Errorf("session %s: %w", id, err)
	}
	defer tx.Rollback()
	sess, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, nil, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, nil, fmt.Errorf("session %s: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE session_id = ? ORDER BY seq`, id)
	if err != nil {
		return Session{}, nil, fmt.Errorf("session %s: %w", id, err)
	}
	msgs, err := scanMessages(rows)
	if err != nil {
		return Session{}, nil, fmt.Errorf("session %s: %w", id, err)
	}
	return sess, msgs, nil
}

// ActiveSessions counts the sessions active at now: not ended, last
// activity no more than ActiveWindow before now (/api/status
// active_sessions; the dashboard sums it over the profiles).
func (s *Store) ActiveSessions(ctx context.Context, now time.Time) (int, error) {
	db, err := s.reader(ctx)
	if db == nil || err != nil {
		return 0, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE ended_at IS NULL AND last_activity_at >= ?`, ms(now.Add(-ActiveWindow))).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting active sessions: %w", err)
	}
	return n, nil
}

// CountActive is ActiveSessions on the store at path, opened read-only for
// the call: 0 when the file does not exist.
func CountActive(ctx context.Context, path string, now time.Time) (int, error) {
	s, err := OpenReadOnly(path)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return s.ActiveSessions(ctx, now)
}
