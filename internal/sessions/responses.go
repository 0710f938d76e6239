package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// checkResponse validates a response before it is written.
func checkResponse(r Response) error {
	if err := validID("response id", r.ID); err != nil {
		return err
	}
	if err := ValidSessionID(r.SessionID); err != nil {
		return err
	}
	if r.PreviousResponseID != "" {
		if err := validID("previous response id", r.PreviousResponseID); err != nil {
			return err
		}
	}
	if r.Conversation != "" {
		if err := validID("conversation name", r.Conversation); err != nil {
			return err
		}
	}
	return nil
}

// PutResponse records a response, or updates it (status, output, usage) when
// its id is known; CreatedAt keeps its first value, and a deleted response
// stays deleted. The session need not exist yet: the gateway may record an
// in-progress response before the turn that completes it; until it does,
// the response is no profile's (GetResponse and the others do not find it).
func (s *Store) PutResponse(ctx context.Context, r Response) error {
	if err := checkResponse(r); err != nil {
		return err
	}
	w, err := s.writer()
	if err != nil {
		return err
	}
	created := r.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	p, c, t := usageArgs(r.Usage)
	_, err = w.ExecContext(ctx, `INSERT INTO responses (id, session_id, previous_response_id, conversation, created_at, status, output_text, model, prompt_tokens, completion_tokens, total_tokens, deleted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			session_id = excluded.session_id,
			previous_response_id = excluded.previous_response_id,
			conversation = excluded.conversation,
			status = excluded.status,
			output_text = excluded.output_text,
			model = excluded.model,
			prompt_tokens = excluded.prompt_tokens,
			completion_tokens = excluded.completion_tokens,
			total_tokens = excluded.total_tokens,
			deleted = max(deleted, excluded.deleted)`,
		r.ID, r.SessionID, nullString(r.PreviousResponseID), nullString(r.Conversation), ms(created), r.Status, r.OutputText, r.Model, p, c, t, r.Deleted)
	if err != nil {
		return fmt.Errorf("response %s: %w", r.ID, err)
	}
	return nil
}

const responseColumns = `id, session_id, previous_response_id, conversation, created_at, status, output_text, model, prompt_tokens, completion_tokens, total_tokens, deleted`

// getResponse reads a response of profile through q.
func getResponse(ctx context.Context, q queryRower, profile, id string) (Response, error) {
	var r Response
	var prev, conv sql.NullString
	var created int64
	var p, c, t sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT `+responseColumns+` FROM responses WHERE id = ? AND `+ofProfile, id, profile).
		Scan(&r.ID, &r.SessionID, &prev, &conv, &created, &r.Status, &r.OutputText, &r.Model, &p, &c, &t, &r.Deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return Response{}, fmt.Errorf("response %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Response{}, fmt.Errorf("response %s: %w", id, err)
	}
	r.PreviousResponseID, r.Conversation = prev.String, conv.String
	r.CreatedAt = fromMS(created)
	r.Usage = scanUsage(p, c, t)
	return r, nil
}

// GetResponse returns a response of profile. An unknown id, or another
// profile's response, gives ErrNotFound; a deleted response gives
// ErrDeleted (which matches ErrNotFound, so a deleted response reads as
// gone) together with the response itself, Deleted set, for a caller that
// wants to tell the two apart.
func (s *Store) GetResponse(ctx context.Context, profile, id string) (Response, error) {
	if err := needProfile(profile); err != nil {
		return Response{}, err
	}
	db, err := s.reader(ctx)
	if err != nil {
		return Response{}, err
	}
	if db == nil {
		return Response{}, fmt.Errorf("response %s: %w", id, ErrNotFound)
	}
	r, err := getResponse(ctx, db, profile, id)
	if err == nil && r.Deleted {
		err = fmt.Errorf("response %s: %w", id, ErrDeleted)
	}
	return r, err
}

// DeleteResponse marks a response of profile deleted: it can no longer be
// continued nor read (ResponseChain and GetResponse give ErrDeleted); the
// messages of its turn stay in its session. An unknown id, or another
// profile's response (left as it is), gives ErrNotFound, an already
// deleted one ErrDeleted.
func (s *Store) DeleteResponse(ctx context.Context, profile, id string) error {
	if err := needProfile(profile); err != nil {
		return err
	}
	w, err := s.writer()
	if err != nil {
		return err
	}
	res, err := w.ExecContext(ctx, `UPDATE responses SET deleted = 1 WHERE id = ? AND deleted = 0 AND `+ofProfile, id, profile)
	if err != nil {
		return fmt.Errorf("deleting response %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	if _, err := getResponse(ctx, w, profile, id); err != nil {
		return err
	}
	return fmt.Errorf("response %s: %w", id, ErrDeleted)
}

// ResponseChain returns the conversation that continuing response id
// (previous_response_id = id) carries on: the messages of its session up to
// and including that response's own, in order, without the messages of
// responses that branched off the chain (two continuations of the same
// response are two branches). Messages without a response id (a
// chat-completions turn in the same session) are part of every chain that
// follows them. The response is one of profile's. A deleted response
// gives ErrDeleted, an unknown one (or another profile's) ErrNotFound.
func (s *Store) ResponseChain(ctx context.Context, profile, id string) ([]Message, error) {
	if err := needProfile(profile); err != nil {
		return nil, err
	}
	db, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("response %s: %w", id, ErrNotFound)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	defer tx.Rollback()
	r, err := getResponse(ctx, tx, profile, id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("response %s: %w", id, ErrDeleted)
	}
	return chainMessages(ctx, tx, r)
}

// chainMessages is ResponseChain of r, read through tx.
func chainMessages(ctx context.Context, tx *sql.Tx, r Response) ([]Message, error) {
	id := r.ID
	// The chain: id and its ancestors (UNION drops repeated rows, so a
	// cycle ends the walk).
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE chain (id, prev) AS (
			SELECT id, previous_response_id FROM responses WHERE id = ?
			UNION
			SELECT r.id, r.previous_response_id FROM responses r JOIN chain c ON r.id = c.prev
		)
		SELECT id FROM chain`, id)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	inChain := map[string]bool{}
	for rows.Next() {
		var rid string
		if err := rows.Scan(&rid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("response %s: %w", id, err)
		}
		inChain[rid] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE session_id = ? ORDER BY seq`, r.SessionID)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	all, err := scanMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	last := -1
	for i, m := range all {
		if inChain[m.ResponseID] {
			last = i
		}
	}
	var out []Message
	for _, m := range all[:last+1] {
		if m.ResponseID == "" || inChain[m.ResponseID] {
			out = append(out, m)
		}
	}
	return out, nil
}

// ResponseInput returns the input of response id as the Responses API's
// input items list it: what the response continued (the chain of its
// previous_response_id, or, for a response of a named conversation, every
// earlier message of the conversation's session) and then its own input,
// in order, without its output (its last message). The response is one of
// profile's. A deleted response gives ErrDeleted, an unknown one (or
// another profile's) ErrNotFound.
func (s *Store) ResponseInput(ctx context.Context, profile, id string) ([]Message, error) {
	if err := needProfile(profile); err != nil {
		return nil, err
	}
	db, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("response %s: %w", id, ErrNotFound)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	defer tx.Rollback()
	r, err := getResponse(ctx, tx, profile, id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("response %s: %w", id, ErrDeleted)
	}
	var msgs []Message
	if r.Conversation == "" {
		msgs, err = chainMessages(ctx, tx, r)
	} else {
		var rows *sql.Rows
		rows, err = tx.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE session_id = ? AND seq <= (SELECT max(seq) FROM messages WHERE session_id = ? AND response_id = ?) ORDER BY seq`, r.SessionID, r.SessionID, id)
		if err == nil {
			msgs, err = scanMessages(rows)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", id, err)
	}
	if n := len(msgs); n > 0 && msgs[n-1].ResponseID == id {
		msgs = msgs[:n-1]
	}
	return msgs, nil
}

