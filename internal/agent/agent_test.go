package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

func TestChatRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
	}{
		{"non-streaming", false},
		{"streaming", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile(t, profileOpts{})
			resp, body := p.call(t, "POST", "/v1/chat/completions",
				chatBody("hermes-coder", tt.stream, system("Answer in French."), user("hello there")))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			sid := resp.Header.Get(SessionHeader)
			if err := sessions.ValidSessionID(sid); err != nil {
				t.Fatalf("answer's %s = %q: %v", SessionHeader, sid, err)
			}
			var got string
			if tt.stream {
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("Content-Type = %q, want text/event-stream", ct)
				}
				text, done, errEv := streamText(t, readEvents(t, strings.NewReader(string(body))))
				if !done || errEv != "" {
					t.Fatalf("stream done=%v error=%q:\n%s", done, errEv, body)
				}
				got = text
			} else {
				var c struct {
					Choices []struct {
						Message struct{ Content string } `json:"message"`
					} `json:"choices"`
				}
				if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 {
					t.Fatalf("not a completion: %s", body)
				}
				got = c.Choices[0].Message.Content
			}
			if want := "echo: hello there"; got != want {
				t.Errorf("answer = %q, want %q", got, want)
			}

			up := p.up.last(t)
			if up.Auth != "Bearer "+upstreamKey {
				t.Errorf("upstream Authorization = %q, want the key of model.api_key_env", up.Auth)
			}
			wantMsgs := []testMessage{system(testSOUL), system("Answer in French."), user("hello there")}
			if !reflect.DeepEqual(up.Messages, wantMsgs) {
				t.Errorf("upstream messages = %+v, want %+v", up.Messages, wantMsgs)
			}
			var model string
			json.Unmarshal(up.Body["model"], &model)
			if model != testModel {
				t.Errorf("upstream model = %q, want %q", model, testModel)
			}
			if got, want := compact(up.Body["x_client_extra"]), `{"a":1}`; got != want {
				t.Errorf("unknown field passed on as %s, want %s", got, want)
			}
			if tt.stream && !includeUsage(up) {
				t.Errorf("a stream did not ask the upstream for usage: %s", up.Body["stream_options"])
			}

			sess, msgs := p.session(t, sid, 3)
			var roles []string
			for _, m := range msgs {
				roles = append(roles, m.Role+":"+m.Content)
			}
			wantRoles := []string{"system:Answer in French.", "user:hello there", "assistant:echo: hello there"}
			if !reflect.DeepEqual(roles, wantRoles) {
				t.Errorf("stored messages = %q, want %q", roles, wantRoles)
			}
			if sess.TotalTokens == 0 {
				t.Errorf("stored session has no usage: %+v", sess)
			}
		})
	}
}

