package sessions

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON of the sessions API is these types, for every reader: the
// gateway's /v1/sessions, the dashboard's /api/sessions and `hermes
// sessions ... --json`.

// The states of a session (Session.State).
const (
	StateActive = "active" // open, a turn within ActiveWindow
	StateIdle   = "idle"   // open, no turn for longer
	StateEnded  = "ended"  // ended (EndSession, idle timeout); resumable
)

// State is s's state at now: StateEnded, StateActive or StateIdle.
func (s Session) State(now time.Time) string {
	switch {
	case s.EndedAt != nil:
		return StateEnded
	case s.Active(now):
		return StateActive
	}
	return StateIdle
}

// Item is a session as the API shows it: the stored session, its state
// and whether it is active now.
type Item struct {
	Session
	State  string `json:"state"`
	Active bool   `json:"active"`
}

// NewItem is s as the API shows it at now.
func NewItem(s Session, now time.Time) Item {
	return Item{Session: s, State: s.State(now), Active: s.Active(now)}
}

// Page is one page of a list or a search, newest activity first.
type Page struct {
	Sessions []Item `json:"sessions"`
	// Query is the search (q), empty for a list.
	Query  string `json:"query,omitempty"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	// NextOffset is the offset of the next page; null on the last.
	NextOffset *int `json:"next_offset"`
}

// Detail is one session and its messages, in order.
type Detail struct {
	Session  Item      `json:"session"`
	Messages []Message `json:"messages"`
}

// Paging bounds.
const (
	DefaultPageSize = 20
	MaxPageSize     = 200
	// MaxQueryBytes is the longest search accepted.
	MaxQueryBytes = 1000
)

// PageOptions selects a page: a search when Query is set, else a list.
type PageOptions struct {
	Query  string
	Offset int
	// Limit is the page's size: 0 means DefaultPageSize, at most
	// MaxPageSize.
	Limit int
	// Now is the time the states are judged at; zero means the store's
	// clock.
	Now time.Time
	// Profile keeps the sessions recorded by that profile; "" keeps all.
	Profile string
}

// ListPage is one page of the sessions (Search's when o.Query is set), with
// the offset of the next page. A bad limit, offset or query is refused with
// ErrInvalid.
func (s *Store) ListPage(ctx context.Context, o PageOptions) (Page, error) {
	if o.Limit == 0 {
		o.Limit = DefaultPageSize
	}
	if o.Limit < 0 || o.Limit > MaxPageSize {
		return Page{}, fmt.Errorf("%w: a page holds 1 to %d sessions, not %d", ErrInvalid, MaxPageSize, o.Limit)
	}
	if o.Offset < 0 {
		return Page{}, fmt.Errorf("%w: an offset cannot be negative", ErrInvalid)
	}
	now := o.Now
	if now.IsZero() {
		now = s.now()
	}
	var list []Session
	var err error
	if o.Query != "" {
		list, err = s.Search(ctx, SearchOptions{Query: o.Query, Limit: o.Limit + 1, Offset: o.Offset, Profile: o.Profile})
	} else {
		list, err = s.List(ctx, ListOptions{Limit: o.Limit + 1, Offset: o.Offset, Profile: o.Profile})
	}
	if err != nil {
		return Page{}, err
	}
	p := Page{Sessions: []Item{}, Query: o.Query, Offset: o.Offset, Limit: o.Limit}
	if len(list) > o.Limit {
		list = list[:o.Limit]
		next := o.Offset + o.Limit
		p.NextOffset = &next
	}
	for _, sess := range list {
		p.Sessions = append(p.Sessions, NewItem(sess, now))
	}
	return p, nil
}

// Show is one session and its messages (Get) as the API shows them. An
// unknown id gives ErrNotFound.
func (s *Store) Show(ctx context.Context, id string) (Detail, error) {
	sess, msgs, err := s.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	if msgs == nil {
		msgs = []Message{}
	}
	return Detail{Session: NewItem(sess, s.now()), Messages: msgs}, nil
}

// SearchOptions is a search: Query matched literally (no wildcard, any
// quote or % or _ is itself), case-insensitively, in the sessions' titles
// and their messages' text.
type SearchOptions struct {
	Query string
	// Limit is the largest number of sessions returned; 0 or less means
	// all.
	Limit  int
	Offset int
	// Profile keeps the sessions recorded by that profile; "" keeps all.
	Profile string
}

// likeEscaper escapes a LIKE pattern's wildcards with a backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ftsPhrase is s as one FTS5 phrase: quoted, its quotes doubled.
func ftsPhrase(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Search returns the sessions whose title or any message's text holds
// o.Query, in List's order. Queries of 3 characters or more are answered
// by the trigram index of schema version 2 (messages_text); shorter ones
// scan the newest sessions' messages, then (when they do not fill the
// page) all the messages in one pass.
func (s *Store) Search(ctx context.Context, o SearchOptions) ([]Session, error) {
	q := o.Query
	switch {
	case strings.TrimSpace(q) == "":
		return nil, fmt.Errorf("%w: a search needs some text", ErrInvalid)
	case len(q) > MaxQueryBytes:
		return nil, fmt.Errorf("%w: a search is at most %d bytes; this one has %d", ErrInvalid, MaxQueryBytes, len(q))
	case !utf8.ValidString(q):
		return nil, fmt.Errorf("%w: a search must be UTF-8 text", ErrInvalid)
	case strings.ContainsRune(q, 0):
		return nil, fmt.Errorf("%w: a search cannot hold a NUL character", ErrInvalid)
	}
	db, err := s.reader(ctx)
	if db == nil || err != nil {
		return nil, err
	}
	like := "%" + likeEscaper.Replace(q) + "%"
	// A scan walks the sessions newest first, reading each one's messages,
	// and stops at the page's end: quick when many sessions match. The
	// index (3 characters or more) is quick when few do. A query of ASCII
	// (where LIKE and the index agree on case) first scans the newest
	// quickScan sessions, and asks the index only when they do not fill
	// the page.
	scan := `EXISTS (SELECT 1 FROM messages m WHERE m.session_id = sessions.id AND m.content LIKE ?2 ESCAPE '\')`
	// The index holds every message but those listed for it (schema
	// version 3): they are matched one by one, as the index would. The
	// list is walked and its messages looked up (CROSS JOIN keeps that
	// order): without it SQLite may read every message and look each up
	// in the list (1 s instead of 8 ms on the benchmark's store).
	indexed := `id IN (SELECT m.session_id FROM messages m WHERE m.rowid IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ?2)
		UNION ALL SELECT m.session_id FROM messages_unindexed p CROSS JOIN messages m ON m.rowid = p.id WHERE ` + containsFunc + `(m.content, ?6))`
	// A query too short for the index (under 3 characters) that the newest
	// sessions do not answer reads every message, once, in the table's
	// order: one pass lists the sessions that match, where the scan of
	// each session in turn reads its messages through the primary key's
	// index.
	pass := `id IN (SELECT m.session_id FROM messages m WHERE m.content LIKE ?2 ESCAPE '\')`
	short := utf8.RuneCountInString(q) < 3
	if o.Limit > 0 && (short || isASCII(q)) {
		first, err := s.searchWith(ctx, db, scan, fmt.Sprintf("(SELECT * FROM sessions ORDER BY last_activity_at DESC, started_at DESC, id LIMIT %d)", s.scanFirst()), like, like, o, q)
		if err != nil || len(first) == o.Limit {
			return first, err
		}
	}
	if short {
		return s.searchWith(ctx, db, pass, "", like, like, o, q)
	}
	return s.searchWith(ctx, db, indexed, "", like, ftsPhrase(q), o, q)
}

// quickScan is how many of the newest sessions a search scans before it
// asks the index.
const quickScan = 400

// scanFirst is quickScan, or the store's own (tests).
func (s *Store) scanFirst() int {
	if s.quickScan > 0 {
		return s.quickScan
	}
	return quickScan
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// searchWith runs a search whose message condition is inMessages (?2 is
// arg2, ?6 the query), over from (the sessions table when "").
func (s *Store) searchWith(ctx context.Context, db *sql.DB, inMessages, from, like string, arg2 any, o SearchOptions, q string) ([]Session, error) {
	if from == "" {
		from = "sessions"
	}
	limit := int64(o.Limit)
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM `+from+` AS sessions WHERE (title LIKE ?1 ESCAPE '\' OR `+inMessages+`)
		AND (?5 = '' OR profile = ?5)
		ORDER BY last_activity_at DESC, started_at DESC, id LIMIT ?3 OFFSET ?4`, like, arg2, limit, max(o.Offset, 0), o.Profile, q)
	if err != nil {
		return nil, fmt.Errorf("searching sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("searching sessions: %w", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("searching sessions: %w", err)
	}
	return out, nil
}

// Last is the session with the most recent activity (hermes chat --resume
// without an id); ErrNotFound when there is none.
func (s *Store) Last(ctx context.Context) (Session, error) {
	list, err := s.List(ctx, ListOptions{Limit: 1})
	if err != nil {
		return Session{}, err
	}
	if len(list) == 0 {
		return Session{}, fmt.Errorf("no session yet: %w", ErrNotFound)
	}
	return list[0], nil
}
