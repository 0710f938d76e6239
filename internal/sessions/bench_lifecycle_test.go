package sessions

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The store of BenchmarkSessionsAPI: 10,000 sessions of 100 messages each.
const (
	benchSessions    = 10_000
	benchPerSession  = 100
	benchNeedleEvery = 500 // one session in 500 holds a rare word
	// benchBuild names the way benchStore builds its store (2: its
	// messages indexed, not listed for Index).
	benchBuild = 2
)

// benchWords are the words of the messages.
var benchWords = strings.Fields(`the of and to in is you that it he was for on are as with his they at be this
have from or one had by word but not what all were we when your can said there use an each which she do how
their if will up other about out many then them these so some her would make like him into time has look two
more write go see number no way could people my than first water been call who oil its now find long down day
did get come made may part server deploy config agent model token stream session kubernetes docker gateway`)

// benchStore is the benchmark's store, built once into a file kept in the
// temporary directory (HERMES_BENCH_STORE names another), in one
// transaction; later runs reuse it.
func benchStore(b *testing.B) string {
	b.Helper()
	path := os.Getenv("HERMES_BENCH_STORE")
	if path == "" {
		// Named by the schema and the build: a change of either builds a
		// new store.
		h := sha256.Sum256(fmt.Append(nil, migrations, benchBuild))
		path = filepath.Join(os.TempDir(), fmt.Sprintf("hermes-bench-sessions-%x-%dx%d.db", h[:6], benchSessions, benchPerSession))
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	tmp := path + ".building"
	os.Remove(tmp)
	s, err := Open(tmp, Options{})
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	db := rawDB(b, tmp)
	mustExec(b, db, "PRAGMA journal_mode = WAL", "PRAGMA synchronous = OFF")
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	insS, _ := tx.Prepare(`INSERT INTO sessions (id, profile, model, title, started_at, last_activity_at, ended_at, message_count) VALUES (?, 'default', 'gpt-4o', ?, ?, ?, ?, ?)`)
	insM, _ := tx.Prepare(`INSERT INTO messages (session_id, seq, role, content, created_at, model) VALUES (?, ?, ?, ?, ?, ?)`)
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	text := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = benchWords[rng.IntN(len(benchWords))]
		}
		return strings.Join(w, " ")
	}
	for i := range benchSessions {
		id := fmt.Sprintf("sess_bench%06d", i)
		at := base.Add(time.Duration(i) * time.Hour)
		var ended any
		if i%3 != 0 {
			ended = ms(at.Add(benchPerSession * time.Minute))
		}
		if _, err := insS.Exec(id, text(6), ms(at), ms(at.Add(benchPerSession*time.Minute)), ended, benchPerSession); err != nil {
			b.Fatal(err)
		}
		for j := range benchPerSession {
			role, model := RoleUser, ""
			if j%2 == 1 {
				role, model = RoleAssistant, "gpt-4o"
			}
			content := text(10 + rng.IntN(30))
			if i%benchNeedleEvery == 0 && j == 50 {
				content += " the quokka-needle shows here"
			}
			if _, err := insM.Exec(id, j+1, role, content, ms(at.Add(time.Duration(j)*time.Minute)), model); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The messages are in the trigram index, as Index leaves them (schema
	// version 3 lists every inserted message for it).
	for _, q := range []string{
		`INSERT INTO messages_text (rowid, content) SELECT m.rowid, m.content FROM messages_unindexed p JOIN messages m ON m.rowid = p.id`,
		`DELETE FROM messages_unindexed`,
	} {
		if _, err := tx.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	mustExec(b, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	db.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	b.Logf("built %s (%d sessions, %d messages) in %s", path, benchSessions, benchSessions*benchPerSession, time.Since(start).Round(time.Second))
	return path
}

// BenchmarkSessionsAPI measures the sessions API on a store of 10,000
// sessions and 1,000,000 messages and reports each operation's median
// (p50-ms) beside Go's mean (ns/op). Run it with
//
//	go test ./internal/sessions/ -run '^$' -bench SessionsAPI -benchtime 200x
func BenchmarkSessionsAPI(b *testing.B) {
	path := benchStore(b)
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	randomID := func() string { return fmt.Sprintf("sess_bench%06d", rng.IntN(benchSessions)) }
	ops := []struct {
		name string
		op   func() error
	}{
		{"list", func() error { // a page of 20, anywhere in the first 50 pages
			_, err := s.ListPage(ctx, PageOptions{Offset: 20 * rng.IntN(50)})
			return err
		}},
		{"list_first_page", func() error {
			_, err := s.ListPage(ctx, PageOptions{})
			return err
		}},
		{"search_rare", func() error { // 20 sessions hold it among 1,000,000 messages
			p, err := s.ListPage(ctx, PageOptions{Query: "quokka-needle"})
			if err == nil && len(p.Sessions) != benchSessions/benchNeedleEvery {
				err = fmt.Errorf("found %d sessions", len(p.Sessions))
			}
			return err
		}},
		{"search_common", func() error { // a phrase in many sessions: the first page
			_, err := s.ListPage(ctx, PageOptions{Query: "kubernetes docker"})
			return err
		}},
		{"search_short", func() error { // 2 characters: no index, newest first to the page's end
			_, err := s.ListPage(ctx, PageOptions{Query: "go"})
			return err
		}},
		{"search_short_none", func() error { // 2 characters found nowhere: every message read
			_, err := s.ListPage(ctx, PageOptions{Query: "zq"})
			return err
		}},
		{"show", func() error {
			_, err := s.Show(ctx, randomID())
			return err
		}},
		{"rename", func() error {
			_, err := s.Rename(ctx, randomID(), fmt.Sprintf("renamed %d", rng.IntN(1000)))
			return err
		}},
		{"export_markdown", func() error {
			d, err := s.Show(ctx, randomID())
			if err != nil {
				return err
			}
			return Export(io.Discard, d, FormatMarkdown)
		}},
		{"export_json", func() error {
			d, err := s.Show(ctx, randomID())
			if err != nil {
				return err
			}
			return Export(io.Discard, d, FormatJSON)
		}},
	}
	// The operations that delete or end sessions run on a copy of the
	// store made for each batch of calls (each sub-benchmark), so that
	// every run measures the same thing: the k-th call of a batch deletes
	// or ends sessions of the same store.
	idle := 30 * time.Minute
	var openIDs []string // the sessions the store leaves open (1 in 3)
	for i := 0; i < benchSessions; i += 3 {
		openIDs = append(openIDs, fmt.Sprintf("sess_bench%06d", i))
	}
	lastActivity := func(i int) time.Time { // session i's
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour + benchPerSession*time.Minute)
	}
	writes := []struct {
		name string
		max  int // calls a copy takes
		// op is the k-th call on st, whose clock reads *now.
		op func(st *Store, k int, now *time.Time) error
	}{
		{"delete", benchSessions, func(st *Store, k int, _ *time.Time) error { // a session of 100 messages
			return st.Delete(ctx, fmt.Sprintf("sess_bench%06d", (k*7919)%benchSessions))
		}},
		{"prune_keep", benchSessions / 10, func(st *Store, k int, _ *time.Time) error { // the oldest 10 by count
			r, err := st.Prune(ctx, PruneOptions{Keep: benchSessions - 10*(k+1), Now: lastActivity(benchSessions).Add(24 * time.Hour)})
			if err == nil && len(r.Pruned) != 10 {
				err = fmt.Errorf("pruned %d sessions, want 10", len(r.Pruned))
			}
			return err
		}},
		{"prune_age", benchSessions / 10, func(st *Store, k int, _ *time.Time) error { // the oldest 10 by age
			r, err := st.Prune(ctx, PruneOptions{OlderThan: 24 * time.Hour, Now: lastActivity(10 * (k + 1)).Add(24*time.Hour - time.Minute)})
			if err == nil && len(r.Pruned) != 10 {
				err = fmt.Errorf("pruned %d sessions, want 10", len(r.Pruned))
			}
			return err
		}},
		{"end", len(openIDs), func(st *Store, k int, _ *time.Time) error { // an open session
			return st.EndSession(ctx, openIDs[(k*7919)%len(openIDs)])
		}},
		{"end_idle", benchSessions / 10, func(st *Store, k int, now *time.Time) error { // the sweep of Run: 10 hours later, 3 or 4 sessions idle
			*now = lastActivity(10 * (k + 1)).Add(idle - time.Minute)
			n, err := st.EndIdle(ctx)
			if err == nil && (n < 3 || n > 4) {
				err = fmt.Errorf("ended %d sessions, want 3 or 4", n)
			}
			return err
		}},
	}
	ops = append(ops, struct {
		name string
		op   func() error
	}{"prune_dry_run", func() error { // what --keep 1000 --dry-run lists: 9,000 sessions
		r, err := s.Prune(ctx, PruneOptions{Keep: 1000, DryRun: true})
		if err == nil && len(r.Pruned)+len(r.Skipped) != benchSessions-1000 {
			err = fmt.Errorf("would prune %d sessions", len(r.Pruned)+len(r.Skipped))
		}
		return err
	}})
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) { measure(b, func(int) error { return o.op() }) })
	}
	for _, o := range writes {
		b.Run(o.name, func(b *testing.B) {
			now := lastActivity(benchSessions).Add(24 * time.Hour)
			st, err := Open(copyStore(b, path), Options{IdleTimeout: idle, Clock: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			measure(b, func(k int) error {
				if k >= o.max {
					return fmt.Errorf("a copy of the store takes %d calls of %s: run with -benchtime %dx or less", o.max, o.name, o.max)
				}
				return o.op(st, k, &now)
			})
		})
	}
}

// measure runs op (its argument counts the calls) in b's loop and reports
// the median and 99th percentile of its calls.
func measure(b *testing.B, op func(k int) error) {
	var times []time.Duration
	for b.Loop() {
		t := time.Now()
		if err := op(len(times)); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}

// copyStore copies the store at path (and its WAL: the benchmark's store
// is open, idle) into b's temporary directory.
func copyStore(b *testing.B, path string) string {
	b.Helper()
	dst := filepath.Join(b.TempDir(), "state.db")
	for _, ext := range []string{"", "-wal"} {
		in, err := os.Open(path + ext)
		if ext != "" && os.IsNotExist(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(dst + ext)
		if err == nil {
			_, err = io.Copy(out, in)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		in.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return dst
}