func TestStreamUsageOnlyWhenAsked(t *testing.T) {
	tests := []struct {
		name      string
		options   string
		wantUsage bool
	}{
		{"not asked", ``, false},
		{"asked", `,"stream_options":{"include_usage":true}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile(t, profileOpts{})
			resp, body := p.call(t, "POST", "/v1/chat/completions", `{"model":"hermes-coder","stream":true,"messages":[{"role":"user","content":"hi"}]`+tt.options+`}`)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := strings.Contains(string(body), `"completion_tokens"`)
			if got != tt.wantUsage {
				t.Errorf("usage chunk relayed = %v, want %v:\n%s", got, tt.wantUsage, body)
			}
		})
	}
}

func TestSOULChangeTakesEffect(t *testing.T) {
	p := newProfile(t, profileOpts{})
	prompts := []string{"First persona.", "Second persona, longer than the first.", "Third."}
	for i, prompt := range prompts {
		writeFile(t, filepath.Join(p.dir, "SOUL.md"), prompt)
		// Same size and mtime granularity must not hide a change: the
		// stamp holds the inode and ctime too.
		resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
		}
		if got := p.up.last(t).Messages[0]; got != system(prompt) {
			t.Errorf("request %d: first upstream message = %+v, want the new SOUL.md %q", i, got, prompt)
		}
	}
	os.Remove(filepath.Join(p.dir, "SOUL.md"))
	resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
	if resp.StatusCode != 503 || !strings.Contains(string(body), "SOUL.md is missing") {
		t.Errorf("without SOUL.md: status %d %s, want 503 naming SOUL.md", resp.StatusCode, body)
	}
}

// The chat completions API is stateless: a continued session sends its
// history itself, the upstream sees exactly that (after SOUL.md), and
// only the new messages are stored.
func TestChatSessionContinued(t *testing.T) {
	p := newProfile(t, profileOpts{})
	resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("one")))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	sid := resp.Header.Get(SessionHeader)
	p.session(t, sid, 2)
	turn2 := []testMessage{user("one"), asst("echo: one"), user("two")}
	for i, stream := range []bool{false, true} {
		resp, body = p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", stream, turn2...), SessionHeader, sid)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got := resp.Header.Get(SessionHeader); got != sid {
			t.Errorf("stream=%v: answer's session = %q, want the request's %q", stream, got, sid)
		}
		if got, want := p.up.last(t).Messages, append([]testMessage{system(testSOUL)}, turn2...); !reflect.DeepEqual(got, want) {
			t.Errorf("stream=%v: upstream messages = %+v, want %+v", stream, got, want)
		}
		p.session(t, sid, 4+2*i)
	}
	_, msgs := p.session(t, sid, 6)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Role+":"+m.Content)
	}
	want := []string{"user:one", "assistant:echo: one", "user:two", "assistant:echo: two", "user:two", "assistant:echo: two"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored session = %q, want %q", got, want)
	}
}

// GET /v1/models is answered locally: the agent's names, model.name and
// the names model.aliases maps; any other name is served as well.
func TestModels(t *testing.T) {
	p := newProfile(t, profileOpts{config: aliasConfig})
	resp, body := p.call(t, "GET", "/v1/models", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	json.Unmarshal(body, &list)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID+"/"+m.OwnedBy)
	}
	if want := []string{"hermes-coder/hermes", "hermes-agent/hermes", testModel + "/upstream", "fast/upstream", "gpt-4o/upstream"}; list.Object != "list" || !reflect.DeepEqual(ids, want) {
		t.Errorf("models = %s, want a list of %q", body, want)
	}
	if n := len(p.up.requests()); n != 0 {
		t.Errorf("GET /v1/models made %d upstream calls, want none", n)
	}
	for _, id := range []string{"hermes-coder", "hermes-agent", testModel, "fast", "claude-3-opus", "openai/gpt-4o-mini"} {
		resp, body := p.call(t, "GET", "/v1/models/"+id, "")
		var m struct{ ID string }
		json.Unmarshal(body, &m)
		if resp.StatusCode != 200 || m.ID != id {
			t.Errorf("GET /v1/models/%s = %d %s, want 200 with its id", id, resp.StatusCode, body)
		}
	}
}

func TestErrors(t *testing.T) {
	hello := chatBody("hermes-coder", false, user("hello"))
	helloStream := chatBody("hermes-coder", true, user("hello"))
	tests := []struct {
		name     string
		opts     profileOpts
		method   string
		path     string
		body     string
		hdr      []string
		upstream func(w http.ResponseWriter, req upstreamRequest)
		setup    func(t *testing.T, p *testProfile)
		status   int
		code     string
		msg      string // a part of the message
	}{
		{name: "bad json", body: `{"model":`, status: 400, code: "invalid_json", msg: "not valid JSON"},
		{name: "not an object", body: `[1,2]`, status: 400, code: "invalid_json", msg: "must be a JSON object"},
		{name: "empty body", body: ``, status: 400, code: "invalid_json", msg: "empty"},
		{name: "no model", body: `{"messages":[{"role":"user","content":"x"}]}`, status: 400, code: "invalid_request", msg: "model is required"},
		{name: "no messages", body: `{"model":"hermes-coder"}`, status: 400, code: "invalid_request", msg: "messages is required"},
		{name: "empty messages", body: `{"model":"hermes-coder","messages":[]}`, status: 400, code: "invalid_request", msg: "must not be empty"},
		{name: "bad role", body: `{"model":"hermes-coder","messages":[{"role":"wizard","content":"x"}]}`, status: 400, code: "invalid_request", msg: "messages[0].role"},
		{name: "bad content", body: `{"model":"hermes-coder","messages":[{"role":"user","content":5}]}`, status: 400, code: "invalid_request", msg: "messages[0].content"},
		{name: "bad stream", body: `{"model":"hermes-coder","stream":"yes","messages":[{"role":"user","content":"x"}]}`, status: 400, code: "invalid_request", msg: "stream must be"},
		{name: "bad session id", body: hello, hdr: []string{SessionHeader, "bad id/with spaces"}, status: 400, code: "invalid_session_id", msg: SessionHeader},
		{name: "missing key", body: hello, hdr: []string{"Authorization", ""}, status: 401, code: "missing_api_key", msg: "Bearer"},
		{name: "wrong key", body: hello, hdr: []string{"Authorization", "Bearer " + strings.Repeat("0", 64)}, status: 401, code: "invalid_api_key", msg: "invalid API key"},
		{name: "short key", body: hello, hdr: []string{"Authorization", "Bearer x"}, status: 401, code: "invalid_api_key"},
		{name: "wrong scheme", body: hello, hdr: []string{"Authorization", "Basic " + testKey}, status: 401, code: "invalid_auth_scheme", msg: "Bearer"},
		{name: "key on a GET", method: "GET", path: "/v1/models", hdr: []string{"Authorization", ""}, status: 401, code: "missing_api_key"},
		{name: "unknown route", path: "/v1/embeddings", body: `{}`, status: 404, code: "unknown_endpoint"},
		{name: "wrong method", method: "GET", path: "/v1/chat/completions", status: 405, code: "method_not_allowed"},
		{name: "body too large", opts: profileOpts{config: "model: {base_url: BASE, name: m}\ngateway: {max_body_bytes: 100}\n"},
			body: chatBody("hermes-coder", false, user(strings.Repeat("x", 200))), status: 413, code: "request_too_large", msg: "gateway.max_body_bytes (100 bytes)"},
		{name: "upstream 500", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.WriteHeader(500)
			w.Write([]byte(`{"error":{"message":"the model crashed"}}`))
		}, status: 502, code: "upstream_error", msg: "the model crashed"},
		{name: "upstream refuses key", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"message":"bad key"}}`))
		}, status: 502, code: "upstream_auth", msg: "refused the key"},
		{name: "upstream 400", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"message":"temperature too high"}}`))
		}, status: 400, code: "upstream_rejected", msg: "temperature too high"},
		{name: "upstream 429", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.WriteHeader(429)
		}, status: 429, code: "upstream_rate_limited"},
		{name: "upstream malformed json", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.Write([]byte(`{"choices": [`))
		}, status: 502, code: "bad_upstream_response", msg: "malformed JSON"},
		{name: "upstream no choices", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.Write([]byte(`{"object":"chat.completion"}`))
		}, status: 502, code: "bad_upstream_response"},
		{name: "upstream drops connection", body: hello, upstream: hangUp, status: 502, code: "upstream_dropped"},
		{name: "upstream drops stream before headers", body: helloStream, upstream: hangUp, status: 502, code: "upstream_dropped"},
		{name: "upstream 500 on a stream", body: helloStream, upstream: func(w http.ResponseWriter, _ upstreamRequest) {
			w.WriteHeader(503)
		}, status: 502, code: "upstream_error"},
		{name: "upstream unreachable", opts: profileOpts{config: "model: {base_url: 'http://127.0.0.1:1/v1', name: m}\n"},
			body: hello, status: 502, code: "upstream_unreachable", msg: "127.0.0.1:1"},
		{name: "upstream timeout", body: hello, opts: profileOpts{mod: func(c *Config) { c.Timeouts.FirstByte = 100 * time.Millisecond }},
			upstream: func(w http.ResponseWriter, req upstreamRequest) { <-req.Done },
			status:   504, code: "upstream_timeout", msg: "did not answer within 100ms"},
		{name: "upstream stalls a non-streaming body", body: hello, opts: profileOpts{mod: func(c *Config) { c.Timeouts.Idle = 100 * time.Millisecond }},
			upstream: func(w http.ResponseWriter, req upstreamRequest) {
				w.Write([]byte(`{"choices":`))
				w.(http.Flusher).Flush()
				<-req.Done
			},
			status: 504, code: "upstream_timeout"},
		{name: "upstream 504", body: hello, upstream: func(w http.ResponseWriter, _ upstreamRequest) { w.WriteHeader(504) }, status: 504, code: "upstream_timeout"},
		{name: "draining", body: hello, setup: func(t *testing.T, p *testProfile) { p.agent.Drain() }, status: 503, code: "draining", msg: "stopping"},
		{name: "no model configured", opts: profileOpts{config: "gateway: {port: 8642}\n"}, body: hello, status: 503, code: "no_model_configured",
			msg: "hermes -p coder config set model.base_url https://"},
		{name: "no key in the environment", opts: profileOpts{config: "model: {base_url: BASE, name: m, api_key_env: NOT_SET_ANYWHERE}\n"}, body: hello,
			status: 503, code: "no_credentials", msg: "NOT_SET_ANYWHERE"},
		{name: "no key for the provider", opts: profileOpts{config: "model: {base_url: BASE, name: m, provider: openrouter}\n"}, body: hello,
			status: 503, code: "no_credentials", msg: "hermes -p coder login --provider openrouter"},
		{name: "no API_SERVER_KEY", body: hello, setup: func(t *testing.T, p *testProfile) { writeFile(t, filepath.Join(p.dir, ".env"), "OTHER=1\n") },
			status: 503, code: "no_api_key", msg: ".env"},
		{name: "invalid config.yaml", body: hello, setup: func(t *testing.T, p *testProfile) {
			writeFile(t, filepath.Join(p.dir, "config.yaml"), "model: {base_url: 42}\n")
		}, status: 503, code: "config_invalid", msg: "model.base_url"},
		{name: "responses without input", path: "/v1/responses", body: `{"model":"hermes-coder"}`, status: 400, code: "invalid_request", msg: "input is required"},
		{name: "responses with tools", path: "/v1/responses", body: `{"model":"hermes-coder","input":"x","tools":[{"type":"function"}]}`, status: 400, code: "invalid_request", msg: "/v1/chat/completions"},
		{name: "responses unknown previous", path: "/v1/responses", body: `{"model":"hermes-coder","input":"x","previous_response_id":"resp_nope"}`, status: 400, code: "previous_response_not_found"},
		{name: "get unknown response", method: "GET", path: "/v1/responses/resp_nope", status: 404, code: "response_not_found"},
		{name: "delete unknown response", method: "DELETE", path: "/v1/responses/resp_nope", status: 404, code: "response_not_found"},
		{name: "responses without a store", opts: profileOpts{noDB: true}, path: "/v1/responses", body: `{"model":"hermes-coder","input":"x"}`, status: 503, code: "no_store"},
		{name: "responses in the background", path: "/v1/responses", body: `{"model":"hermes-coder","input":"x","background":true}`, status: 400, code: "invalid_request", msg: "background responses are not supported"},
		{name: "responses bad background", path: "/v1/responses", body: `{"model":"hermes-coder","input":"x","background":"yes"}`, status: 400, code: "invalid_request", msg: "background must be"},
		{name: "responses bad json", path: "/v1/responses", body: `{"model":"hermes-coder","input":`, status: 400, code: "invalid_json", msg: "not valid JSON"},
		{name: "responses body too large", opts: profileOpts{config: "model: {base_url: BASE, name: m}\ngateway: {max_body_bytes: 100}\n"}, path: "/v1/responses",
			body: `{"model":"hermes-coder","input":"` + strings.Repeat("x", 200) + `"}`, status: 413, code: "request_too_large"},
		{name: "a model without a name", method: "GET", path: "/v1/models/", status: 404, code: "model_not_found"},
		{name: "input items of an unknown response", method: "GET", path: "/v1/responses/resp_nope/input_items", status: 404, code: "response_not_found"},
		{name: "input items bad limit", method: "GET", path: "/v1/responses/resp_nope/input_items?limit=0", status: 400, code: "invalid_request", msg: "limit must be"},
		{name: "input items limit over 100", method: "GET", path: "/v1/responses/resp_nope/input_items?limit=101", status: 400, code: "invalid_request", msg: "1 to 100"},
		{name: "input items bad order", method: "GET", path: "/v1/responses/resp_nope/input_items?order=up", status: 400, code: "invalid_request", msg: "asc or desc"},
		{name: "input items without a store", opts: profileOpts{noDB: true}, method: "GET", path: "/v1/responses/resp_x/input_items", status: 503, code: "no_store"},
		{name: "wrong method on input items", method: "POST", path: "/v1/responses/resp_x/input_items", status: 405, code: "method_not_allowed", msg: "allowed: GET"},
		{name: "capabilities without the key", method: "GET", path: "/v1/capabilities", hdr: []string{"Authorization", ""}, status: 401, code: "missing_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile(t, tt.opts)
			if tt.upstream != nil {
				p.up.setHandler(tt.upstream)
			}
			if tt.setup != nil {
				tt.setup(t, p)
			}
			method, path := tt.method, tt.path
			if method == "" {
				method = "POST"
			}
			if path == "" {
				path = "/v1/chat/completions"
			}
			resp, body := p.call(t, method, path, tt.body, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			e := decodeEnvelope(t, body)
			if e.Error.Code != tt.code {
				t.Errorf("code = %q, want %q (%s)", e.Error.Code, tt.code, e.Error.Message)
			}
			if !strings.Contains(e.Error.Message, tt.msg) {
				t.Errorf("message %q does not say %q", e.Error.Message, tt.msg)
			}
			if strings.Contains(string(body), testKey) || strings.Contains(string(body), upstreamKey) {
				t.Errorf("an error reveals a key: %s", body)
			}
		})
	}
}

// hangUp closes the upstream's connection without an answer.
func hangUp(w http.ResponseWriter, _ upstreamRequest) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// Failures after a stream began end it with an error event and no [DONE].
func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name     string
		upstream func(w http.ResponseWriter, req upstreamRequest)
		opts     profileOpts
		code     string
	}{
		{name: "dropped mid-stream", code: "upstream_dropped", upstream: func(w http.ResponseWriter, req upstreamRequest) {
			startSSE(w)
			sendChunk(w, chunkJSON("partial ", true, ""))
			hangUp(w, req)
		}},
		{name: "ends without finishing", code: "upstream_dropped", upstream: func(w http.ResponseWriter, req upstreamRequest) {
			startSSE(w)
			sendChunk(w, chunkJSON("partial ", true, ""))
		}},
		{name: "malformed chunk", code: "bad_upstream_response", upstream: func(w http.ResponseWriter, req upstreamRequest) {
			startSSE(w)
			sendChunk(w, chunkJSON("partial ", true, ""))
			sendChunk(w, `{"choices": [oops`)
		}},
		{name: "error chunk", code: "upstream_error", upstream: func(w http.ResponseWriter, req upstreamRequest) {
			startSSE(w)
			sendChunk(w, chunkJSON("partial ", true, ""))
			sendChunk(w, `{"error":{"message":"overloaded"}}`)
		}},
		{name: "stalls", code: "upstream_timeout", opts: profileOpts{mod: func(c *Config) { c.Timeouts.Idle = 100 * time.Millisecond }},
			upstream: func(w http.ResponseWriter, req upstreamRequest) {
				startSSE(w)
				sendChunk(w, chunkJSON("partial ", true, ""))
				<-req.Done
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile(t, tt.opts)
			p.up.setHandler(tt.upstream)
			resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", true, user("hi")))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			text, done, errEv := streamText(t, readEvents(t, strings.NewReader(string(body))))
			if text != "partial " || done {
				t.Errorf("text %q done %v, want the partial text and no [DONE]:\n%s", text, done, body)
			}
			var e envelope
			if json.Unmarshal([]byte(errEv), &e); e.Error.Code != tt.code {
				t.Errorf("error event %q, want code %q", errEv, tt.code)
			}
			sid := resp.Header.Get(SessionHeader)
			if _, _, err := p.store.Get(context.Background(), sid); err == nil {
				t.Errorf("a failed stream was stored in session %s", sid)
			}
		})
	}
}

func TestConcurrencyLimit(t *testing.T) {
	p := newProfile(t, profileOpts{config: "model: {base_url: BASE, name: m}\ngateway: {max_concurrent: 2}\n"})
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		entered.Done()
		<-release
		echo(w, req)
	})
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
			codes[i] = resp.StatusCode
		}()
	}
	entered.Wait()
	resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third request: %d (Retry-After %q) %s, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if e := decodeEnvelope(t, body); !strings.Contains(e.Error.Message, "gateway.max_concurrent") {
		t.Errorf("message %q does not name gateway.max_concurrent", e.Error.Message)
	}
	close(release)
	wg.Wait()
	p.up.setHandler(nil)
	if !reflect.DeepEqual(codes, []int{200, 200}) {
		t.Errorf("the requests in flight got %v, want 200s", codes)
	}
	if resp, _ := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi"))); resp.StatusCode != 200 {
		t.Errorf("after the others finished: %d, want 200 (slots released)", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	p := newProfile(t, profileOpts{config: "model: {base_url: BASE, name: m}\ngateway: {cors_origins: ['https://app.example.com']}\n"})
	tests := []struct {
		name       string
		method     string
		origin     string
		preflight  bool
		auth       bool
		wantStatus int
		wantACAO   string
	}{
		{"preflight allowed", "OPTIONS", "https://app.example.com", true, false, 204, "https://app.example.com"},
		{"preflight other origin", "OPTIONS", "https://evil.example", true, false, 403, ""},
		{"request allowed", "GET", "https://app.example.com", false, true, 200, "https://app.example.com"},
		{"request other origin", "GET", "https://evil.example", false, true, 200, ""},
		{"request allowed without key", "GET", "https://app.example.com", false, false, 401, "https://app.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, p.srv.URL+"/v1/models", nil)
			req.Header.Set("Origin", tt.origin)
			if tt.preflight {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-stainless-os")
			}
			if tt.auth {
				req.Header.Set("Authorization", "Bearer "+testKey)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if tt.wantStatus == 204 {
				if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "x-stainless-os") {
					t.Errorf("Access-Control-Allow-Headers = %q, want the requested headers", got)
				}
			}
			if tt.wantACAO == "" && resp.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("CORS headers for an origin not allowed")
			}
		})
	}
}

func TestProviderKeyFromAuthJSON(t *testing.T) {
	p := newProfile(t, profileOpts{config: "model: {base_url: BASE, name: m, provider: openrouter}\n"})
	path := AuthPath(p.dir)
	if err := StoreProviderKey(filepath.Dir(path), path, "openrouter", "sk-or-stored", time.Now()); err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"sk-or-stored", "sk-or-rotated"} {
		if i > 0 {
			if err := StoreProviderKey(filepath.Dir(path), path, "openrouter", key, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got := p.up.last(t).Auth; got != "Bearer "+key {
			t.Errorf("upstream Authorization = %q, want the stored key %q", got, key)
		}
	}
}

func TestNewRefusesBadGatewayConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.yaml"), "gateway: {max_concurrent: -1}\n")
	_, err := New(Config{Profile: "coder", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "gateway.max_concurrent") {
		t.Errorf("New = %v, want an error naming gateway.max_concurrent", err)
	}
	if _, err := New(Config{Profile: "Bad Name", Dir: dir}); err == nil {
		t.Error("New accepted an invalid profile name")
	}
}

func TestErrorStatusMapsEveryKind(t *testing.T) {
	tests := []struct {
		err  error
		want int
		typ  string
	}{
		{fail(ErrBadRequest, "c", "m"), 400, "invalid_request_error"},
		{fail(ErrUnauthorized, "c", "m"), 401, "authentication_error"},
		{fail(ErrForbidden, "c", "m"), 403, "permission_error"},
		{fail(ErrNotFound, "c", "m"), 404, "invalid_request_error"},
		{fail(ErrMethod, "c", "m"), 405, "invalid_request_error"},
		{fail(ErrTooLarge, "c", "m"), 413, "invalid_request_error"},
		{fail(ErrBusy, "c", "m"), 429, "rate_limit_error"},
		{fail(ErrUpstream, "c", "m"), 502, "upstream_error"},
		{fail(ErrUnavailable, "c", "m"), 503, "service_unavailable"},
		{fail(ErrUpstreamTimeout, "c", "m"), 504, "upstream_timeout"},
		{fmt.Errorf("wrapped: %w", fail(ErrBusy, "c", "m")), 429, "rate_limit_error"},
		{fmt.Errorf("a bug"), 500, "server_error"},
	}
	for _, tt := range tests {
		got, body := errorStatus(tt.err)
		if got != tt.want || body.Error.Type != tt.typ {
			t.Errorf("errorStatus(%v) = %d %q, want %d %q", tt.err, got, body.Error.Type, tt.want, tt.typ)
		}
	}
	if _, body := errorStatus(fmt.Errorf("secret detail")); strings.Contains(body.Error.Message, "secret") {
		t.Errorf("an internal error's detail reached the client: %q", body.Error.Message)
	}
}

func TestResponsesHTTP(t *testing.T) {
	p := newProfile(t, profileOpts{})
	// store: false records nothing.
	resp, body := p.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"quiet","store":false}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var r struct {
		ID         string `json:"id"`
		Object     string `json:"object"`
		Status     string `json:"status"`
		OutputText string `json:"output_text"`
		Usage      struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal(body, &r)
	if r.Object != "response" || r.Status != "completed" || r.OutputText != "echo: quiet" || r.Usage.InputTokens != 7 {
		t.Errorf("response = %s", body)
	}
	if resp, _ := p.call(t, "GET", "/v1/responses/"+r.ID, ""); resp.StatusCode != 404 {
		t.Errorf("a response with store: false was recorded (GET = %d)", resp.StatusCode)
	}

	// An image and parameters are translated for chat completions.
	resp, body = p.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","max_output_tokens":50,"temperature":0.1,"reasoning":{"effort":"low"},
		"input":[{"role":"user","content":[{"type":"input_text","text":"what is this?"},{"type":"input_image","image_url":"data:image/png;base64,AA=="}]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	up := p.up.last(t)
	if got, want := compact(up.Body["messages"]), `[{"content":"`+testSOUL+`","role":"system"},{"content":[{"text":"what is this?","type":"text"},{"image_url":{"url":"data:image/png;base64,AA=="},"type":"image_url"}],"role":"user"}]`; got != want {
		t.Errorf("upstream messages =\n%s\nwant\n%s", got, want)
	}
	for k, want := range map[string]string{"max_tokens": "50", "temperature": "0.1", "reasoning_effort": `"low"`} {
		if got := compact(up.Body[k]); got != want {
			t.Errorf("upstream %s = %s, want %s", k, got, want)
		}
	}
	json.Unmarshal(body, &r)
	sid := resp.Header.Get(SessionHeader)
	_, msgs := p.session(t, sid, 2)
	if msgs[0].Role != "user" || msgs[0].Content != "what is this?" || len(msgs[0].Raw) == 0 || msgs[1].ResponseID != r.ID {
		t.Errorf("stored messages = %+v", msgs)
	}

	// A continuation stays in the session of the response it continues.
	resp, body = p.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"next","previous_response_id":"`+r.ID+`"}`, SessionHeader, "another-session")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "belongs to session") {
		t.Errorf("continuation in another session: %d %s, want 400", resp.StatusCode, body)
	}
	resp, body = p.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"next","previous_response_id":"`+r.ID+`"}`)
	if resp.StatusCode != 200 || resp.Header.Get(SessionHeader) != sid {
		t.Errorf("continuation: %d in session %q, want 200 in %q: %s", resp.StatusCode, resp.Header.Get(SessionHeader), sid, body)
	}
}

// TestDefaultsAreTheTable: an agent whose config.yaml sets nothing takes
// the table's defaults of the limits it applies (profiles.Keys), and one
// that sets them takes those.
func TestDefaultsAreTheTable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.yaml"), "")
	a, err := New(Config{Profile: "coder", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	def := func(key string) any {
		k, ok := profiles.LookupKey(key)
		if !ok {
			t.Fatalf("%s is not in the table", key)
		}
		return k.Default
	}
	if got, want := int64(cap(a.slots)), def(profiles.KeyGatewayMaxConcurrent); got != want {
		t.Errorf("max_concurrent = %v, the table's default %v", got, want)
	}
	if got, want := a.maxBody, def(profiles.KeyGatewayMaxBodyBytes); got != want {
		t.Errorf("max_body_bytes = %v, the table's default %v", got, want)
	}
	if got, want := a.origins, def(profiles.KeyGatewayCORSOrigins); !reflect.DeepEqual(got, want) {
		t.Errorf("cors_origins = %#v, the table's default %#v", got, want)
	}

	writeFile(t, filepath.Join(dir, "config.yaml"), "gateway: {max_concurrent: 3, max_body_bytes: 100, cors_origins: [https://a.example]}\n")
	if a, err = New(Config{Profile: "coder", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if cap(a.slots) != 3 || a.maxBody != 100 || !reflect.DeepEqual(a.origins, []string{"https://a.example"}) {
		t.Errorf("set limits: max_concurrent %d, max_body_bytes %d, cors_origins %q", cap(a.slots), a.maxBody, a.origins)
	}
}

// TestAliases: a name model.aliases maps is served by the model it names;
// hermes-<profile> and model.name by model.name.
func TestAliases(t *testing.T) {
	p := newProfile(t, profileOpts{config: "model:\n  base_url: BASE\n  name: " + testModel + "\n  api_key_env: TEST_UPSTREAM_KEY\n  aliases: {fast: up-fast, gpt-4o: openai/gpt-4o}\n"})
	for _, tc := range []struct{ asked, upstream string }{
		{"fast", "up-fast"}, {"gpt-4o", "openai/gpt-4o"}, {"hermes-coder", testModel}, {testModel, testModel},
	} {
		resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody(tc.asked, false, user("x")))
		if resp.StatusCode != 200 {
			t.Fatalf("model %s: status %d: %s", tc.asked, resp.StatusCode, body)
		}
		var got string
		json.Unmarshal(p.up.last(t).Body["model"], &got)
		if got != tc.upstream {
			t.Errorf("model %s reached the upstream as %q, want %q", tc.asked, got, tc.upstream)
		}
	}
}
