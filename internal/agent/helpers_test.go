package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// testKey is the API_SERVER_KEY of the test profiles; upstreamKey the key
// the fake upstream expects.
const (
	testKey     = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	upstreamKey = "sk-test-upstream"
	testSOUL    = "You are the test agent."
	testModel   = "test-model"
)

// upstreamRequest is what the fake upstream received.
type upstreamRequest struct {
	Path   string
	Auth   string
	Body   map[string]json.RawMessage
	Stream bool
	// Messages are the request's messages as {role, content} (content
	// kept raw when it is not a string).
	Messages []testMessage
	// Done is closed when the gateway gives up on the request: a handler
	// that plays a stalled upstream waits for it.
	Done <-chan struct{}
	// ctx is the request's context: done when the agent cancels the call.
	ctx context.Context
}

type testMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// fakeUpstream is an OpenAI-compatible chat completions server on
// loopback. By default it answers "echo: <last user text>", streamed in
// one chunk per word when asked to stream, with usage; handle replaces
// that behaviour.
type fakeUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []upstreamRequest
	handle func(w http.ResponseWriter, req upstreamRequest)
}

func newFakeUpstream(t testing.TB) *fakeUpstream {
	f := &fakeUpstream{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// URL of the upstream's base (with its version prefix).
func (f *fakeUpstream) base() string { return f.Server.URL + "/v1" }

func (f *fakeUpstream) requests() []upstreamRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstreamRequest(nil), f.reqs...)
}

func (f *fakeUpstream) last(t testing.TB) upstreamRequest {
	t.Helper()
	r := f.requests()
	if len(r) == 0 {
		t.Fatal("the upstream received no request")
	}
	return r[len(r)-1]
}

// model is the model the upstream was asked for.
func (r upstreamRequest) model() string {
	var m string
	json.Unmarshal(r.Body["model"], &m)
	return m
}

func (f *fakeUpstream) setHandler(h func(w http.ResponseWriter, req upstreamRequest)) {
	f.mu.Lock()
	f.handle = h
	f.mu.Unlock()
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := upstreamRequest{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Done: r.Context().Done(), ctx: r.Context()}
	json.Unmarshal(b, &req.Body)
	json.Unmarshal(req.Body["stream"], &req.Stream)
	json.Unmarshal(req.Body["messages"], &req.Messages)
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	h := f.handle
	f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"no route %s"}}`, r.URL.Path)
		return
	}
	if h != nil {
		h(w, req)
		return
	}
	echo(w, req)
}

// replyText is what the default upstream answers to req.
func replyText(req upstreamRequest) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			return fmt.Sprintf("echo: %v", req.Messages[i].Content)
		}
	}
	return "echo: nothing"
}

// echo is the default behaviour of the fake upstream.
func echo(w http.ResponseWriter, req upstreamRequest) {
	text := replyText(req)
	if !req.Stream {
		writeCompletion(w, text)
		return
	}
	startSSE(w)
	words := strings.SplitAfter(text, " ")
	for i, word := range words {
		sendChunk(w, chunkJSON(word, i == 0, ""))
	}
	sendChunk(w, chunkJSON("", false, "stop"))
	if includeUsage(req) {
		sendChunk(w, usageChunk(7, int64(len(words))))
	}
	sendChunk(w, "[DONE]")
}

func includeUsage(req upstreamRequest) bool {
	var so struct {
		IncludeUsage bool `json:"include_usage"`
	}
	json.Unmarshal(req.Body["stream_options"], &so)
	return so.IncludeUsage
}

func writeCompletion(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"upstream-model","choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`, mustJSON(text))
}

func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// sendChunk writes one event and flushes it.
func sendChunk(w http.ResponseWriter, data string) {
	fmt.Fprintf(w, "data: %s\n\n", data)
	w.(http.Flusher).Flush()
}

func chunkJSON(content string, first bool, finish string) string {
	delta := map[string]any{}
	if first {
		delta["role"] = "assistant"
	}
	if content != "" {
		delta["content"] = content
	}
	var fr any
	if finish != "" {
		fr = finish
	}
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "upstream-model",
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": fr}},
		"usage":   nil,
	})
	return string(b)
}

func usageChunk(prompt, completion int64) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion)
}

// profileOpts shape a test profile.
type profileOpts struct {
	config string // the whole config.yaml; "" for the default one
	noDB   bool
	mod    func(cfg *Config)
	// clock is the sessions store's (sessions.Options.Clock); nil: the
	// wall clock.
	clock func() time.Time
}

