package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ApplicationID is the PRAGMA application_id that marks a database as a
// hermes sessions store ("HRMS" in ASCII).
const ApplicationID = 0x48524d53

// SchemaVersion is the newest schema version (PRAGMA user_version) this
// binary knows; Open migrates older stores of ours up to it.
const SchemaVersion = len(migrations)

// The sentinel errors of the package; test them with errors.Is.
var (
	// ErrNotFound: no session or response has that id.
	ErrNotFound = errors.New("not found")
	// ErrDeleted: the response was deleted. It also matches ErrNotFound.
	ErrDeleted error = &childError{"deleted", ErrNotFound}
	// ErrForeignSchema: the file is not a hermes sessions store; it is
	// left as it is (see SchemaError).
	ErrForeignSchema = errors.New("foreign schema")
	// ErrNewerSchema: the store was written by a newer hermes.
	ErrNewerSchema = errors.New("newer schema")
	// ErrInvalid: an id, a role or a JSON field that cannot be stored.
	ErrInvalid = errors.New("invalid")
	// ErrReadOnly: a write on a store opened with OpenReadOnly.
	ErrReadOnly = errors.New("store is read-only")
	// ErrClosed: a call on a closed store.
	ErrClosed = errors.New("store is closed")
)

// childError is a sentinel that also matches its parent.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// SchemaError is the refusal of a file: Kind is ErrForeignSchema or
// ErrNewerSchema (errors.Is matches it); the message names the file, what
// was found in it, and what to do.
type SchemaError struct {
	// Path is the database file.
	Path string
	// Kind is ErrForeignSchema or ErrNewerSchema.
	Kind error
	// Found says what the file holds ("tables messages, sessions and no
	// hermes marker", "schema version 3", ...).
	Found string
	// Version is the file's user_version (for ErrNewerSchema).
	Version int
}

// Error names the file, what it holds and the fix.
func (e *SchemaError) Error() string {
	if e.Kind == ErrNewerSchema {
		return fmt.Sprintf("%s has sessions schema version %d, newer than the %d this hermes knows: it was written by a newer hermes, and a store is never downgraded; run that newer hermes, or move the file aside with mv %s %s.v%d",
			e.Path, e.Version, SchemaVersion, e.Path, e.Path, e.Version)
	}
	msg := fmt.Sprintf("%s is not a hermes sessions store (%s), and hermes never alters it: move it aside with mv %s %s.reference", e.Path, e.Found, e.Path, e.Path)
	var side []string
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(e.Path + suffix); err == nil {
			side = append(side, suffix)
		}
	}
	if len(side) > 0 {
		msg += " (and its " + strings.Join(side, " and ") + " files alike)"
	}
	return msg + ", and the gateway creates a new one"
}

// Unwrap returns Kind.
func (e *SchemaError) Unwrap() error { return e.Kind }

// migrations[v-1] takes a store from version v-1 to v. A migration only
// adds; it never rewrites what an older binary reads. It is never modified.
var migrations = [...][]string{schemaV1, schemaV2, schemaV3}

