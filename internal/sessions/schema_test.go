package sessions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSchemaVersionMatchesMigrations(t *testing.T) {
	if got, want := SchemaVersion, len(migrations); got != want {
		t.Errorf("SchemaVersion = %d, want %d migrations", got, want)
	}
}

// Open makes a store of every empty start: no file, an empty file, an
// SQLite file without tables, and one of ours at version 0.
func TestMigrateFromEmpty(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		mode    os.FileMode // of state.db afterwards
	}{
		{"missing file", func(*testing.T, string) {}, 0o600},
		{"empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o640); err != nil {
				t.Fatal(err)
			}
		}, 0o640},
		{"sqlite without tables", func(t *testing.T, path string) {
			db := rawDB(t, path)
			mustExec(t, db, "PRAGMA page_size = 8192", "VACUUM")
			db.Close()
		}, 0o644},
		{"ours at version 0", func(t *testing.T, path string) {
			db := rawDB(t, path)
			mustExec(t, db, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID))
			db.Close()
		}, 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			tt.prepare(t, path)
			if tt.mode != 0o600 {
				os.Chmod(path, tt.mode) // the umask may have narrowed it
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w := s.w
			checks := []struct{ pragma, want string }{
				{"application_id", fmt.Sprint(ApplicationID)},
				{"user_version", fmt.Sprint(SchemaVersion)},
				{"journal_mode", "wal"},
				{"foreign_keys", "1"},
				{"synchronous", "1"}, // NORMAL
				{"busy_timeout", "5000"},
				{"journal_size_limit", fmt.Sprint(walSizeLimit)},
			}
			for _, c := range checks {
				if got := pragma(t, w, c.pragma); got != c.want {
					t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
				}
			}
			got := tableNames(t, s)
			want := []string{"conversations", "messages", "messages_text", "messages_text_config", "messages_text_data", "messages_text_docsize", "messages_text_idx", "messages_unindexed", "responses", "sessions"}
			if !slices.Equal(got, want) {
				t.Errorf("tables = %q, want %q", got, want)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != tt.mode {
				t.Errorf("state.db mode = %v, want %v", got, tt.mode)
			}
		})
	}
}

func tableNames(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.w.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	return names
}

// schemaSQL is the whole schema text of a store.
func schemaSQL(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.w.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sql string
		rows.Scan(&typ, &name, &sql)
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, sql)
	}
	return b.String()
}

func TestReopenIsIdempotent(t *testing.T) {
	s, path := openStore(t, nil)
	appendTurn(t, s, turn("sess_a", "hello", "hi", nil))
	first := schemaSQL(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if got := schemaSQL(t, s); got != first {
			t.Errorf("reopen %d changed the schema:\n%s\nwant\n%s", i, got, first)
		}
		if got := pragma(t, s.w, "user_version"); got != fmt.Sprint(SchemaVersion) {
			t.Errorf("reopen %d: user_version = %s", i, got)
		}
		sess, msgs, err := s.Get(context.Background(), "sess_a")
		if err != nil || sess.MessageCount != 2 || len(msgs) != 2 {
			t.Errorf("reopen %d: Get = %+v, %d messages, %v; want the session with 2 messages", i, sess, len(msgs), err)
		}
		s.Close()
	}
}

