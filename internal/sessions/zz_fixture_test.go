package sessions

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestMakeV1Fixture(t *testing.T) {
	path := os.Getenv("FIXTURE_OUT")
	if path == "" {
		t.Skip()
	}
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{Clock: func() time.Time { return base.Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, id := range []string{"sess_fixtureaaaaaaaaaaaaaaaaaa", "client-chosen:1", "sess_fixturebbbbbbbbbbbbbbbbbb"} {
		at := base.Add(time.Duration(i) * time.Hour)
		err := s.AppendTurn(ctx, Turn{SessionID: id, Profile: "default", Model: "gpt-4o-mini", At: at, Usage: &Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30},
			Messages: []Message{
				{Role: RoleSystem, Content: "be brief"},
				{Role: RoleUser, Content: "hello 100% _literal_ 'quoted' \"double\" number " + id, Raw: json.RawMessage(`[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]`)},
				{Role: RoleAssistant, Content: "", Raw: json.RawMessage(`{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]}`)},
				{Role: RoleTool, Content: "tool result 42", Raw: json.RawMessage(`{"tool_call_id":"call_1"}`)},
				{Role: RoleAssistant, Content: "# Answer\n\n- one\n- two\n\n```go\nfmt.Println(1)\n```\n"},
			}})
		if err != nil {
			t.Fatal(err)
		}
		err = s.AppendTurn(ctx, Turn{SessionID: id, Profile: "default", Model: "gpt-4o", At: at.Add(time.Minute),
			Messages: []Message{{Role: RoleUser, Content: "second turn", ResponseID: "resp_fixture" + string(rune('a'+i))}, {Role: RoleAssistant, Content: "second answer", ResponseID: "resp_fixture" + string(rune('a'+i))}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutResponse(ctx, Response{ID: "resp_fixture" + string(rune('a'+i)), SessionID: id, Status: "completed", OutputText: "second answer", Model: "gpt-4o", CreatedAt: at.Add(time.Minute), Usage: &Usage{1, 2, 3}}); err != nil {
			t.Fatal(err)
		}
	}
	cid, err := s.ConversationSession(ctx, "conv-fixture")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTurn(ctx, Turn{SessionID: cid, Profile: "default", Model: "gpt-4o", At: base.Add(5 * time.Hour), Messages: []Message{{Role: RoleUser, Content: "in a conversation"}, {Role: RoleAssistant, Content: "yes"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, "sess_fixtureaaaaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
