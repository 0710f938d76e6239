package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func ids(list []Session) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

func TestRename(t *testing.T) {
	s, _ := openStore(t, nil)
	ctx := context.Background()
	appendTurn(t, s, turn("a", "first question", "answer", nil))
	cases := []struct {
		name, title, want string
		err               error
	}{
		{"plain", "Trip to Lisbon", "Trip to Lisbon", nil},
		{"trimmed", "  spaced  ", "spaced", nil},
		{"unicode", "Übersicht 📎", "Übersicht 📎", nil},
		{"empty", "", "", ErrInvalid},
		{"blank", " \t ", "", ErrInvalid},
		{"10 KB", strings.Repeat("x", 10<<10), "", ErrInvalid},
		{"just over", strings.Repeat("é", MaxTitleRunes+1), "", ErrInvalid},
		{"at the limit", strings.Repeat("é", MaxTitleRunes), strings.Repeat("é", MaxTitleRunes), nil},
		{"newline", "two\nlines", "", ErrInvalid},
		{"not UTF-8", "bad \xff", "", ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _, _ := s.Get(ctx, "a")
			got, err := s.Rename(ctx, "a", tc.title)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Rename(%.20q) = %v, want %v", tc.title, err, tc.err)
			}
			after, _, _ := s.Get(ctx, "a")
			if tc.err != nil {
				if after.Title != before.Title {
					t.Errorf("a refused rename changed the title to %q", after.Title)
				}
				return
			}
			if got.Title != tc.want || after.Title != tc.want {
				t.Errorf("title = %q (stored %q), want %q", got.Title, after.Title, tc.want)
			}
		})
	}
	if _, err := s.Rename(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename(unknown) = %v, want ErrNotFound", err)
	}
	s.Rename(ctx, "a", "Mine")
	appendTurn(t, s, turn("a", "another question", "answer", nil))
	if got, _, _ := s.Get(ctx, "a"); got.Title != "Mine" {
		t.Errorf("after a turn the title is %q, want the renamed one", got.Title)
	}
}

