package sessions

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// counts reads how many messages wait for the index and how many the
// index holds, and checks the index against the messages when none is
// listed (FTS5's integrity-check with rank 1 compares it with its content
// table).
func counts(t *testing.T, db *sql.DB) (listed, indexed int) {
	t.Helper()
	if err := db.QueryRow(`SELECT count(*) FROM messages_unindexed`).Scan(&listed); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM messages_text_docsize`).Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	// With rank 1 it also wants every message of the content table
	// indexed: it can only be asked when none is listed.
	if listed == 0 {
		if _, err := db.Exec(`INSERT INTO messages_text (messages_text, rank) VALUES ('integrity-check', 1)`); err != nil {
			t.Errorf("the index does not match the messages: %v", err)
		}
	}
	return listed, indexed
}

func search(t *testing.T, s *Store, q string) []string {
	t.Helper()
	got, err := s.Search(context.Background(), SearchOptions{Query: q})
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	return ids(got)
}

// TestIndex: a turn's messages are found by a search from the moment the
// turn is committed, listed for the index and then indexed; deletes and
// updates keep the index true wherever the message is.
func TestIndex(t *testing.T) {
	s, path := openStore(t, nil)
	db := rawDB(t, path)
	ctx := context.Background()
	appendTurn(t, s, turn("a", "alpha beta gamma", "Grüße aus KÖLN", nil))
	appendTurn(t, s, turn("b", "delta epsilon", "another reply", nil))

	finds := func(when string) {
		t.Helper()
		for q, want := range map[string][]string{
			"ALPHA BETA":  {"a"},      // ASCII, any case
			"köln":        {"a"},      // beyond ASCII, any case (LIKE folds only ASCII)
			"grÜße":       {"a"},      //
			"reply":       {"b"},      //
			"epsilon":     {"b"},      //
			"100%":        nil,        // literal
			"nothing-so":  nil,        //
			"aus köln":    {"a"},      // across words
			`"quoted" ''`: nil,        // FTS5 syntax is text
			"ta ":         {"a", "b"}, // a word's end and a space: "beta gamma"
			"lta":         {"b"},      //
			"e":           {"a", "b"}, // short: the scan
		} {
			if got := search(t, s, q); !slices.Equal(sorted(got), want) {
				t.Errorf("%s: Search(%q) = %q, want %q", when, q, got, want)
			}
		}
	}

	if listed, indexed := counts(t, db); listed != 4 || indexed != 0 {
		t.Fatalf("after two turns: %d listed, %d indexed; want 4 listed, none indexed (the turn does not index)", listed, indexed)
	}
	finds("listed")
	if n, err := s.Index(ctx); err != nil || n != 4 {
		t.Fatalf("Index = %d, %v; want 4", n, err)
	}
	if listed, indexed := counts(t, db); listed != 0 || indexed != 4 {
		t.Fatalf("after Index: %d listed, %d indexed; want 0 and 4", listed, indexed)
	}
	finds("indexed")
	if n, err := s.Index(ctx); err != nil || n != 0 {
		t.Errorf("a second Index = %d, %v; want 0", n, err)
	}

	// A session with both kinds: the delete removes each from where it is.
	appendTurn(t, s, turn("a", "zeta listed", "eta listed", nil))
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if listed, indexed := counts(t, db); listed != 0 || indexed != 2 {
		t.Errorf("after deleting a: %d listed, %d indexed; want 0 and 2", listed, indexed)
	}
	if got := search(t, s, "listed"); len(got) > 0 {
		t.Errorf("a deleted session is found: %q", got)
	}

	// The highest rowids were a's: a new message takes one of them again
	// (no AUTOINCREMENT), and is listed, found and indexed as any other.
	appendTurn(t, s, turn("c", "theta reused", "iota reused", nil))
	if got := search(t, s, "reused"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("Search(reused) = %q, want [c]", got)
	}
	if _, err := s.Index(ctx); err != nil {
		t.Fatal(err)
	}
	if got := search(t, s, "reused"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("indexed: Search(reused) = %q, want [c]", got)
	}

	// An edit of a message's text, listed or indexed, is what is found
	// (replies: a title is the first user message's).
	appendTurn(t, s, turn("d", "kappa", "lambda", nil))
	mustExec(t, db,
		`UPDATE messages SET content = 'lambda edited' WHERE session_id = 'd' AND seq = 2`,
		`UPDATE messages SET content = 'iota edited' WHERE session_id = 'c' AND seq = 2`)
	counts(t, db)
	if _, err := s.Index(ctx); err != nil {
		t.Fatal(err)
	}
	if got := search(t, s, "edited"); !slices.Equal(sorted(got), []string{"c", "d"}) {
		t.Errorf("Search(edited) = %q, want [c d]", got)
	}
	if got := search(t, s, "iota reused"); len(got) > 0 {
		t.Errorf("an edited message's old text is found: %q", got)
	}
	counts(t, db)
}

func sorted(s []string) []string {
	if s == nil {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestIndexOffTheTurn: Run indexes what the turns listed, Close indexes
// the rest, and a store that nobody runs indexes when the list grows long.
func TestIndexOffTheTurn(t *testing.T) {
	t.Run("run", func(t *testing.T) {
		s, path := openStore(t, nil)
		db := rawDB(t, path)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		appendTurn(t, s, turn("a", "mu", "nu", nil))
		testenv.Eventually(t, 10*indexEvery, "Run to index the turn", func() bool {
			var n int
			db.QueryRow(`SELECT count(*) FROM messages_text_docsize`).Scan(&n)
			return n == 2
		})
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		appendTurn(t, s, turn("a", "xi", "omicron", nil))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if listed, indexed := counts(t, rawDB(t, path)); listed != 0 || indexed != 2 {
			t.Errorf("after Close: %d listed, %d indexed; want 0 and 2", listed, indexed)
		}
	})
	t.Run("long list", func(t *testing.T) {
		s, path := openStore(t, nil)
		db := rawDB(t, path)
		msgs := make([]Message, indexBatch)
		for i := range msgs {
			msgs[i] = Message{Role: RoleUser, Content: fmt.Sprintf("message %d", i)}
		}
		for i := 0; i < indexInline/indexBatch-1; i++ {
			appendTurn(t, s, Turn{SessionID: fmt.Sprint("s", i), Profile: "default", Messages: msgs})
		}
		if listed, _ := counts(t, db); listed != indexInline-indexBatch {
			t.Fatalf("%d listed, want %d", listed, indexInline-indexBatch)
		}
		appendTurn(t, s, Turn{SessionID: "last", Profile: "default", Messages: msgs})
		if listed, indexed := counts(t, db); listed != 0 || indexed != indexInline {
			t.Errorf("at %d listed, the turn indexed: %d listed, %d indexed; want 0 and %d", indexInline, listed, indexed, indexInline)
		}
	})
	t.Run("reopened", func(t *testing.T) {
		// What a writer left listed (killed before Close) is counted by
		// the next one, whose Run indexes it.
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		appendTurn(t, s, turn("a", "pi", "rho", nil))
		s.unindexed.Store(0) // as if it had been killed: Close leaves the list
		s.Close()
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.unindexed.Load(); got != 2 {
			t.Errorf("reopened: %d counted as listed, want 2", got)
		}
	})
}

// TestMigrateV2ToV3: a store of version 2 (every message indexed by its
// insert) becomes version 3 with nothing listed, found as before, and its
// new turns listed.
func TestMigrateV2ToV3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawDB(t, path)
	mustExec(t, db, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID))
	for _, stmts := range migrations[:2] {
		mustExec(t, db, stmts...)
	}
	mustExec(t, db, "PRAGMA user_version = 2",
		`INSERT INTO sessions (id, profile, started_at, last_activity_at, message_count) VALUES ('old', 'default', 1, 1, 2)`,
		`INSERT INTO messages (session_id, seq, role, content, created_at) VALUES ('old', 1, 'user', 'sigma from version two', 1), ('old', 2, 'assistant', 'tau', 1)`)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := pragma(t, db, "user_version"); v != "3" {
		t.Errorf("user_version = %s, want 3", v)
	}
	if listed, indexed := counts(t, db); listed != 0 || indexed != 2 {
		t.Errorf("migrated: %d listed, %d indexed; want 0 and 2", listed, indexed)
	}
	if got := search(t, s, "VERSION TWO"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("Search = %q, want [old]", got)
	}
	appendTurn(t, s, turn("new", "upsilon", "phi", nil))
	if listed, _ := counts(t, db); listed != 2 {
		t.Errorf("a turn after the migration: %d listed, want 2", listed)
	}
	if err := s.Delete(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	if listed, indexed := counts(t, db); listed != 2 || indexed != 0 {
		t.Errorf("after deleting the old session: %d listed, %d indexed; want 2 and 0", listed, indexed)
	}
	if !strings.Contains(strings.Join(search(t, s, "upsilon"), ","), "new") {
		t.Error("the new turn is not found")
	}
}
