package agent

import (
	"testing"
)

// The upstream's request is the client's body with the model, the
// messages (SOUL.md first) and, when streaming, include_usage put in:
// every other byte is the client's.
func TestChatForUpstream(t *testing.T) {
	for _, tc := range []struct {
		name, body, system, want string
	}{
		{"plain", `{"model":"hermes-coder","messages":[{"role":"user","content":"hi"}]}`, "be brief",
			`{"model":"upstream-model","messages":[{"content":"be brief","role":"system"},{"role":"user","content":"hi"}]}`},
		{"no SOUL.md text", `{"messages":[{"role":"user","content":"hi"}],"model":"m"}`, "",
			`{"messages":[{"role":"user","content":"hi"}],"model":"upstream-model"}`},
		{"the client's fields and spacing kept", `{ "temperature" : 0.5, "model":"m", "messages":[ {"role":"user", "content":"<a> & b"} ], "x_extra":{"a": [1, 2]} }`, "s",
			`{"temperature":0.5,"model":"upstream-model","messages":[{"content":"s","role":"system"},{"role":"user", "content":"<a> & b"}],"x_extra":{"a": [1, 2]}}`},
		{"streaming", `{"model":"m","stream":true,"stream_options":{"x":1,"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`, "s",
			`{"model":"upstream-model","stream":true,"stream_options":{"include_usage":true,"x":1},"messages":[{"content":"s","role":"system"},{"role":"user","content":"hi"}]}`},
		{"streaming without options", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "s",
			`{"model":"upstream-model","stream":true,"messages":[{"content":"s","role":"system"},{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeChatRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := req.forUpstream("upstream-model", systemMessage(tc.system))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("forUpstream:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
