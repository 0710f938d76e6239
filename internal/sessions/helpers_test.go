package sessions

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// t0 is the time the tests' clocks start at.
var t0 = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a writer on a fresh state.db in a temporary directory.
func openStore(t testing.TB, clk *clock) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	opts := Options{}
	if clk != nil {
		opts.Clock = clk.Now
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// rawDB opens path with the driver and no settings, for building and
// inspecting files behind the store's back.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// snapshot maps every file of dir to the SHA-256 of its content.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:])
	}
	return out
}

// pragma reads one integer or text PRAGMA through db.
func pragma(t testing.TB, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// turn is a user message and the assistant's reply.
func turn(id, user, reply string, usage *Usage) Turn {
	return Turn{
		SessionID: id, Profile: "default", Model: "test-model", Usage: usage,
		Messages: []Message{{Role: RoleUser, Content: user}, {Role: RoleAssistant, Content: reply}},
	}
}

func appendTurn(t testing.TB, s *Store, tr Turn) {
	t.Helper()
	if err := s.AppendTurn(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
}