// testProfile is a profile directory, its agent, the agent's server and
// the fake upstream.
type testProfile struct {
	dir   string
	up    *fakeUpstream
	agent *Agent
	srv   *httptest.Server
	store *sessions.Store
}

func defaultConfig(base string) string {
	return fmt.Sprintf("model:\n  base_url: %s\n  name: %s\n  api_key_env: TEST_UPSTREAM_KEY\ngateway:\n  port: 8642\n", base, testModel)
}

// aliasConfig is the default configuration with model.aliases.
var aliasConfig = "model:\n  base_url: BASE\n  name: " + testModel + "\n  api_key_env: TEST_UPSTREAM_KEY\n  aliases: {fast: small-model, gpt-4o: big-model}\n"

// newProfile writes a profile (SOUL.md, config.yaml, .env) and starts
// its agent on loopback against a fresh fake upstream.
func newProfile(t testing.TB, o profileOpts) *testProfile {
	t.Helper()
	p := &testProfile{dir: t.TempDir(), up: newFakeUpstream(t)}
	cfg := o.config
	if cfg == "" {
		cfg = defaultConfig(p.up.base())
	}
	cfg = strings.ReplaceAll(cfg, "BASE", p.up.base())
	writeFile(t, filepath.Join(p.dir, "SOUL.md"), testSOUL+"\n")
	writeFile(t, filepath.Join(p.dir, "config.yaml"), cfg)
	writeFile(t, filepath.Join(p.dir, ".env"), "API_SERVER_KEY="+testKey+"\nTEST_UPSTREAM_KEY="+upstreamKey+"\n")
	if !o.noDB {
		st, err := sessions.Open(filepath.Join(p.dir, "state.db"), sessions.Options{Clock: o.clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		p.store = st
	}
	c := Config{Profile: "coder", Dir: p.dir, Home: p.dir, Store: p.store, Env: func(string) (string, bool) { return "", false }}
	if o.mod != nil {
		o.mod(&c)
	}
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	p.agent = a
	p.srv = httptest.NewServer(a.Handler())
	t.Cleanup(p.srv.Close)
	return p
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// call sends a request to the agent with the test key (unless the
// headers say otherwise) and returns the answer with its body read.
func (p *testProfile) call(t testing.TB, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp := p.open(t, method, path, body, hdr...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, b
}

// open sends a request and returns the answer with its body unread.
func (p *testProfile) open(t testing.TB, method, path, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, p.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// envelope is the OpenAI error envelope.
type envelope struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func decodeEnvelope(t testing.TB, b []byte) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == "" {
		t.Fatalf("not an error envelope with message, type and code: %s", b)
	}
	return e
}

// sseEvent is one event read from an answer.
type sseEvent struct {
	Name string
	Data string
}

// readEvents reads every event of a server-sent event stream.
func readEvents(t testing.TB, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Data != "" || ev.Name != "" {
				out = append(out, ev)
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.Data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

// streamText joins the content deltas of chat completion chunks.
func streamText(t testing.TB, events []sseEvent) (text string, done bool, errEvent string) {
	t.Helper()
	var b strings.Builder
	for _, ev := range events {
		if ev.Data == "[DONE]" {
			done = true
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatalf("a chunk is not JSON: %q", ev.Data)
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			errEvent = ev.Data
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
		}
	}
	return b.String(), done, errEvent
}

// chatBody is a chat completion request.
func chatBody(model string, stream bool, msgs ...testMessage) string {
	b, _ := json.Marshal(map[string]any{"model": model, "messages": msgs, "stream": stream, "temperature": 0.5, "x_client_extra": map[string]any{"a": 1}})
	return string(b)
}

func user(s string) testMessage   { return testMessage{Role: "user", Content: s} }
func system(s string) testMessage { return testMessage{Role: "system", Content: s} }
func asst(s string) testMessage   { return testMessage{Role: "assistant", Content: s} }

// compact is b re-encoded compactly, for comparisons.
func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// session waits until session sid holds n messages (a chat turn is
// stored once its answer is delivered) and returns it.
func (p *testProfile) session(t testing.TB, sid string, n int) (sessions.Session, []sessions.Message) {
	t.Helper()
	var sess sessions.Session
	var msgs []sessions.Message
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("%d messages in session %s", n, sid), func() bool {
		var err error
		sess, msgs, err = p.store.Get(context.Background(), sid)
		return err == nil && len(msgs) >= n
	})
	return sess, msgs
}
