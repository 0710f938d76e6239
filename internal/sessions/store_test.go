package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAppendTurn(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openStore(t, clk)

	appendTurn(t, s, Turn{
		SessionID: "sess_a", Profile: "coder", Model: "m1",
		Messages: []Message{
			{Role: RoleSystem, Content: "be brief"},
			{Role: RoleUser, Content: "  what is\nthe time?  "},
			{Role: RoleAssistant, Content: "noon"},
		},
		Usage: &Usage{PromptTokens: 10, CompletionTokens: 2, TotalTokens: 12},
	})
	clk.Add(time.Minute)
	raw := json.RawMessage(`[{"type":"text","text":"and now?"},{"type":"image_url","image_url":{"url":"data:,"}}]`)
	appendTurn(t, s, Turn{
		SessionID: "sess_a", Profile: "other", Model: "m2",
		Messages: []Message{
			{Role: RoleUser, Content: "and now?", Raw: raw},
			{Role: RoleAssistant, Content: "", Raw: json.RawMessage(`{"tool_calls":[{"id":"c1"}]}`)},
			{Role: RoleTool, Content: "12:01"},
			{Role: RoleAssistant, Content: "one past noon", Usage: &Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2}},
		},
	})
	clk.Add(time.Minute)
	appendTurn(t, s, turn("sess_a", "thanks", "welcome", nil)) // no usage reported

	sess, msgs, err := s.Get(ctx, "sess_a")
	if err != nil {
		t.Fatal(err)
	}
	want := Session{
		ID: "sess_a", Profile: "coder", Model: "test-model",
		StartedAt: t0, LastActivityAt: t0.Add(2 * time.Minute),
		MessageCount: 9, PromptTokens: 11, CompletionTokens: 3, TotalTokens: 14,
		Title: "what is the time?",
	}
	if got := sess; !sessionEqual(got, want) {
		t.Errorf("session = %+v\nwant      %+v", got, want)
	}
	type row struct {
		seq                  int
		role, content, model string
		raw                  string
		usage                *Usage
		created              time.Time
	}
	wantMsgs := []row{
		{1, RoleSystem, "be brief", "", "", nil, t0},
		{2, RoleUser, "  what is\nthe time?  ", "", "", nil, t0},
		{3, RoleAssistant, "noon", "m1", "", &Usage{10, 2, 12}, t0},
		{4, RoleUser, "and now?", "", string(raw), nil, t0.Add(time.Minute)},
		{5, RoleAssistant, "", "m2", `{"tool_calls":[{"id":"c1"}]}`, nil, t0.Add(time.Minute)},
		{6, RoleTool, "12:01", "", "", nil, t0.Add(time.Minute)},
		{7, RoleAssistant, "one past noon", "m2", "", &Usage{1, 1, 2}, t0.Add(time.Minute)},
		{8, RoleUser, "thanks", "", "", nil, t0.Add(2 * time.Minute)},
		{9, RoleAssistant, "welcome", "test-model", "", nil, t0.Add(2 * time.Minute)},
	}
	if len(msgs) != len(wantMsgs) {
		t.Fatalf("%d messages, want %d", len(msgs), len(wantMsgs))
	}
	for i, m := range msgs {
		w := wantMsgs[i]
		got := row{m.Seq, m.Role, m.Content, m.Model, string(m.Raw), m.Usage, m.CreatedAt}
		if got.seq != w.seq || got.role != w.role || got.content != w.content || got.model != w.model || got.raw != w.raw ||
			!usageEqual(got.usage, w.usage) || !got.created.Equal(w.created) || m.SessionID != "sess_a" {
			t.Errorf("message %d = %+v, want %+v", i+1, got, w)
		}
	}
}

