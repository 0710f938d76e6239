package agent

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// checkRefusal fails unless err is a 400 with a message and a code.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	status, body := errorStatus(err)
	if status != http.StatusBadRequest || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("refusal %v has status %d, want 400", err, status)
	}
	if body.Error.Message == "" || body.Error.Code == "" || len(body.Error.Message) > 2000 {
		t.Fatalf("refusal without a clear message: %+v", body.Error)
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"hermes-coder","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"r"}]}`,
		`{"model":"m","messages":[{"role":"user","content":5}]}`,
		`{"model":"","messages":[]}`, `[]`, `null`, ``, `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`,
		"{\"model\":\"\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChatRequest(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("accepted without model or messages: %q", body)
		}
		up, err := req.forUpstream("upstream-model", systemMessage(testSOUL))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		var got struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content any    `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(up, &got); err != nil {
			t.Fatalf("upstream body is not JSON: %v\n%s", err, up)
		}
		if got.Model != "upstream-model" || len(got.Messages) != len(req.Messages)+1 || got.Messages[0].Role != "system" || got.Messages[0].Content != testSOUL {
			t.Fatalf("upstream body does not start with SOUL.md and the client's messages: %s", up)
		}
	})
}

func FuzzDecodeResponsesRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"hermes-coder","input":"hi"}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"data:x"}]}],"instructions":"be nice","stream":true,"store":false}`,
		`{"model":"m","input":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]}],"previous_response_id":"resp_x"}`,
		`{"model":"m","input":"x","conversation":{"id":"c1"},"temperature":0.2,"max_output_tokens":10,"reasoning":{"effort":"low"},"text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`,
		`{"model":"m","input":"x","conversation":"bad name"}`,
		`{"model":"m","input":[{"type":"function_call"}]}`, `{"model":"m","input":[]}`, `{"model":"m","input":"x","tools":[{}]}`,
		`{"model":"m","input":"x","previous_response_id":"r","conversation":"c"}`, `{}`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeResponsesRequest(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if req.Model == "" || len(req.Input) == 0 {
			t.Fatalf("accepted without model or input: %q", body)
		}
		if req.Conversation != "" && sessions.ValidSessionID(req.Conversation) != nil {
			t.Fatalf("accepted conversation %q", req.Conversation)
		}
		for _, m := range req.Input {
			var msg struct {
				Role string `json:"role"`
			}
			if err := json.Unmarshal(m.chatJSON(), &msg); err != nil || msg.Role == "" || !chatRoles[msg.Role] {
				t.Fatalf("input became an invalid chat message: %s", m.chatJSON())
			}
			if storedRole(m.role) != "system" && storedRole(m.role) != "user" && storedRole(m.role) != "assistant" {
				t.Fatalf("input role %q cannot be stored", m.role)
			}
		}
		if _, err := json.Marshal(req.params); err != nil {
			t.Fatalf("parameters do not encode: %v", err)
		}
	})
}

// Any value of X-Hermes-Session-Id is either a valid session id, carried
// through, or a 400 that says what is wrong; never a panic nor another
// status.
func FuzzSessionHeader(f *testing.F) {
	for _, s := range []string{"sess_abc", "my-session.1:2", "", " ", "a b", strings.Repeat("x", 129), "é", "sess\x00", "../../etc"} {
		f.Add(s)
	}
	p := newProfile(f, profileOpts{noDB: true})
	h := p.agent.Handler()
	f.Fuzz(func(t *testing.T, v string) {
		// A body refused after the header is checked: the upstream is
		// never called.
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[]}`))
		r.Header.Set("Authorization", "Bearer "+testKey)
		r.Header[SessionHeader] = []string{v}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		valid := sessions.ValidSessionID(v) == nil
		var e envelope
		json.Unmarshal(rec.Body.Bytes(), &e)
		switch {
		case valid && (rec.Code != 400 || e.Error.Code != "invalid_request"):
			t.Fatalf("valid id %q: %d %s, want it accepted (then 400 for the empty messages)", v, rec.Code, rec.Body)
		case !valid && (rec.Code != 400 || e.Error.Code != "invalid_session_id" || !strings.Contains(e.Error.Message, SessionHeader)):
			t.Fatalf("invalid id %q: %d %s, want 400 invalid_session_id", v, rec.Code, rec.Body)
		}
		id, given, err := sessionID(r)
		if valid != (err == nil) || valid && (id != v || !given) {
			t.Fatalf("sessionID(%q) = %q, %v, %v", v, id, given, err)
		}
	})
}

// withFields splices members into an object: on any valid JSON object its
// result is valid JSON that decodes as the object with the members set
// (or taken out); on anything else it fails without a panic.
func FuzzWithFields(f *testing.F) {
	for _, s := range []string{
		chunkJSON("hello ", true, ""), usageChunk(3, 4), `{}`, `{"id":"x"}`, ` { "id" : "x" , "a":[1,{"b":"}"}] } `,
		`{"\u0069d":1,"id":2}`, `{"a":"\"}\\"}`, `[]`, `"s"`, `{"a":}`, `{"a":1`, `{"a" 1}`, `{,}`, `null`, `{"model":null,"usage":{"x":[]}}`,
	} {
		f.Add([]byte(s))
	}
	set := []field{{"id", mustJSON("chatcmpl-x")}, {"model", mustJSON("gpt-4o")}, {"usage", nil}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := withFields(data, set)
		var in map[string]json.RawMessage
		if !json.Valid(data) || json.Unmarshal(data, &in) != nil || in == nil {
			if err == nil && !json.Valid(data) {
				return // not JSON: withFields' input is always JSON, any result will do
			}
			if err == nil && in == nil {
				t.Fatalf("withFields(%q) accepted what is not an object: %q", data, out)
			}
			return
		}
		if err != nil {
			t.Fatalf("withFields(%q) = %v", data, err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("withFields(%q) = %q, not JSON: %v", data, out, err)
		}
		in["id"], in["model"] = set[0].value, set[1].value
		delete(in, "usage")
		if len(got) != len(in) {
			t.Fatalf("withFields(%q) = %q, want the members %v", data, out, in)
		}
		for k, v := range in {
			if compact(got[k]) != compact(v) {
				t.Fatalf("withFields(%q) = %q: %s is %s, want %s", data, out, k, got[k], v)
			}
		}
	})
}