// The foreign files: each is refused by Open and OpenReadOnly, with a
// message naming the file and the fix, and stays byte for byte as it was.
func TestForeignSchemaRefused(t *testing.T) {
	reference := []string{
		// The reference system's own shapes (invented for the test).
		`CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT NOT NULL, user_id TEXT, model TEXT,
			started_at REAL NOT NULL, ended_at REAL, end_reason TEXT, message_count INTEGER DEFAULT 0,
			input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0, title TEXT)`,
		`CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL REFERENCES sessions(id),
			role TEXT NOT NULL, content TEXT, tool_calls TEXT, timestamp REAL NOT NULL, token_count INTEGER)`,
		`CREATE INDEX idx_messages_session ON messages(session_id, timestamp)`,
		`INSERT INTO sessions (id, source, model, started_at, message_count) VALUES ('20250101_120000_abcd', 'cli', 'hermes-3', 1735732800.5, 2)`,
		`INSERT INTO messages (session_id, role, content, timestamp) VALUES ('20250101_120000_abcd', 'user', 'hello', 1735732800.5)`,
		`INSERT INTO messages (session_id, role, content, timestamp) VALUES ('20250101_120000_abcd', 'assistant', 'hi', 1735732801.0)`,
	}
	tests := []struct {
		name    string
		build   func(t *testing.T, path string)
		found   string
		walSide bool // SQLite may leave an empty -wal and a -shm beside it
	}{
		{"reference tables", func(t *testing.T, path string) {
			mustExec(t, rawDB(t, path), reference...)
		}, "it holds tables messages, sessions and no hermes marker", false},
		{"reference tables in WAL mode", func(t *testing.T, path string) {
			mustExec(t, rawDB(t, path), append([]string{"PRAGMA journal_mode = WAL"}, reference...)...)
		}, "it holds tables messages, sessions and no hermes marker", true},
		{"reference tables with a live WAL", func(t *testing.T, path string) {
			// The reference was killed: its last transactions are in the WAL.
			db := rawDB(t, path)
			db.SetMaxOpenConns(1)
			mustExec(t, db, append([]string{"PRAGMA journal_mode = WAL", "PRAGMA wal_autocheckpoint = 0"}, reference...)...)
			copyFile(t, path, path+".keep")
			copyFile(t, path+"-wal", path+".keep-wal")
			db.Close()
			os.Remove(path + "-shm")
			os.Rename(path+".keep", path)
			os.Rename(path+".keep-wal", path+"-wal")
		}, "it holds tables messages, sessions and no hermes marker", true},
		{"a table foo", func(t *testing.T, path string) {
			mustExec(t, rawDB(t, path), "CREATE TABLE foo (x)", "INSERT INTO foo VALUES (randomblob(100))")
		}, "it holds table foo and no hermes marker", false},
		{"a view only", func(t *testing.T, path string) {
			mustExec(t, rawDB(t, path), "CREATE VIEW v AS SELECT 1")
		}, "it holds schema object view v and no hermes marker", false},
		{"another application's id", func(t *testing.T, path string) {
			mustExec(t, rawDB(t, path), "PRAGMA application_id = 1234", "PRAGMA user_version = 1")
		}, "its application_id 0x4d2 belongs to another program", false},
		{"our table names without our marker", func(t *testing.T, path string) {
			mustExec(t, rawDB(t, path), schemaV1...)
		}, "it holds tables conversations, messages, responses, sessions and no hermes marker", false},
		{"not a database", func(t *testing.T, path string) {
			b := make([]byte, 8192)
			for i := range b {
				b[i] = byte(i*7 + i/13)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "it is not an SQLite database", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.db")
			tt.build(t, path)
			before := snapshot(t, dir)
			for _, open := range []struct {
				name string
				f    func() (*Store, error)
			}{
				{"Open", func() (*Store, error) { return Open(path, Options{}) }},
				{"OpenReadOnly", func() (*Store, error) { return OpenReadOnly(path) }},
			} {
				s, err := open.f()
				if err == nil {
					s.Close()
					t.Fatalf("%s accepted a foreign file", open.name)
				}
				if !errors.Is(err, ErrForeignSchema) {
					t.Fatalf("%s: %v, want ErrForeignSchema", open.name, err)
				}
				var se *SchemaError
				if !errors.As(err, &se) || se.Found != tt.found {
					t.Errorf("%s: found %q, want %q", open.name, se.Found, tt.found)
				}
				msg := err.Error()
				for _, want := range []string{path + " is not a hermes sessions store", "mv " + path + " " + path + ".reference", "never alters it"} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s: message %q lacks %q", open.name, msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("%s: message spans lines: %q", open.name, msg)
				}
			}
			after := snapshot(t, dir)
			if after["state.db"] != before["state.db"] {
				t.Error("state.db changed")
			}
			if before["state.db-wal"] != "" && after["state.db-wal"] != before["state.db-wal"] {
				t.Error("state.db-wal changed")
			}
			for name := range after {
				_, existed := before[name]
				if !existed && !(tt.walSide && (name == "state.db-shm" || name == "state.db-wal")) {
					t.Errorf("new file %s beside the foreign database", name)
				}
			}
			if tt.walSide {
				if h, ok := after["state.db-wal"]; ok && before["state.db-wal"] == "" && h != emptySHA {
					t.Error("a new state.db-wal is not empty")
				}
			} else if !maps.Equal(before, after) {
				t.Errorf("directory changed: %v → %v", before, after)
			}
		})
	}
}