func sessionEqual(a, b Session) bool {
	ea, eb := a.EndedAt, b.EndedAt
	a.EndedAt, b.EndedAt = nil, nil
	if (ea == nil) != (eb == nil) || ea != nil && !ea.Equal(*eb) {
		return false
	}
	return a.StartedAt.Equal(b.StartedAt) && a.LastActivityAt.Equal(b.LastActivityAt) &&
		a.ID == b.ID && a.Profile == b.Profile && a.Model == b.Model && a.Title == b.Title &&
		a.MessageCount == b.MessageCount && a.PromptTokens == b.PromptTokens &&
		a.CompletionTokens == b.CompletionTokens && a.TotalTokens == b.TotalTokens
}

func usageEqual(a, b *Usage) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func TestAppendTurnRefusesBadTurns(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	tests := []struct {
		name string
		turn Turn
		want string
	}{
		{"bad id", turn("sess a", "x", "y", nil), `session id "sess a" has ' ' at byte 4`},
		{"no messages", Turn{SessionID: "sess_a"}, "has no messages"},
		{"bad role", Turn{SessionID: "sess_a", Messages: []Message{{Role: "developer", Content: "x"}}}, `role "developer"`},
		{"bad raw", Turn{SessionID: "sess_a", Messages: []Message{{Role: RoleUser, Raw: json.RawMessage("{")}}}, "not JSON"},
		{"bad response id", Turn{SessionID: "sess_a", Messages: []Message{{Role: RoleUser, ResponseID: "resp/1"}}}, `response id "resp/1"`},
	}
	for _, tt := range tests {
		err := s.AppendTurn(ctx, tt.turn)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", tt.name, err, tt.want)
		}
	}
	if list, _ := s.List(ctx, ListOptions{}); len(list) != 0 {
		t.Errorf("refused turns left sessions: %v", list)
	}
}