// FindConversation returns the session of a named conversation of
// profile without creating one: ErrNotFound when the name was never used
// (a request with store: false reads a conversation, it does not start
// one), ErrOtherProfile (which matches ErrNotFound) when its session was
// recorded by another profile. A conversation whose session is not
// recorded yet (its first turn failed) is anybody's.
func (s *Store) FindConversation(ctx context.Context, profile, name string) (string, error) {
	if err := needProfile(profile); err != nil {
		return "", err
	}
	db, err := s.reader(ctx)
	if err != nil {
		return "", err
	}
	if db == nil {
		return "", fmt.Errorf("conversation %s: %w", name, ErrNotFound)
	}
	var id string
	var owner sql.NullString
	err = db.QueryRowContext(ctx, `SELECT c.session_id, s.profile FROM conversations c LEFT JOIN sessions s ON s.id = c.session_id WHERE c.name = ?`, name).Scan(&id, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("conversation %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("conversation %s: %w", name, err)
	}
	if owner.Valid && owner.String != profile {
		return "", fmt.Errorf("conversation %s: %w", name, ErrOtherProfile)
	}
	return id, nil
}

// ConversationSession returns the session of a named conversation of
// profile (the Responses API's conversation parameter), choosing a new
// session id on the name's first use; the session itself is created by its
// first turn. Names follow the rule of ValidSessionID, and are the store's,
// not a profile's: a name whose session another profile recorded gives
// ErrOtherProfile (which matches ErrNotFound), and stays that profile's.
func (s *Store) ConversationSession(ctx context.Context, profile, name string) (string, error) {
	if err := needProfile(profile); err != nil {
		return "", err
	}
	if err := validID("conversation name", name); err != nil {
		return "", err
	}
	w, err := s.writer()
	if err != nil {
		return "", err
	}
	var id string
	err = w.QueryRowContext(ctx, `INSERT INTO conversations (name, session_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET name = name
		RETURNING session_id`, name, NewSessionID(), ms(s.now())).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("conversation %s: %w", name, err)
	}
	if err := checkSession(ctx, w, profile, id); errors.Is(err, ErrOtherProfile) {
		return "", fmt.Errorf("conversation %s: %w", name, ErrOtherProfile)
	} else if err != nil {
		return "", fmt.Errorf("conversation %s: %w", name, err)
	}
	return id, nil
}