// schemaV1 creates the version 1 schema.
var schemaV1 = []string{
	`CREATE TABLE sessions (
		id                TEXT PRIMARY KEY,
		profile           TEXT NOT NULL,
		model             TEXT NOT NULL DEFAULT '',
		title             TEXT NOT NULL DEFAULT '',
		started_at        INTEGER NOT NULL,
		last_activity_at  INTEGER NOT NULL,
		ended_at          INTEGER,
		message_count     INTEGER NOT NULL DEFAULT 0,
		prompt_tokens     INTEGER NOT NULL DEFAULT 0,
		completion_tokens INTEGER NOT NULL DEFAULT 0,
		total_tokens      INTEGER NOT NULL DEFAULT 0
	) STRICT`,
	`CREATE INDEX sessions_by_activity ON sessions (last_activity_at)`,
	`CREATE TABLE messages (
		session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
		seq               INTEGER NOT NULL,
		role              TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
		content           TEXT NOT NULL,
		raw               TEXT,
		created_at        INTEGER NOT NULL,
		model             TEXT NOT NULL DEFAULT '',
		prompt_tokens     INTEGER,
		completion_tokens INTEGER,
		total_tokens      INTEGER,
		response_id       TEXT,
		PRIMARY KEY (session_id, seq)
	) STRICT`,
	`CREATE INDEX messages_by_response ON messages (response_id) WHERE response_id IS NOT NULL`,
	`CREATE TABLE responses (
		id                   TEXT PRIMARY KEY,
		session_id           TEXT NOT NULL,
		previous_response_id TEXT,
		conversation         TEXT,
		created_at           INTEGER NOT NULL,
		status               TEXT NOT NULL DEFAULT '',
		output_text          TEXT NOT NULL DEFAULT '',
		model                TEXT NOT NULL DEFAULT '',
		prompt_tokens        INTEGER,
		completion_tokens    INTEGER,
		total_tokens         INTEGER,
		deleted              INTEGER NOT NULL DEFAULT 0
	) STRICT`,
	`CREATE INDEX responses_by_session ON responses (session_id)`,
	`CREATE TABLE conversations (
		name       TEXT PRIMARY KEY,
		session_id TEXT NOT NULL,
		created_at INTEGER NOT NULL
	) STRICT`,
}

// schemaV2 indexes the text of the messages for Search (an FTS5 table of
// trigrams over messages.content, kept by triggers, filled from the rows
// already there) and the ended sessions for the size cap's pruning. It
// adds and changes no row of version 1.
//
// messages_text is an external-content table keyed by the messages' rowid:
// the store is never VACUUMed (that could renumber those rowids); were it
// ever, INSERT INTO messages_text(messages_text) VALUES ('rebuild') makes
// the index again.
var schemaV2 = []string{
	`CREATE VIRTUAL TABLE messages_text USING fts5(content, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram')`,
	`INSERT INTO messages_text (messages_text) VALUES ('rebuild')`,
	`CREATE TRIGGER messages_text_insert AFTER INSERT ON messages BEGIN
		INSERT INTO messages_text (rowid, content) VALUES (new.rowid, new.content);
	END`,
	`CREATE TRIGGER messages_text_delete AFTER DELETE ON messages BEGIN
		INSERT INTO messages_text (messages_text, rowid, content) VALUES ('delete', old.rowid, old.content);
	END`,
	`CREATE TRIGGER messages_text_update AFTER UPDATE OF content ON messages BEGIN
		INSERT INTO messages_text (messages_text, rowid, content) VALUES ('delete', old.rowid, old.content);
		INSERT INTO messages_text (rowid, content) VALUES (new.rowid, new.content);
	END`,
	`CREATE INDEX sessions_by_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL`,
	`CREATE INDEX sessions_by_recency ON sessions (last_activity_at DESC, started_at DESC, id)`,
}

// schemaV3 takes the trigram index off a turn's path. An FTS5 index
// writes a new segment at the end of every transaction that changes it,
// which was most of what a turn cost; now the insert trigger only lists
// the new message in messages_unindexed, and Index moves the listed
// messages into messages_text in batches, off the turn's path (Run, soon
// after the turns; Close; a turn that finds the list long). Search reads
// both, the index and the listed messages, so a message is found from
// the moment its turn is committed. The delete and update triggers keep
// whichever of the two holds the message. It adds and changes no row of
// version 2: every message already there is in the index.
var schemaV3 = []string{
	`CREATE TABLE messages_unindexed (id INTEGER PRIMARY KEY) STRICT`,
	`DROP TRIGGER messages_text_insert`,
	`CREATE TRIGGER messages_text_pending AFTER INSERT ON messages BEGIN
		INSERT INTO messages_unindexed (id) VALUES (new.rowid);
	END`,
	`DROP TRIGGER messages_text_delete`,
	`CREATE TRIGGER messages_text_delete AFTER DELETE ON messages BEGIN
		INSERT INTO messages_text (messages_text, rowid, content) SELECT 'delete', old.rowid, old.content
			WHERE NOT EXISTS (SELECT 1 FROM messages_unindexed WHERE id = old.rowid);
		DELETE FROM messages_unindexed WHERE id = old.rowid;
	END`,
	`DROP TRIGGER messages_text_update`,
	`CREATE TRIGGER messages_text_update AFTER UPDATE OF content ON messages
		WHEN NOT EXISTS (SELECT 1 FROM messages_unindexed WHERE id = old.rowid) BEGIN
		INSERT INTO messages_text (messages_text, rowid, content) VALUES ('delete', old.rowid, old.content);
		INSERT INTO messages_text (rowid, content) VALUES (new.rowid, new.content);
	END`,
	// sessions_by_recency (last_activity_at DESC, ...) answers every query
	// sessions_by_activity did; a turn no longer writes both.
	`DROP INDEX sessions_by_activity`,
}