func TestSearchLiteral(t *testing.T) {
	s, _ := openStore(t, newClock())
	ctx := context.Background()
	texts := map[string]string{
		"pct":    "the discount is 100% off",
		"under":  "call snake_case_name now",
		"single": "it's O'Brien's",
		"double": `she said "hi there"`,
		"back":   `a path C:\temp\new`,
		"plain":  "nothing special 1000 off here",
		"abc":    "abcXdef",
	}
	for id, text := range texts {
		appendTurn(t, s, turn(id, "hello", text, nil))
	}
	s.Rename(ctx, "plain", "Title with 50% and a_b")
	cases := []struct {
		q    string
		want []string
	}{
		{"100%", []string{"pct"}},
		{"%", []string{"pct", "plain"}}, // the discount, and the title's 50%
		{"_", []string{"plain", "under"}},
		{"e_c", []string{"under"}},
		{"snake%name", nil},
		{"0% off", []string{"pct"}},
		{"O'Brien", []string{"single"}},
		{"'", []string{"single"}},
		{`"hi there"`, []string{"double"}},
		{`"`, []string{"double"}},
		{`C:\temp`, []string{"back"}},
		{`\`, []string{"back"}},
		{"a_b", []string{"plain"}},
		{"X", []string{"abc"}},
		{"SNAKE", []string{"under"}},
		{"' OR 1=1 --", nil},
		{"abc_def", nil},
		{"%%", nil},
		{"nowhere", nil},
	}
	for _, tc := range cases {
		got, err := s.Search(ctx, SearchOptions{Query: tc.q})
		if err != nil {
			t.Errorf("Search(%q): %v", tc.q, err)
			continue
		}
		g := ids(got)
		slices.Sort(g)
		want := append([]string{}, tc.want...)
		slices.Sort(want)
		if !slices.Equal(g, want) {
			t.Errorf("Search(%q) = %q, want %q", tc.q, g, want)
		}
	}
	for _, q := range []string{"", "   ", strings.Repeat("q", MaxQueryBytes+1), "\xff\xfe"} {
		if _, err := s.Search(ctx, SearchOptions{Query: q}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Search(%.20q) = %v, want ErrInvalid", q, err)
		}
	}
}

func TestListPage(t *testing.T) {
	clk := newClock()
	s, _ := openStore(t, clk)
	ctx := context.Background()
	for i := range 5 {
		clk.Add(time.Minute)
		appendTurn(t, s, turn(string(rune('a'+i)), "topic "+string(rune('a'+i)), "ok", nil))
	}
	p, err := s.ListPage(ctx, PageOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Sessions; len(got) != 2 || got[0].ID != "e" || got[1].ID != "d" || p.NextOffset == nil || *p.NextOffset != 2 {
		t.Fatalf("page 1 = %+v", p)
	}
	p, _ = s.ListPage(ctx, PageOptions{Limit: 2, Offset: 4})
	if len(p.Sessions) != 1 || p.Sessions[0].ID != "a" || p.NextOffset != nil {
		t.Fatalf("last page = %+v", p)
	}
	p, _ = s.ListPage(ctx, PageOptions{Query: "topic c"})
	if len(p.Sessions) != 1 || p.Sessions[0].ID != "c" || p.Query != "topic c" {
		t.Fatalf("search page = %+v", p)
	}
	for _, o := range []PageOptions{{Limit: -1}, {Limit: MaxPageSize + 1}, {Offset: -1}} {
		if _, err := s.ListPage(ctx, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("ListPage(%+v) = %v, want ErrInvalid", o, err)
		}
	}
	b, _ := json.Marshal(p.Sessions[0])
	for _, key := range []string{`"id":"c"`, `"state":"active"`, `"active":true`, `"title":"topic c"`, `"ended_at":null`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("an item's JSON %s lacks %s", b, key)
		}
	}
}

func TestDelete(t *testing.T) {
	s, path := openStore(t, nil)
	ctx := context.Background()
	appendTurn(t, s, turn("a", "unique-word-alpha", "reply", nil))
	appendTurn(t, s, turn("b", "unique-word-beta", "reply", nil))
	cid, _ := s.ConversationSession(ctx, "default", "conv")
	appendTurn(t, s, turn(cid, "in the conversation", "reply", nil))
	s.PutResponse(ctx, Response{ID: "resp_1", SessionID: "a", Status: "completed"})
	if _, err := s.Index(ctx); err != nil { // the delete of indexed messages (TestIndex: of listed ones)
		t.Fatal(err)
	}
	for _, id := range []string{"a", cid} {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a second Delete = %v, want ErrNotFound", err)
	}
	db := rawDB(t, path)
	for q, want := range map[string]int{
		`SELECT count(*) FROM sessions`:                                                1,
		`SELECT count(*) FROM messages WHERE session_id <> 'b'`:                        0,
		`SELECT count(*) FROM responses`:                                               0,
		`SELECT count(*) FROM conversations`:                                           0,
		`SELECT count(*) FROM messages_text WHERE messages_text MATCH '"unique-word"'`: 1,
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil || n != want {
			t.Errorf("%s = %d (%v), want %d", q, n, err, want)
		}
	}
	if got, _ := s.Search(ctx, SearchOptions{Query: "unique-word"}); !slices.Equal(ids(got), []string{"b"}) {
		t.Errorf("after the delete, search finds %q", ids(got))
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	// Sessions a (oldest) .. f (newest), a day apart; e is open and recent
	// (in use), the others ended.
	setup := func(t *testing.T) (*Store, *clock) {
		clk := newClock()
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := Open(path, Options{Clock: clk.Now, IdleTimeout: 30 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
			clk.Add(24 * time.Hour)
			appendTurn(t, s, turn(id, "q", "r", nil))
			if id != "e" {
				s.EndSession(ctx, id)
			}
		}
		// e is in use: its last turn is now, after f's.
		clk.Add(time.Minute)
		appendTurn(t, s, turn("e", "again", "r", nil))
		return s, clk
	}
	cases := []struct {
		name        string
		o           PruneOptions
		pruned      []string
		skipped     []string
		left        []string
		errIs       error
		description string
	}{
		{name: "older than 2.5 days", o: PruneOptions{OlderThan: 60 * time.Hour}, pruned: []string{"c", "b", "a"}, left: []string{"e", "f", "d"}},
		{name: "keep 2", o: PruneOptions{Keep: 2}, pruned: []string{"d", "c", "b", "a"}, left: []string{"e", "f"}},
		{name: "older than a second", o: PruneOptions{OlderThan: time.Second}, pruned: []string{"f", "d", "c", "b", "a"}, left: []string{"e"}},
		{name: "keep 3 and older than 1.5 days", o: PruneOptions{Keep: 3, OlderThan: 36 * time.Hour}, pruned: []string{"c", "b", "a"}, left: []string{"e", "f", "d"}},
		{name: "keep 1", o: PruneOptions{Keep: 1}, pruned: []string{"f", "d", "c", "b", "a"}, left: []string{"e"}},
		{name: "dry run", o: PruneOptions{Keep: 2, DryRun: true}, pruned: []string{"d", "c", "b", "a"}, left: []string{"e", "f", "d", "c", "b", "a"}},
		{name: "no rule", o: PruneOptions{}, errIs: ErrInvalid, left: []string{"e", "f", "d", "c", "b", "a"}},
		{name: "negative", o: PruneOptions{Keep: -1}, errIs: ErrInvalid, left: []string{"e", "f", "d", "c", "b", "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := setup(t)
			res, err := s.Prune(ctx, tc.o)
			if !errors.Is(err, tc.errIs) {
				t.Fatalf("Prune = %v, want %v", err, tc.errIs)
			}
			if err == nil && !slices.Equal(ids(res.Pruned), append([]string{}, tc.pruned...)) {
				t.Errorf("pruned %q, want %q", ids(res.Pruned), tc.pruned)
			}
			list, _ := s.List(ctx, ListOptions{})
			if !slices.Equal(ids(list), tc.left) {
				t.Errorf("left %q, want %q", ids(list), tc.left)
			}
		})
	}
	// A prune that selects the session in use skips it and says so.
	s, clk := setup(t)
	clk.Add(10 * time.Minute) // e's last turn is 10 min old: older than 5 min, in use for 30
	res, err := s.Prune(ctx, PruneOptions{OlderThan: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(res.Skipped), []string{"e"}) {
		t.Errorf("skipped %q, want the session in use, e", ids(res.Skipped))
	}
	if _, _, err := s.Get(ctx, "e"); err != nil {
		t.Errorf("the session in use is gone: %v", err)
	}
}

func TestEndIdle(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{Clock: clk.Now, IdleTimeout: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	appendTurn(t, s, turn("old", "q", "r", nil))
	last := clk.Now()
	clk.Add(20 * time.Minute)
	appendTurn(t, s, turn("new", "q", "r", nil))
	clk.Add(10 * time.Minute) // old: exactly 30 min idle, new: 10 min
	if n, err := s.EndIdle(ctx); err != nil || n != 1 {
		t.Fatalf("EndIdle = %d, %v; want 1", n, err)
	}
	old, _, _ := s.Get(ctx, "old")
	if old.EndedAt == nil || !old.EndedAt.Equal(last.Add(30*time.Minute)) || old.State(clk.Now()) != StateEnded {
		t.Errorf("old ended at %v, want %v", old.EndedAt, last.Add(30*time.Minute))
	}
	if nw, _, _ := s.Get(ctx, "new"); nw.EndedAt != nil {
		t.Errorf("new ended at %v while it was in use", nw.EndedAt)
	}
	if got := s.Stats().EndedIdle; got != 1 {
		t.Errorf("EndedIdle = %d, want 1", got)
	}
	// An ended session is kept and resumable: a new turn reopens it.
	appendTurn(t, s, turn("old", "back again", "r", nil))
	if old, msgs, _ := s.Get(ctx, "old"); old.EndedAt != nil || len(msgs) != 4 {
		t.Errorf("resumed: ended %v, %d messages; want open with 4", old.EndedAt, len(msgs))
	}

	// Run sweeps at once.
	clk.Add(time.Hour)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.Run(rctx) }()
	testenv.EventuallyNil(t, 5*time.Second, "Run ends the idle sessions", func() error {
		if n, _ := s.ActiveSessions(ctx, clk.Now()); n != 0 {
			return errors.New("still active")
		}
		list, _ := s.List(ctx, ListOptions{})
		for _, l := range list {
			if l.EndedAt == nil {
				return errors.New(l.ID + " still open")
			}
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestSizeCap(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.db")
	var logs bytes.Buffer
	const max = 256 << 10
	s, err := Open(path, Options{Clock: clk.Now, MaxBytes: max, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	big := strings.Repeat("lorem ipsum ", 800) // ~10 KB a message
	i := 0
	name := func(i int) string { return "s" + string(rune('A'+i/26)) + string(rune('a'+i%26)) }
	// Fill the store with ended sessions until a turn needs pruning.
	for ; s.Stats().PrunedForCap == 0; i++ {
		if i > 200 {
			t.Fatal("the cap never pruned anything")
		}
		clk.Add(time.Minute)
		if err := s.AppendTurn(ctx, turn(name(i), big, big, nil)); err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
		s.EndSession(ctx, name(i))
	}
	if _, _, err := s.Get(ctx, name(0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("the oldest ended session survived the cap: %v", err)
	}
	if _, _, err := s.Get(ctx, name(i-1)); err != nil {
		t.Errorf("the newest session was pruned: %v", err)
	}
	if size, _ := s.Size(ctx); size >= max {
		t.Errorf("after pruning the store holds %d bytes, at the cap %d", size, max)
	}
	// Only open sessions now: nothing can be pruned, and a turn is refused.
	s.Prune(ctx, PruneOptions{Keep: 0, OlderThan: time.Nanosecond})
	for j := 0; ; j++ {
		if j > 200 {
			t.Fatal("the store never filled up")
		}
		err := s.AppendTurn(ctx, turn("open"+name(j), big, big, nil))
		if errors.Is(err, ErrFull) {
			var fe *FullError
			if !errors.As(err, &fe) || fe.Max != max || fe.Size < max {
				t.Errorf("the refusal %v does not say the size and the cap", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Admit(ctx); !errors.Is(err, ErrFull) {
		t.Errorf("Admit = %v, want ErrFull", err)
	}
	st := s.Stats()
	if st.RefusedFull != 2 || st.PrunedForCap == 0 {
		t.Errorf("stats = %+v, want 2 refusals and some pruned", st)
	}
	for _, want := range []string{"pruned the oldest ended sessions", "the store is full; refusing new turns"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
	// Ending a session makes it prunable again: the next turn gets room.
	list, _ := s.List(ctx, ListOptions{})
	for _, l := range list[len(list)/2:] {
		s.EndSession(ctx, l.ID)
	}
	if err := s.AppendTurn(ctx, turn("after", "small", "small", nil)); err != nil {
		t.Errorf("after ending sessions: %v", err)
	}
}

// TestMigrateFromV1 opens a copy of testdata/state-v1.db, a store that the
// code of schema version 1 made, and checks that the migration to the
// current schema keeps every row as it was, indexes the old messages for
// search, and runs once.
func TestMigrateFromV1(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	b, err := os.ReadFile(filepath.Join("testdata", "state-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tables := []string{"sessions", "messages", "responses", "conversations"}
	read := func() map[string][]string {
		db := rawDB(t, path)
		defer db.Close()
		out := map[string][]string{}
		for _, tb := range tables {
			rows, err := db.Query(`SELECT * FROM ` + tb + ` ORDER BY 1, 2`)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				j, _ := json.Marshal(vals)
				out[tb] = append(out[tb], string(j))
			}
			rows.Close()
		}
		return out
	}
	before := read()
	if len(before["sessions"]) != 4 || len(before["messages"]) != 23 || len(before["responses"]) != 3 || len(before["conversations"]) != 1 {
		t.Fatalf("the fixture holds %d sessions, %d messages, %d responses, %d conversations", len(before["sessions"]), len(before["messages"]), len(before["responses"]), len(before["conversations"]))
	}
	for range 2 { // the second open finds nothing to do
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		after := read()
		for _, tb := range tables {
			if !slices.Equal(before[tb], after[tb]) {
				t.Errorf("the migration changed table %s:\nbefore %q\nafter  %q", tb, before[tb], after[tb])
			}
		}
		db := rawDB(t, path)
		if v := pragma(t, db, "user_version"); v != fmt.Sprint(SchemaVersion) {
			t.Errorf("user_version = %s, want %d", v, SchemaVersion)
		}
		var indexed int
		db.QueryRow(`SELECT count(*) FROM messages_text_docsize`).Scan(&indexed)
		if indexed != 23 {
			t.Errorf("%d messages indexed, want the 23 of the fixture (once)", indexed)
		}
		db.Close()
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for q, want := range map[string]int{"tool result 42": 3, "100% _literal_": 3, "in a conversation": 1, "'quoted'": 3} {
		got, err := s.Search(ctx, SearchOptions{Query: q})
		if err != nil || len(got) != want {
			t.Errorf("Search(%q) in the migrated store = %d sessions (%v), want %d", q, len(got), err, want)
		}
	}
	// And it keeps working as a store: a turn, a rename, a delete.
	appendTurn(t, s, turn("client-chosen:1", "a new question", "a new answer", nil))
	if got, _ := s.Search(ctx, SearchOptions{Query: "new answer"}); !slices.Equal(ids(got), []string{"client-chosen:1"}) {
		t.Errorf("a new turn is not found: %q", ids(got))
	}
	if err := s.Delete(ctx, "sess_fixtureaaaaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Search(ctx, SearchOptions{Query: "tool result 42"}); len(got) != 2 {
		t.Errorf("after a delete, %d sessions found, want 2", len(got))
	}
}

func exportDetail() Detail {
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	ended := at.Add(time.Hour)
	msgs := []Message{
		{Role: RoleSystem, Content: "Be brief."},
		{Role: RoleUser, Content: "What is in this picture? And this file?", Raw: json.RawMessage(`{"role":"user","content":[{"type":"text","text":"What is in this picture? And this file?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},{"type":"file","file":{"filename":"notes.pdf","file_data":"JVBERi0="}},{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}}]}`)},
		{Role: RoleAssistant, Raw: json.RawMessage(`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"cat\"}"}}]}`), Model: "gpt-4o"},
		{Role: RoleTool, Content: "a cat, 3 kg", Raw: json.RawMessage(`{"role":"tool","tool_call_id":"call_1","content":"a cat, 3 kg"}`)},
		{Role: RoleAssistant, Content: "It is a **cat**.\n\n```go\nfmt.Println(\"```\")\n```\n\n- one\n- two", Model: "gpt-4o", Usage: &Usage{10, 20, 30}},
		{Role: RoleUser, Content: "", Raw: json.RawMessage(`{"role":"user","content":[{"type":"mystery","x":1}]}`)},
		// The Responses API's items: a message of input parts, a function
		// call and its output.
		{Role: RoleUser, Content: "Which breed is this?", Raw: json.RawMessage(`{"type":"message","role":"user","content":[{"type":"input_text","text":"Which breed is this?"},{"type":"input_image","image_url":"https://example.com/dog.png","detail":"auto"},{"type":"input_image","file_id":"file-abc123"},{"type":"input_file","filename":"breeds.csv","file_id":"file-def456"}]}`)},
		{Role: RoleAssistant, Raw: json.RawMessage(`{"type":"function_call","call_id":"call_2","name":"classify","arguments":"{\"image\":\"file-abc123\"}"}`), Model: "gpt-4o"},
		{Role: RoleTool, Raw: json.RawMessage(`{"type":"function_call_output","call_id":"call_2","output":"{\"breed\":\"corgi\",\"confidence\":0.93}"}`)},
		{Role: RoleTool, Raw: json.RawMessage(`{"type":"function_call_output","call_id":"call_3","output":"no match"}`)},
		// Refusals: a part of the content (Responses API, chat
		// completions' content parts) and chat completions' refusal field.
		{Role: RoleAssistant, Content: "It looks like a corgi.", Raw: json.RawMessage(`{"role":"assistant","content":[{"type":"output_text","text":"It looks like a corgi."},{"type":"refusal","refusal":"I can't tell you\nwho owns it."}]}`), Model: "gpt-4o"},
		{Role: RoleAssistant, Raw: json.RawMessage(`{"role":"assistant","content":null,"refusal":"I can't help with that."}`), Model: "gpt-4o"},
		{Role: RoleAssistant, Content: "", Model: "gpt-4o"},
	}
	for i := range msgs {
		msgs[i].SessionID, msgs[i].Seq, msgs[i].CreatedAt = "sess_export", i+1, at.Add(time.Duration(i)*time.Minute)
	}
	s := Session{ID: "sess_export", Profile: "default", Model: "gpt-4o", Title: "What is in this picture?", StartedAt: at, LastActivityAt: at.Add(time.Duration(len(msgs)-1) * time.Minute), EndedAt: &ended, MessageCount: len(msgs), PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}
	return Detail{Session: NewItem(s, at.Add(2*time.Hour)), Messages: msgs}
}

// TestExport: a session with a message of every role and content type, in
// both formats (golden files: what a person reads).
func TestExport(t *testing.T) {
	d := exportDetail()
	for _, f := range []Format{FormatJSON, FormatMarkdown} {
		var b bytes.Buffer
		if err := Export(&b, d, f); err != nil {
			t.Fatal(err)
		}
		testenv.Golden(t, "export"+f.Ext(), b.String())
		if f == FormatJSON {
			var back Detail
			if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Messages) != len(d.Messages) || back.Session.ID != d.Session.ID {
				t.Errorf("the JSON export does not read back: %v", err)
			}
		}
	}
	for _, name := range []string{"json", "markdown", "md", "JSON"} {
		if _, err := ParseFormat(name); err != nil {
			t.Errorf("ParseFormat(%q) = %v", name, err)
		}
	}
	if _, err := ParseFormat("pdf"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseFormat(pdf) = %v, want ErrInvalid", err)
	}
	if err := Export(io.Discard, d, "pdf"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Export(pdf) = %v", err)
	}
}

// FuzzMarkdown: whatever a message's raw JSON holds, the export is made
// and shows the message's text.
func FuzzMarkdown(f *testing.F) {
	for _, m := range exportDetail().Messages {
		f.Add(string(m.Raw), m.Content)
	}
	f.Add(`[{"type":"image_url","image_url":7}]`, "x")
	f.Add(`{"tool_calls":[{"function":{"arguments":"not json"}}]}`, "")
	f.Fuzz(func(t *testing.T, raw, content string) {
		d := Detail{Session: Item{Session: Session{ID: "s"}}, Messages: []Message{{Role: RoleUser, Content: content, Raw: json.RawMessage(raw)}}}
		out := string(Markdown(d))
		if text := strings.TrimRight(content, "\n"); text != "" && !strings.Contains(out, text) {
			t.Errorf("the export lacks the message's text %q:\n%s", text, out)
		}
	})
}

// FuzzSearch: any query is answered or refused as invalid, never an
// SQL or FTS syntax error.
func FuzzSearch(f *testing.F) {
	s, _ := openStore(f, nil)
	appendTurn(f, s, turn("a", `hello "world" 100% a_b \ 'x'`, "reply", nil))
	for _, q := range []string{`"`, `""`, `*`, `NEAR(a b)`, `a OR b`, `'`, `%_\`, `^x`, "col:x", "a AND", "(", "-x", "é"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, err := s.Search(context.Background(), SearchOptions{Query: q})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Search(%q) = %v", q, err)
		}
	})
}

// TestSearchPaths: the scan of the newest sessions, the index and the
// pass over every message (a query under 3 characters) give the same
// pages, in List's order.
func TestSearchPaths(t *testing.T) {
	clk := newClock()
	s, _ := openStore(t, clk)
	s.quickScan = 20 // the paths' rule, on a store of a few sessions
	ctx := context.Background()
	n := s.scanFirst() + 20
	for i := range n {
		clk.Add(time.Minute)
		text := fmt.Sprintf("common words, number %d", i)
		if i == 0 || i == 1 || i == n-1 {
			text += " and a rare needle, zQ"
		}
		appendTurn(t, s, turn(fmt.Sprintf("s%03d", i), "question", text, nil))
	}
	id := func(i int) string { return fmt.Sprintf("s%03d", i) }
	last := n - 1
	for _, tc := range []struct {
		q             string
		limit, offset int
		want          []string
	}{
		{"rare needle", 2, 0, []string{id(last), "s001"}},
		{"rare needle", 2, 1, []string{"s001", "s000"}},
		{"rare needle", 0, 0, []string{id(last), "s001", "s000"}},
		{"common words", 3, 0, []string{id(last), id(last - 1), id(last - 2)}},
		{"common words", 2, last - 9, []string{id(9), id(8)}},
		{"RARE NEEDLE", 5, 0, []string{id(last), "s001", "s000"}},
		// Under 3 characters: the newest sessions, then one pass over
		// every message.
		{"zq", 2, 0, []string{id(last), "s001"}},
		{"Zq", 2, 1, []string{"s001", "s000"}},
		{"zq", 0, 0, []string{id(last), "s001", "s000"}},
		{"ZQ", 5, 2, []string{"s000"}},
		{"nu", 3, 0, []string{id(last), id(last - 1), id(last - 2)}},
		{"nu", 2, last - 9, []string{id(9), id(8)}},
		{"_Q", 5, 0, nil},
	} {
		got, err := s.Search(ctx, SearchOptions{Query: tc.q, Limit: tc.limit, Offset: tc.offset})
		if err != nil || !slices.Equal(ids(got), tc.want) {
			t.Errorf("Search(%q, limit %d, offset %d) = %q (%v), want %q", tc.q, tc.limit, tc.offset, ids(got), err, tc.want)
		}
	}
}
