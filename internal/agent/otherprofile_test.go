package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// copyStore copies a closed store's files, as hermes profile create
// --clone-all copies state.db.
func copyStore(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		src, err := os.Open(from + suffix)
		if suffix != "" && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(to + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// notFoundAnswer is what a test reads of an error answer.
type notFoundAnswer struct {
	Status                     int
	Message, Type, Code, Param string
	Session                    string // the X-Hermes-Session-Id of the answer
}

func errorAnswer(t *testing.T, p *testProfile, method, path, body string, hdr ...string) (notFoundAnswer, string) {
	t.Helper()
	resp, b := p.call(t, method, path, body, hdr...)
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    string  `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == "" {
		t.Fatalf("%s %s: %d, not an error envelope: %s", method, path, resp.StatusCode, b)
	}
	a := notFoundAnswer{Status: resp.StatusCode, Message: e.Error.Message, Type: e.Error.Type, Code: e.Error.Code, Session: resp.Header.Get(SessionHeader)}
	if e.Error.Param != nil {
		a.Param = *e.Error.Param
	}
	return a, string(b)
}

// Two profiles on one store: profile "other" serves a copy of coder's
// state.db (hermes profile create --clone-all). Whatever id of coder's it
// is given (a response, a conversation, a session), its gateway answers as
// for an unknown id, never with coder's data, never calls the upstream
// for it and never writes into coder's sessions.
func TestAnotherProfilesRowsReadAsUnknown(t *testing.T) {
	ctx := context.Background()
	coder := newProfile(t, profileOpts{})

	// coder's rows: a response, a response of a named conversation, a
	// chat completions session.
	resp, b := coder.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"coder secret one"}`)
	var r1 struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &r1) != nil || r1.ID == "" {
		t.Fatalf("coder's response: %d %s", resp.StatusCode, b)
	}
	respSession := resp.Header.Get(SessionHeader)
	resp, b = coder.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"coder secret two","conversation":"proj"}`)
	var r2 struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &r2) != nil || r2.ID == "" {
		t.Fatalf("coder's conversation: %d %s", resp.StatusCode, b)
	}
	convSession := resp.Header.Get(SessionHeader)
	if resp, b := coder.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("coder secret three")), SessionHeader, "coder-chat"); resp.StatusCode != 200 {
		t.Fatalf("coder's chat: %d %s", resp.StatusCode, b)
	}
	coder.session(t, "coder-chat", 2)
	owned := map[string]int{respSession: 2, convSession: 2, "coder-chat": 2}

	// The copy, served by profile other.
	src := filepath.Join(coder.dir, "state.db")
	if err := coder.store.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "state.db")
	copyStore(t, src, dst)
	st, err := sessions.Open(dst, sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other := newProfile(t, profileOpts{noDB: true, mod: func(c *Config) { c.Profile, c.Store = "other", st }})
	other.store = st

	// same checks that a request for coder's id is answered exactly as
	// the same request for an unknown id (unknown), the ids aside.
	same := func(name string, got notFoundAnswer, body, id string, unknown notFoundAnswer, unknownID string, status int, code string) {
		t.Helper()
		if got.Status != status || got.Code != code {
			t.Errorf("%s: %d %s, want %d %s: %s", name, got.Status, got.Code, status, code, body)
		}
		norm := got
		norm.Message = strings.ReplaceAll(got.Message, id, "ID")
		unknown.Message = strings.ReplaceAll(unknown.Message, unknownID, "ID")
		if norm != unknown {
			t.Errorf("%s: answered %+v, an unknown id %+v: they must read the same", name, norm, unknown)
		}
		if strings.Contains(body, "coder secret") || got.Session != "" {
			t.Errorf("%s: the answer tells of coder's data (session header %q): %s", name, got.Session, body)
		}
	}
	const unknownResp = "resp_unknownunknownunknown1"
	for _, tt := range []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"GET a response", "GET", "/v1/responses/{id}", 404, "response_not_found"},
		{"its input items", "GET", "/v1/responses/{id}/input_items", 404, "response_not_found"},
		{"its input items, a page", "GET", "/v1/responses/{id}/input_items?limit=1&order=asc", 404, "response_not_found"},
		{"DELETE a response", "DELETE", "/v1/responses/{id}", 404, "response_not_found"},
	} {
		unknown, _ := errorAnswer(t, other, tt.method, strings.ReplaceAll(tt.path, "{id}", unknownResp), "")
		for _, id := range []string{r1.ID, r2.ID} {
			got, body := errorAnswer(t, other, tt.method, strings.ReplaceAll(tt.path, "{id}", id), "")
			same(tt.name, got, body, id, unknown, unknownResp, tt.status, tt.code)
		}
	}

	// Continuing coder's response: previous_response_not_found, as for
	// an unknown one, streamed or not, with or without a session header.
	for _, extra := range []string{``, `,"stream":true`, `,"store":false`} {
		req := func(id string) string {
			return `{"model":"hermes-agent","input":"continue","previous_response_id":"` + id + `"` + extra + `}`
		}
		unknown, _ := errorAnswer(t, other, "POST", "/v1/responses", req(unknownResp))
		got, body := errorAnswer(t, other, "POST", "/v1/responses", req(r1.ID))
		same("previous_response_id"+extra, got, body, r1.ID, unknown, unknownResp, 400, "previous_response_not_found")
	}
	if got, body := errorAnswer(t, other, "POST", "/v1/responses", `{"model":"hermes-agent","input":"continue","previous_response_id":"`+r1.ID+`"}`, SessionHeader, respSession); got.Status != 404 || got.Code != "session_not_found" {
		t.Errorf("previous_response_id and the header of its session: %+v, want 404 session_not_found: %s", got, body)
	}

	// coder's conversation: 404, whether the request would keep the turn
	// or not, streamed or not.
	for _, extra := range []string{``, `,"stream":true`, `,"store":false`, `,"conversation":{"id":"proj"}`} {
		body := `{"model":"hermes-agent","input":"join","conversation":"proj"` + extra + `}`
		if strings.Contains(extra, "conversation") {
			body = `{"model":"hermes-agent","input":"join"` + extra + `}`
		}
		got, b := errorAnswer(t, other, "POST", "/v1/responses", body)
		if got.Status != 404 || got.Code != "conversation_not_found" || got.Param != "conversation" || got.Message != `conversation "proj" not found` {
			t.Errorf("conversation of coder%s: %+v, want 404 conversation_not_found: %s", extra, got, b)
		}
		if strings.Contains(b, "coder secret") || got.Session != "" {
			t.Errorf("conversation of coder%s: the answer tells of coder's data: %s", extra, b)
		}
	}

	// coder's sessions named by X-Hermes-Session-Id: the sessions API's
	// 404 for an unknown session, on every route that takes a turn.
	for _, sid := range []string{respSession, convSession, "coder-chat"} {
		unknown, _ := errorAnswer(t, other, "GET", "/v1/sessions/sess-unknown", "")
		got, body := errorAnswer(t, other, "GET", "/v1/sessions/"+sid, "")
		same("GET /v1/sessions of coder's", got, body, sid, unknown, "sess-unknown", 404, "session_not_found")
		for _, tt := range []struct{ name, path, body string }{
			{"chat", "/v1/chat/completions", chatBody("hermes-agent", false, user("hello"))},
			{"chat, streamed", "/v1/chat/completions", chatBody("hermes-agent", true, user("hello"))},
			{"responses", "/v1/responses", `{"model":"hermes-agent","input":"hello"}`},
			{"responses, streamed", "/v1/responses", `{"model":"hermes-agent","input":"hello","stream":true}`},
			{"responses, store: false", "/v1/responses", `{"model":"hermes-agent","input":"hello","store":false}`},
		} {
			got, body := errorAnswer(t, other, "POST", tt.path, tt.body, SessionHeader, sid)
			same(tt.name+" in coder's session", got, body, sid, unknown, "sess-unknown", 404, "session_not_found")
		}
	}

	if n := len(other.up.requests()); n != 0 {
		t.Errorf("the upstream was called %d times for coder's ids, want never", n)
	}
	// Nothing of coder's changed, nothing was added under coder's ids.
	for sid, n := range owned {
		sess, msgs, err := st.Get(ctx, sid)
		if err != nil || sess.Profile != "coder" || len(msgs) != n {
			t.Errorf("coder's session %s: %+v, %d messages, %v; want coder's, %d messages", sid, sess, len(msgs), err, n)
		}
	}
	for _, id := range []string{r1.ID, r2.ID} {
		if r, err := st.GetResponse(ctx, "coder", id); err != nil || r.Deleted {
			t.Errorf("coder's response %s after other's requests: %+v, %v; want it kept", id, r, err)
		}
	}
	if sid, err := st.FindConversation(ctx, "coder", "proj"); err != nil || sid != convSession {
		t.Errorf("coder's conversation after other's requests: %q, %v; want %q", sid, err, convSession)
	}
	if list, err := st.List(ctx, sessions.ListOptions{Profile: "other"}); err != nil || len(list) != 0 {
		t.Errorf("other recorded sessions %+v, %v; want none", list, err)
	}

	// other's own work on the same store goes on as usual.
	resp, b = other.call(t, "POST", "/v1/responses", `{"model":"hermes-agent","input":"mine"}`)
	var mine struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &mine) != nil {
		t.Fatalf("other's own response: %d %s", resp.StatusCode, b)
	}
	if resp, b := other.call(t, "POST", "/v1/responses", `{"model":"hermes-agent","input":"more","previous_response_id":"`+mine.ID+`"}`); resp.StatusCode != 200 {
		t.Errorf("continuing other's own response: %d %s", resp.StatusCode, b)
	}
	for _, path := range []string{"/v1/responses/" + mine.ID, "/v1/responses/" + mine.ID + "/input_items"} {
		if resp, b := other.call(t, "GET", path, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s of other's own: %d %s", path, resp.StatusCode, b)
		}
	}
	if resp, b := other.call(t, "POST", "/v1/responses", `{"model":"hermes-agent","input":"x","conversation":"other-proj"}`); resp.StatusCode != 200 {
		t.Errorf("other's own conversation: %d %s", resp.StatusCode, b)
	}
	if resp, b := other.call(t, "POST", "/v1/chat/completions", chatBody("hermes-agent", false, user("x")), SessionHeader, "other-chat"); resp.StatusCode != 200 {
		t.Errorf("other's own session: %d %s", resp.StatusCode, b)
	}
	if resp, b := other.call(t, "DELETE", "/v1/responses/"+mine.ID, ""); resp.StatusCode != 200 {
		t.Errorf("deleting other's own response: %d %s", resp.StatusCode, b)
	}
}