// emptySHA is the SHA-256 of nothing.
const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A live WAL from a killed foreign writer is named in the fix.
func TestForeignMessageNamesSideFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	mustExec(t, rawDB(t, path), "CREATE TABLE foo (x)")
	os.WriteFile(path+"-wal", nil, 0o600)
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "(and its -wal files alike)") {
		t.Errorf("Open: %v; want the -wal file named", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	s, path := openStore(t, nil)
	appendTurn(t, s, turn("sess_a", "hello", "hi", nil))
	s.Close()
	db := rawDB(t, path)
	mustExec(t, db, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1))
	db.Close()
	dir := filepath.Dir(path)
	before := snapshot(t, dir)
	for _, open := range []func() (*Store, error){
		func() (*Store, error) { return Open(path, Options{}) },
		func() (*Store, error) { return OpenReadOnly(path) },
	} {
		s, err := open()
		if err == nil {
			s.Close()
			t.Fatal("a newer schema was accepted")
		}
		if !errors.Is(err, ErrNewerSchema) || errors.Is(err, ErrForeignSchema) {
			t.Fatalf("%v, want ErrNewerSchema only", err)
		}
		want := fmt.Sprintf("%s has sessions schema version %d, newer than the %d this hermes knows", path, SchemaVersion+1, SchemaVersion)
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "never downgraded") {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if after := snapshot(t, dir); after["state.db"] != before["state.db"] {
		t.Error("state.db changed")
	}
}

func TestDescribeObjects(t *testing.T) {
	tests := []struct {
		objects []string
		want    string
	}{
		{[]string{"table foo"}, "it holds table foo"},
		{[]string{"table a", "table b", "index i"}, "it holds tables a, b"},
		{[]string{"table a", "table b", "table c", "table d", "table e", "table f", "table g"}, "it holds tables a, b, c, d, e and 2 more"},
		{[]string{"trigger t", "view v"}, "it holds schema objects trigger t, view v"},
	}
	for _, tt := range tests {
		if got := describeObjects(tt.objects); got != tt.want {
			t.Errorf("describeObjects(%q) = %q, want %q", tt.objects, got, tt.want)
		}
	}
}

// A reader never creates, migrates or changes a file.
func TestReadOnlyStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a missing file: %v", err)
	}
	defer ro.Close()
	if list, err := ro.List(ctx, ListOptions{}); err != nil || len(list) != 0 {
		t.Errorf("List of a missing file = %v, %v; want nothing", list, err)
	}
	if _, _, err := ro.Get(ctx, "sess_a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing file: %v, want ErrNotFound", err)
	}
	if n, err := ro.ActiveSessions(ctx, t0); n != 0 || err != nil {
		t.Errorf("ActiveSessions of a missing file = %d, %v", n, err)
	}
	if _, err := ro.GetResponse(ctx, "default", "resp_a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetResponse of a missing file: %v, want ErrNotFound", err)
	}
	if _, err := ro.ResponseChain(ctx, "default", "resp_a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResponseChain of a missing file: %v, want ErrNotFound", err)
	}
	if n, err := CountActive(ctx, path, t0); n != 0 || err != nil {
		t.Errorf("CountActive of a missing file = %d, %v", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a reader created the file: %v", err)
	}
	writes := map[string]error{
		"AppendTurn":          ro.AppendTurn(ctx, turn("sess_a", "x", "y", nil)),
		"EndSession":          ro.EndSession(ctx, "sess_a"),
		"PutResponse":         ro.PutResponse(ctx, Response{ID: "resp_a", SessionID: "sess_a"}),
		"DeleteResponse":      ro.DeleteResponse(ctx, "default", "resp_a"),
		"ConversationSession": func() error { _, err := ro.ConversationSession(ctx, "default", "c"); return err }(),
	}
	for name, err := range writes {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only store: %v, want ErrReadOnly", name, err)
		}
	}

	// An empty file (the gateway is creating it) stays empty.
	os.WriteFile(path, nil, 0o600)
	if list, err := ro.List(ctx, ListOptions{}); err != nil || len(list) != 0 {
		t.Errorf("List of an empty file = %v, %v; want nothing", list, err)
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Errorf("a reader wrote %d bytes into an empty file", st.Size())
	}

	// Once the gateway has written, the same reader sees it.
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	appendTurn(t, w, turn("sess_a", "hello", "hi", nil))
	list, err := ro.List(ctx, ListOptions{})
	if err != nil || len(list) != 1 || list[0].ID != "sess_a" {
		t.Errorf("List after the gateway wrote = %v, %v; want sess_a", list, err)
	}
	if n, err := CountActive(ctx, path, list[0].LastActivityAt); n != 1 || err != nil {
		t.Errorf("CountActive = %d, %v; want 1", n, err)
	}

	ro.Close()
	if _, err := ro.List(ctx, ListOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: %v, want ErrClosed", err)
	}
	w.Close()
	if err := w.AppendTurn(ctx, turn("sess_a", "x", "y", nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendTurn after Close: %v, want ErrClosed", err)
	}
}

// A path that needs escaping in a file: URI works for both handles.
func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with #odd %20 chars&mode=rw")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendTurn(t, s, turn("sess_a", "hello", "hi", nil))
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if list, err := ro.List(context.Background(), ListOptions{}); err != nil || len(list) != 1 {
		t.Errorf("List = %v, %v; want one session", list, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, "state.db") || len(names) > 3 {
		t.Errorf("files in the directory: %q", names)
	}
}
