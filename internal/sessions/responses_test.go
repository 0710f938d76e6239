package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// respond records a Responses API turn the way the gateway does: the
// input and the output carry the response id, then the response itself.
func respond(t *testing.T, s *Store, session, id, prev, input, output string) {
	t.Helper()
	ctx := context.Background()
	if err := s.AppendTurn(ctx, Turn{
		SessionID: session, Profile: "default", Model: "m",
		Messages: []Message{
			{Role: RoleUser, Content: input, ResponseID: id},
			{Role: RoleAssistant, Content: output, ResponseID: id},
		},
		Usage: &Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResponse(ctx, Response{
		ID: id, SessionID: session, PreviousResponseID: prev, Status: "completed",
		OutputText: output, Model: "m", Usage: &Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
	}); err != nil {
		t.Fatal(err)
	}
}

func contents(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Content)
	}
	return out
}

func TestResponseChains(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openStore(t, clk)

	respond(t, s, "sess_1", "resp_1", "", "q1", "a1")
	respond(t, s, "sess_1", "resp_2", "resp_1", "q2", "a2")
	respond(t, s, "sess_1", "resp_3", "resp_2", "q3", "a3")
	// A branch: another continuation of resp_1, in the same session.
	respond(t, s, "sess_1", "resp_4", "resp_1", "q2'", "a2'")
	// A chat-completions turn in the same session, then a continuation.
	appendTurn(t, s, turn("sess_1", "plain", "reply", nil))
	respond(t, s, "sess_1", "resp_5", "resp_4", "q3'", "a3'")
	// Another session.
	respond(t, s, "sess_2", "resp_6", "", "other", "answer")

	check := func(s *Store) {
		t.Helper()
		tests := []struct {
			id   string
			want []string
		}{
			{"resp_1", []string{"q1", "a1"}},
			{"resp_2", []string{"q1", "a1", "q2", "a2"}},
			{"resp_3", []string{"q1", "a1", "q2", "a2", "q3", "a3"}},
			{"resp_4", []string{"q1", "a1", "q2'", "a2'"}},
			{"resp_5", []string{"q1", "a1", "q2'", "a2'", "plain", "reply", "q3'", "a3'"}},
			{"resp_6", []string{"other", "answer"}},
		}
		for _, tt := range tests {
			msgs, err := s.ResponseChain(ctx, "default", tt.id)
			if err != nil {
				t.Errorf("ResponseChain(%s): %v", tt.id, err)
				continue
			}
			if got := contents(msgs); !slices.Equal(got, tt.want) {
				t.Errorf("ResponseChain(%s) = %q, want %q", tt.id, got, tt.want)
			}
			// Its input: the same without its own output.
			in, err := s.ResponseInput(ctx, "default", tt.id)
			if got, want := contents(in), tt.want[:len(tt.want)-1]; err != nil || !slices.Equal(got, want) {
				t.Errorf("ResponseInput(%s) = %q, %v; want %q", tt.id, got, err, want)
			}
		}
		r, err := s.GetResponse(ctx, "default", "resp_2")
		want := Response{ID: "resp_2", SessionID: "sess_1", PreviousResponseID: "resp_1", CreatedAt: t0, Status: "completed", OutputText: "a2", Model: "m"}
		if err != nil || r.Usage == nil || *r.Usage != (Usage{3, 4, 7}) {
			t.Fatalf("GetResponse(resp_2) = %+v, %v", r, err)
		}
		r.Usage = nil
		if r != want {
			t.Errorf("GetResponse(resp_2) = %+v\nwant                     %+v", r, want)
		}
	}
	check(s)

	// Survives a restart of the gateway.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check(s2)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	check(ro)

	// Unknown ids.
	if _, err := s2.GetResponse(ctx, "default", "resp_x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetResponse(unknown): %v, want ErrNotFound", err)
	}
	if _, err := s2.ResponseChain(ctx, "default", "resp_x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResponseChain(unknown): %v, want ErrNotFound", err)
	}
	if _, err := s2.ResponseInput(ctx, "default", "resp_x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResponseInput(unknown): %v, want ErrNotFound", err)
	}
	if err := s2.DeleteResponse(ctx, "default", "resp_x"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrDeleted) {
		t.Errorf("DeleteResponse(unknown): %v, want ErrNotFound only", err)
	}

	// Delete: no longer continuable; its descendants still are; the
	// messages stay in the session.
	if err := s2.DeleteResponse(ctx, "default", "resp_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.ResponseChain(ctx, "default", "resp_2"); !errors.Is(err, ErrDeleted) || !errors.Is(err, ErrNotFound) {
		t.Errorf("ResponseChain(deleted): %v, want ErrDeleted (and ErrNotFound)", err)
	}
	if err := s2.DeleteResponse(ctx, "default", "resp_2"); !errors.Is(err, ErrDeleted) {
		t.Errorf("DeleteResponse twice: %v, want ErrDeleted", err)
	}
	if _, err := s2.ResponseInput(ctx, "default", "resp_2"); !errors.Is(err, ErrDeleted) {
		t.Errorf("ResponseInput(deleted): %v, want ErrDeleted", err)
	}
	if r, err := s2.GetResponse(ctx, "default", "resp_2"); !errors.Is(err, ErrDeleted) || !errors.Is(err, ErrNotFound) || r.ID != "resp_2" || !r.Deleted {
		t.Errorf("GetResponse(deleted) = %+v, %v; want it marked deleted, and ErrDeleted", r, err)
	}
	if msgs, err := s2.ResponseChain(ctx, "default", "resp_3"); err != nil || len(msgs) != 6 {
		t.Errorf("ResponseChain(child of deleted) = %d messages, %v; want 6", len(msgs), err)
	}
	// A Put of a deleted response (a late status update) keeps it deleted.
	if err := s2.PutResponse(ctx, Response{ID: "resp_2", SessionID: "sess_1", Status: "completed"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s2.GetResponse(ctx, "default", "resp_2"); !r.Deleted || !errors.Is(err, ErrDeleted) {
		t.Error("PutResponse undeleted a response")
	}
	if _, msgs, _ := s2.Get(ctx, "sess_1"); len(msgs) != 12 {
		t.Errorf("session sess_1 has %d messages, want 12", len(msgs))
	}
}

func TestPutResponseUpdates(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openStore(t, clk)
	// In progress before the session exists, completed later.
	if err := s.PutResponse(ctx, Response{ID: "resp_1", SessionID: "sess_new", Conversation: "conv_a", Status: "in_progress"}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := s.PutResponse(ctx, Response{ID: "resp_1", SessionID: "sess_new", Conversation: "conv_a", Status: "completed", OutputText: "done", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	// Until its session is recorded, it is no profile's.
	if _, err := s.GetResponse(ctx, "default", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetResponse before its session is recorded: %v, want ErrNotFound", err)
	}
	appendTurn(t, s, turn("sess_new", "q", "a", nil))
	r, err := s.GetResponse(ctx, "default", "resp_1")
	want := Response{ID: "resp_1", SessionID: "sess_new", Conversation: "conv_a", CreatedAt: t0, Status: "completed", OutputText: "done", Model: "m"}
	if err != nil || r != want {
		t.Errorf("GetResponse = %+v, %v\nwant           %+v", r, err, want)
	}
	// No messages of its own: the chain is empty, not an error.
	if msgs, err := s.ResponseChain(ctx, "default", "resp_1"); err != nil || len(msgs) != 0 {
		t.Errorf("ResponseChain without messages = %v, %v", msgs, err)
	}
	bad := []Response{
		{ID: "", SessionID: "s"},
		{ID: "resp 1", SessionID: "s"},
		{ID: "resp_1", SessionID: ""},
		{ID: "resp_1", SessionID: "s", PreviousResponseID: "a/b"},
		{ID: "resp_1", SessionID: "s", Conversation: "x\n"},
	}
	for _, r := range bad {
		if err := s.PutResponse(ctx, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutResponse(%+v): %v, want ErrInvalid", r, err)
		}
	}
}

// A previous_response_id cycle (which the gateway never makes) ends the
// walk instead of looping.
func TestResponseChainCycle(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	respond(t, s, "s", "resp_a", "resp_b", "qa", "aa")
	respond(t, s, "s", "resp_b", "resp_a", "qb", "ab")
	msgs, err := s.ResponseChain(ctx, "default", "resp_b")
	if got, want := contents(msgs), []string{"qa", "aa", "qb", "ab"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ResponseChain in a cycle = %q, %v; want %q", got, err, want)
	}
}

func TestConversationSession(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, nil)
	a1, err := s.ConversationSession(ctx, "default", "conv_a")
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidSessionID(a1); err != nil {
		t.Errorf("the session id of a conversation is invalid: %v", err)
	}
	a2, _ := s.ConversationSession(ctx, "default", "conv_a")
	b, _ := s.ConversationSession(ctx, "default", "conv_b")
	if a1 != a2 || a1 == b {
		t.Errorf("conv_a → %s then %s, conv_b → %s; want the same session twice and another one", a1, a2, b)
	}
	if _, err := s.ConversationSession(ctx, "default", "no spaces"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad name: %v, want ErrInvalid", err)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if a3, _ := s2.ConversationSession(ctx, "default", "conv_a"); a3 != a1 {
		t.Errorf("after a restart conv_a → %s, want %s", a3, a1)
	}
}

// The input of a response of a named conversation is every earlier
// message of the conversation's session (its history), then its own
// input; FindConversation reads a conversation without making one.
func TestResponseInputOfConversation(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	if _, err := s.FindConversation(ctx, "default", "proj"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindConversation before any use: %v, want ErrNotFound", err)
	}
	if _, err := s.FindConversation(ctx, "default", "proj"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindConversation made the conversation it looked for: %v", err)
	}
	sid, err := s.ConversationSession(ctx, "default", "proj")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindConversation(ctx, "default", "proj"); err != nil || got != sid {
		t.Errorf("FindConversation = %q, %v; want %q", got, err, sid)
	}
	for i, q := range []string{"q1", "q2", "q3"} {
		id := fmt.Sprintf("resp_c%d", i+1)
		if err := s.AppendTurn(ctx, Turn{SessionID: sid, Profile: "default", Model: "m", Messages: []Message{
			{Role: RoleSystem, Content: "sys " + q, ResponseID: id},
			{Role: RoleUser, Content: q, ResponseID: id},
			{Role: RoleAssistant, Content: "a" + q[1:], ResponseID: id},
		}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutResponse(ctx, Response{ID: id, SessionID: sid, Conversation: "proj", Status: "completed"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		id   string
		want []string
	}{
		{"resp_c1", []string{"sys q1", "q1"}},
		{"resp_c2", []string{"sys q1", "q1", "a1", "sys q2", "q2"}},
		{"resp_c3", []string{"sys q1", "q1", "a1", "sys q2", "q2", "a2", "sys q3", "q3"}},
	} {
		in, err := s.ResponseInput(ctx, "default", tt.id)
		if got := contents(in); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ResponseInput(%s) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
}

func TestWritable(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, nil)
	if err := s.Writable(ctx); err != nil {
		t.Errorf("Writable on a fresh store: %v", err)
	}
	appendTurn(t, s, turn("sess_w", "q", "a", nil))
	if _, msgs, _ := s.Get(ctx, "sess_w"); len(msgs) != 2 {
		t.Errorf("after Writable, a turn has %d messages, want 2 (nothing left open)", len(msgs))
	}
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Writable(ctx); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Writable on a read-only store: %v, want ErrReadOnly", err)
	}
	s.Close()
	if err := s.Writable(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Writable on a closed store: %v, want ErrClosed", err)
	}
}

// Two profiles on one store (a state.db copied by hermes profile create
// --clone-all): every lookup by id sees only the profile's own rows, and
// another profile's response reads exactly as an unknown one.
func TestResponsesOfAnotherProfile(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, nil)
	respond(t, s, "sess_1", "resp_1", "", "secret q", "secret a")
	sid, err := s.ConversationSession(ctx, "default", "proj")
	if err != nil {
		t.Fatal(err)
	}
	appendTurn(t, s, turn(sid, "conversation q", "conversation a", nil))
	// A conversation named but never recorded (its first turn failed).
	empty, err := s.ConversationSession(ctx, "default", "unused")
	if err != nil {
		t.Fatal(err)
	}

	notFound := func(what string, err, unknown error) {
		t.Helper()
		if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrDeleted) {
			t.Errorf("%s of another profile: %v, want ErrNotFound", what, err)
		}
		if err != nil && unknown != nil && strings.ReplaceAll(unknown.Error(), "resp_x", "resp_1") != err.Error() {
			t.Errorf("%s of another profile says %q, an unknown one %q: they must read the same", what, err, unknown)
		}
	}
	_, err = s.GetResponse(ctx, "other", "resp_1")
	_, unknown := s.GetResponse(ctx, "other", "resp_x")
	notFound("GetResponse", err, unknown)
	_, err = s.ResponseChain(ctx, "other", "resp_1")
	_, unknown = s.ResponseChain(ctx, "other", "resp_x")
	notFound("ResponseChain", err, unknown)
	_, err = s.ResponseInput(ctx, "other", "resp_1")
	_, unknown = s.ResponseInput(ctx, "other", "resp_x")
	notFound("ResponseInput", err, unknown)
	notFound("DeleteResponse", s.DeleteResponse(ctx, "other", "resp_1"), s.DeleteResponse(ctx, "other", "resp_x"))
	if r, err := s.GetResponse(ctx, "default", "resp_1"); err != nil || r.Deleted || r.OutputText != "secret a" {
		t.Errorf("after another profile's DeleteResponse, the owner reads %+v, %v; want it untouched", r, err)
	}

	_, err = s.FindConversation(ctx, "other", "proj")
	if !errors.Is(err, ErrOtherProfile) || !errors.Is(err, ErrNotFound) {
		t.Errorf("FindConversation of another profile's conversation: %v, want ErrOtherProfile", err)
	}
	if got, err := s.ConversationSession(ctx, "other", "proj"); !errors.Is(err, ErrOtherProfile) || got != "" {
		t.Errorf("ConversationSession of another profile's conversation = %q, %v; want ErrOtherProfile and no session", got, err)
	}
	if got, err := s.ConversationSession(ctx, "default", "proj"); err != nil || got != sid {
		t.Errorf("ConversationSession of the owner = %q, %v; want %q", got, err, sid)
	}
	if got, err := s.FindConversation(ctx, "other", "unused"); err != nil || got != empty {
		t.Errorf("FindConversation of a conversation without a session = %q, %v; want %q (anybody's)", got, err, empty)
	}

	if err := s.CheckSession(ctx, "other", "sess_1"); !errors.Is(err, ErrOtherProfile) {
		t.Errorf("CheckSession of another profile's session: %v, want ErrOtherProfile", err)
	}
	for _, id := range []string{"sess_1", "sess_never"} {
		if err := s.CheckSession(ctx, "default", id); err != nil {
			t.Errorf("CheckSession(default, %s): %v, want nil", id, err)
		}
	}
	if err := s.CheckSession(ctx, "other", "sess_never"); err != nil {
		t.Errorf("CheckSession of an unknown session: %v, want nil", err)
	}

	// The profile is required: "" is no wildcard.
	for name, err := range map[string]error{
		"GetResponse":         func() error { _, err := s.GetResponse(ctx, "", "resp_1"); return err }(),
		"ResponseChain":       func() error { _, err := s.ResponseChain(ctx, "", "resp_1"); return err }(),
		"ResponseInput":       func() error { _, err := s.ResponseInput(ctx, "", "resp_1"); return err }(),
		"DeleteResponse":      s.DeleteResponse(ctx, "", "resp_1"),
		"FindConversation":    func() error { _, err := s.FindConversation(ctx, "", "proj"); return err }(),
		"ConversationSession": func() error { _, err := s.ConversationSession(ctx, "", "proj"); return err }(),
		"CheckSession":        s.CheckSession(ctx, "", "sess_1"),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s without a profile: %v, want ErrInvalid", name, err)
		}
	}
}