func TestMakeTitle(t *testing.T) {
	long := strings.Repeat("é", TitleRunes+5)
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"  two\n\tlines  ", "two lines"},
		{"", ""},
		{strings.Repeat("a", TitleRunes), strings.Repeat("a", TitleRunes)},
		{long, strings.Repeat("é", TitleRunes-1) + "…"},
		{strings.Repeat("a", TitleRunes-2) + " b c", strings.Repeat("a", TitleRunes-2) + "…"},
	}
	for _, tt := range tests {
		if got := makeTitle(tt.in); got != tt.want {
			t.Errorf("makeTitle(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A session's title comes from its first user message, even in a later turn.
func TestTitleFromFirstUserMessage(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	appendTurn(t, s, Turn{SessionID: "s1", Messages: []Message{{Role: RoleSystem, Content: "sys"}}})
	appendTurn(t, s, turn("s1", "first question", "a", nil))
	appendTurn(t, s, turn("s1", "second question", "b", nil))
	if sess, _, _ := s.Get(ctx, "s1"); sess.Title != "first question" {
		t.Errorf("title = %q, want the first user message", sess.Title)
	}
}

func TestActiveSessions(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openStore(t, clk)
	now := t0.Add(time.Hour)
	sessions := []struct {
		id    string
		last  time.Duration // before now
		ended bool
	}{
		{"fresh", 0, false},
		{"299s", 299 * time.Second, false},
		{"300s", 300 * time.Second, false},
		{"301s", 301 * time.Second, false},
		{"old", time.Hour, false},
		{"ended-fresh", time.Second, true},
		{"future", -time.Minute, false}, // a clock step backwards: still active
	}
	for _, ss := range sessions {
		tr := turn(ss.id, "hi", "hello", nil)
		tr.At = now.Add(-ss.last)
		appendTurn(t, s, tr)
		if ss.ended {
			if err := s.EndSession(ctx, ss.id); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		at   time.Time
		want int
	}{
		{now, 4}, // fresh, 299s, 300s, future
		{now.Add(time.Second), 3},
		{now.Add(-time.Hour), 6}, // everything but the ended one (all within 300 s of it, or after it)
		{now.Add(301 * time.Second), 1},
		{now.Add(time.Hour), 0},
	}
	for _, tt := range tests {
		got, err := s.ActiveSessions(ctx, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("ActiveSessions(now%+v) = %d, want %d", tt.at.Sub(now), got, tt.want)
		}
		list, err := s.List(ctx, ListOptions{ActiveOnly: true, Now: tt.at})
		if err != nil || len(list) != tt.want {
			t.Errorf("List(ActiveOnly, now%+v) = %d sessions, %v; want %d", tt.at.Sub(now), len(list), err, tt.want)
		}
		for _, sess := range list {
			if !sess.Active(tt.at) {
				t.Errorf("List(ActiveOnly) returned %s, which is not Active", sess.ID)
			}
		}
	}

	// EndSession: idempotent, unknown ids refused, a new turn reopens.
	if err := s.EndSession(ctx, "ended-fresh"); err != nil {
		t.Errorf("ending an ended session: %v", err)
	}
	if err := s.EndSession(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ending an unknown session: %v, want ErrNotFound", err)
	}
	sess, _, _ := s.Get(ctx, "ended-fresh")
	if sess.EndedAt == nil || !sess.EndedAt.Equal(t0) {
		t.Errorf("EndedAt = %v, want the clock's %v", sess.EndedAt, t0)
	}
	tr := turn("ended-fresh", "again", "yes", nil)
	tr.At = now
	appendTurn(t, s, tr)
	if got, _ := s.ActiveSessions(ctx, now); got != 5 {
		t.Errorf("after a turn on the ended session ActiveSessions = %d, want 5", got)
	}
}

func TestListOrderAndPaging(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	// Started in order a..e; the last activity moves d, then b, forward.
	ids := []string{"a", "b", "c", "d", "e"}
	for i, id := range ids {
		tr := turn(id, "hi "+id, "hello", nil)
		tr.At = t0.Add(time.Duration(i) * time.Second)
		appendTurn(t, s, tr)
	}
	for i, id := range []string{"d", "b"} {
		tr := turn(id, "more", "ok", nil)
		tr.At = t0.Add(time.Minute + time.Duration(i)*time.Second)
		appendTurn(t, s, tr)
	}
	tests := []struct {
		o    ListOptions
		want []string
	}{
		{ListOptions{}, []string{"b", "d", "e", "c", "a"}},
		{ListOptions{Limit: 2}, []string{"b", "d"}},
		{ListOptions{Limit: 2, Offset: 2}, []string{"e", "c"}},
		{ListOptions{Offset: 4}, []string{"a"}},
		{ListOptions{Offset: 9}, nil},
	}
	for _, tt := range tests {
		list, err := s.List(ctx, tt.o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sess := range list {
			got = append(got, sess.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("List(%+v) = %q, want %q", tt.o, got, tt.want)
		}
	}
}

func TestGetUnknown(t *testing.T) {
	s, _ := openStore(t, nil)
	if _, _, err := s.Get(context.Background(), "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(unknown): %v, want ErrNotFound", err)
	}
}

// A turn that fails halfway leaves nothing behind.
func TestAppendTurnIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	appendTurn(t, s, turn("s1", "hi", "hello", &Usage{1, 1, 2}))
	// Make the second message of the next turn fail inside the
	// transaction: a trigger refuses it.
	if _, err := s.w.Exec(`CREATE TEMP TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.content = 'boom'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	err := s.AppendTurn(ctx, turn("s1", "fine", "boom", &Usage{5, 5, 10}))
	if err == nil {
		t.Fatal("the turn went through the trigger")
	}
	sess, msgs, _ := s.Get(ctx, "s1")
	if sess.MessageCount != 2 || len(msgs) != 2 || sess.TotalTokens != 2 {
		t.Errorf("after a failed turn: count %d, %d messages, %d tokens; want 2, 2, 2", sess.MessageCount, len(msgs), sess.TotalTokens)
	}
}