// header is what decides whether a file is ours.
type header struct {
	appID   int32
	version int
	// objects are the tables, indexes, views and triggers in the file
	// (SQLite's own excepted), as "table name".
	objects []string
}

// queryRower is a *sql.DB, *sql.Conn or *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readHeader reads the marker, the version and the objects of a database.
// A file that is not an SQLite database gives errNotADatabase.
func readHeader(ctx context.Context, q queryRower) (header, error) {
	var h header
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&h.appID); err != nil {
		return h, sqliteErr(err)
	}
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&h.version); err != nil {
		return h, sqliteErr(err)
	}
	rows, err := q.QueryContext(ctx, `SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY type DESC, name`)
	if err != nil {
		return h, sqliteErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			return h, err
		}
		h.objects = append(h.objects, typ+" "+name)
	}
	return h, sqliteErr(rows.Err())
}

// errNotADatabase is SQLITE_NOTADB: the file is not an SQLite database.
var errNotADatabase = errors.New("not an SQLite database")

// sqliteErr turns SQLITE_NOTADB into errNotADatabase.
func sqliteErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("%w: %w", errNotADatabase, err)
	}
	return err
}

// verdict decides what to do with a file whose header is h: the version to
// migrate from (0 for an empty database, which becomes ours), or a
// *SchemaError.
func (h header) verdict(path string) (int, error) {
	switch {
	case h.appID == ApplicationID && h.version > SchemaVersion:
		return 0, &SchemaError{Path: path, Kind: ErrNewerSchema, Found: fmt.Sprintf("schema version %d", h.version), Version: h.version}
	case h.appID == ApplicationID:
		return h.version, nil
	case h.appID != 0:
		return 0, &SchemaError{Path: path, Kind: ErrForeignSchema, Found: fmt.Sprintf("its application_id %#x belongs to another program", uint32(h.appID))}
	case len(h.objects) > 0:
		return 0, &SchemaError{Path: path, Kind: ErrForeignSchema, Found: describeObjects(h.objects) + " and no hermes marker"}
	}
	return 0, nil
}

// describeObjects says "tables a, b and 2 more" of a header's objects.
func describeObjects(objects []string) string {
	var tables, others []string
	for _, o := range objects {
		if name, ok := strings.CutPrefix(o, "table "); ok {
			tables = append(tables, name)
		} else {
			others = append(others, o)
		}
	}
	names, what := tables, "tables"
	if len(tables) == 0 {
		names, what = others, "schema objects"
	}
	if len(names) == 1 {
		what = strings.TrimSuffix(what, "s")
	}
	const show = 5
	s := what + " " + strings.Join(names[:min(show, len(names))], ", ")
	if len(names) > show {
		s += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return "it holds " + s
}

// migrate brings the database of tx (BEGIN IMMEDIATE, so nobody else is
// migrating it) to SchemaVersion. It reads the header again inside the
// transaction: that read, not the read-only inspection before it, decides.
func migrate(ctx context.Context, tx *sql.Tx, path string) error {
	h, err := readHeader(ctx, tx)
	if err != nil {
		return err
	}
	from, err := h.verdict(path)
	if err != nil {
		return err
	}
	if from == SchemaVersion {
		return nil
	}
	if from == 0 {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
			return fmt.Errorf("marking %s: %w", path, err)
		}
	}
	for v := from + 1; v <= SchemaVersion; v++ {
		for _, stmt := range migrations[v-1] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrating %s to schema version %d: %w", path, v, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("migrating %s: %w", path, err)
	}
	return nil
}
