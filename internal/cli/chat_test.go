package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// fakeGateway answers /health and streams a numbered reply to every chat
// completion; it records the requests.
type fakeGateway struct {
	mu       sync.Mutex
	requests []struct {
		Session  string
		Messages []chatMessage
	}
	models []string // the model of each chat request
	ended  []string // the sessions ended through PATCH
	status int      // non-zero: answer this status with an OpenAI error
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		fmt.Fprint(w, `{"status":"ok","profile":"default","state":"running"}`)
		return
	case "/v1/chat/completions":
	case "/v1/sessions":
		fmt.Fprint(w, `{"sessions":[{"id":"sess_fake","title":"first","state":"idle","message_count":2},{"id":"sess_old","title":"old one","state":"ended","message_count":2}],"offset":0,"limit":10,"next_offset":null}`)
		return
	case "/v1/sessions/sess_old":
		fmt.Fprint(w, `{"session":{"id":"sess_old","title":"old one","state":"ended","message_count":3},"messages":[{"role":"system","content":"sys"},{"role":"user","content":"old q"},{"role":"assistant","content":"old a"}]}`)
		return
	case "/v1/sessions/sess_fake":
		if r.Method == http.MethodPatch {
			g.mu.Lock()
			g.ended = append(g.ended, "sess_fake")
			g.mu.Unlock()
			fmt.Fprint(w, `{"id":"sess_fake","state":"ended"}`)
			return
		}
		fmt.Fprint(w, `{"session":{"id":"sess_fake","title":"first","state":"idle","message_count":2},"messages":[{"role":"user","content":"fake q"},{"role":"assistant","content":"fake a"}]}`)
		return
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":{"message":"profile default has no session x","type":"invalid_request_error","code":"session_not_found"}}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer k3y" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"message":"invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	var req struct {
		Model    string
		Messages []chatMessage
	}
	json.NewDecoder(r.Body).Decode(&req)
	g.mu.Lock()
	g.models = append(g.models, req.Model)
	g.requests = append(g.requests, struct {
		Session  string
		Messages []chatMessage
	}{r.Header.Get(sessionHeader), req.Messages})
	n, status := len(g.requests), g.status
	g.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"error":{"message":"no model is configured: hermes config set model.base_url","type":"service_unavailable","code":"no_model"}}`)
		return
	}
	sid := r.Header.Get(sessionHeader) // the gateway keeps the session it is given
	if sid == "" {
		sid = "sess_fake"
	}
	w.Header().Set(sessionHeader, sid)
	w.Header().Set("Content-Type", "text/event-stream")
	for _, piece := range []string{"answer", " number", fmt.Sprintf(" %d", n)} {
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]string{"content": piece}}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func newChatHome(t *testing.T, port int) string {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "SOUL.md"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(home, "config.yaml"), []byte(fmt.Sprintf("gateway:\n  port: %d\n", port)), 0o640)
	os.WriteFile(filepath.Join(home, ".env"), []byte("API_SERVER_KEY=k3y\n"), 0o600)
	return home
}

func runChatCmd(t *testing.T, home string, stdin io.Reader, args ...string) (string, string, int) {
	var out, errb testenv.Buffer
	e := &Env{Stdin: stdin, Stdout: &out, Stderr: &errb, Host: hostenv.Env{
		Getenv: func(k string) (string, bool) {
			switch k {
			case "HERMES_HOME":
				return home, true
			case "HERMES_CONTROL_SOCKET":
				return filepath.Join(home, "none.sock"), true
			}
			return "", false
		},
		Exists: func(string) bool { return false }, Getuid: os.Getuid,
	}}
	code := e.Main(args)
	return out.String(), errb.String(), code
}

func TestChatOnce(t *testing.T) {
	g := &fakeGateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	home := newChatHome(t, srv.Listener.Addr().(*net.TCPAddr).Port)
	out, errs, code := runChatCmd(t, home, strings.NewReader(""), "chat", "-q", "hello there")
	if code != 0 || out != "answer number 1\n" {
		t.Fatalf("chat -q = %d %q (stderr %q), want 0 and the streamed answer", code, out, errs)
	}
	if got := g.requests[0].Messages; len(got) != 1 || got[0].Content != "hello there" || got[0].Role != "user" {
		t.Errorf("the gateway got %+v", got)
	}
	// The gateway's error comes back as one ✗ line and exit 1.
	g.status = 503
	out, _, code = runChatCmd(t, home, strings.NewReader(""), "chat", "-q", "again")
	if code != 1 || !strings.HasPrefix(out, "✗ ") || !strings.Contains(out, "no model is configured") {
		t.Errorf("chat -q against a failing gateway = %d %q, want 1 and its message", code, out)
	}
}

func TestChatGatewayDownNoSupervisor(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	home := newChatHome(t, port)
	out, _, code := runChatCmd(t, home, strings.NewReader(""), "chat", "-q", "hi")
	if code != 1 || !strings.Contains(out, "no supervisor answers") || !strings.Contains(out, "gateway run") {
		t.Errorf("chat with its gateway down and no supervisor = %d %q, want 1 and how to start it", code, out)
	}
}

// TestChatInteractive: on a terminal, the turns of one conversation share a
// session and the history; Ctrl-D (EOF) leaves.
func TestChatInteractive(t *testing.T) {
	g := &fakeGateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	home := newChatHome(t, srv.Listener.Addr().(*net.TCPAddr).Port)
	out, errs, code := runChatCmd(t, home, tty{strings.NewReader("first\n\nsecond\n")}, "chat")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"answer number 1", "answer number 2", "› "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(g.requests) != 2 {
		t.Fatalf("%d requests, want 2 (the blank line is not a turn)", len(g.requests))
	}
	second := g.requests[1]
	if second.Session != "sess_fake" {
		t.Errorf("the second turn's session header = %q, want the one the gateway returned", second.Session)
	}
	want := []chatMessage{{"user", "first"}, {"assistant", "answer number 1"}, {"user", "second"}}
	if fmt.Sprint(second.Messages) != fmt.Sprint(want) {
		t.Errorf("the second turn sent %+v, want the history %+v", second.Messages, want)
	}
	// hermes alone on a terminal opens the chat.
	out, _, code = runChatCmd(t, home, tty{strings.NewReader("")})
	if code != 0 || !strings.Contains(out, "hermes chat with hermes-default") {
		t.Errorf("hermes with no arguments on a terminal = %d %q, want the chat", code, out)
	}
	// So does hermes -p NAME alone, for that profile.
	out, _, code = runChatCmd(t, home, tty{strings.NewReader("")}, "--profile=default")
	if code != 0 || !strings.Contains(out, "hermes chat with hermes-default") {
		t.Errorf("hermes --profile=default on a terminal = %d %q, want the chat", code, out)
	}
	// Without a terminal it prints help.
	out, _, _ = runChatCmd(t, home, strings.NewReader(""))
	if !strings.Contains(out, "usage: hermes") {
		t.Errorf("hermes with no arguments and no terminal = %q, want help", out)
	}
}

// TestChatCommands: slash commands never reach the model; /new ends the
// session and starts another, /resume continues one with its history,
// /model changes the model asked for, //TEXT sends /TEXT.
func TestChatCommands(t *testing.T) {
	g := &fakeGateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	home := newChatHome(t, srv.Listener.Addr().(*net.TCPAddr).Port)
	script := "/help\n/model\n/model fast\nhello\n/new\nagain\n/sessions\n/resume sess_old\nnext\n/bogus\n/resume\n/resume ../x\n//slash text\n/exit\nnot sent\n"
	out, errs, code := runChatCmd(t, home, tty{strings.NewReader(script)}, "chat")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var sent []string
	for _, r := range g.requests {
		var texts []string
		for _, m := range r.Messages {
			texts = append(texts, m.Content)
		}
		sent = append(sent, r.Session+": "+strings.Join(texts, "|"))
	}
	want := []string{
		": hello",
		": again",
		"sess_old: old q|old a|next",
		"sess_old: old q|old a|next|answer number 3|/slash text",
	}
	if strings.Join(sent, "\n") != strings.Join(want, "\n") {
		t.Errorf("the model got\n%s\nwant\n%s", strings.Join(sent, "\n"), strings.Join(want, "\n"))
	}
	if got := strings.Join(g.models, ","); got != "fast,fast,fast,fast" {
		t.Errorf("models asked for = %s, want fast after /model fast", got)
	}
	if len(g.ended) != 1 {
		t.Errorf("/new ended %v, want the session of the first turn", g.ended)
	}
	for _, w := range []string{"/resume ID", "model: hermes-default", "model: fast", "✓ ended session sess_fake", "sess_old", "old one",
		"✗ unknown command /bogus", "✗ /resume ID (see /sessions)", "✗ session id \"../x\""} {
		if !strings.Contains(out, w) {
			t.Errorf("the chat did not show %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errs, "resumed session sess_old (old one, 3 messages, ended)") {
		t.Errorf("stderr %q lacks the resume line", errs)
	}
}

// TestChatResume: --resume continues the most recent session, --resume ID
// that one; an unknown one is an error.
func TestChatResume(t *testing.T) {
	g := &fakeGateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	home := newChatHome(t, srv.Listener.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chat", "--resume", "-q", "more"}, "sess_fake: fake q|fake a|more"},
		{[]string{"chat", "-q", "more", "--resume", "sess_old"}, "sess_old: old q|old a|more"},
		{[]string{"chat", "--resume=sess_old", "-q", "more"}, "sess_old: old q|old a|more"},
	} {
		n := len(g.requests)
		out, errs, code := runChatCmd(t, home, strings.NewReader(""), tc.args...)
		if code != 0 || len(g.requests) != n+1 {
			t.Fatalf("%v: exit %d %s %s", tc.args, code, out, errs)
		}
		r := g.requests[n]
		var texts []string
		for _, m := range r.Messages {
			texts = append(texts, m.Content)
		}
		if got := r.Session + ": " + strings.Join(texts, "|"); got != tc.want {
			t.Errorf("%v sent %q, want %q", tc.args, got, tc.want)
		}
	}
	if out, _, code := runChatCmd(t, home, strings.NewReader(""), "chat", "--resume", "nope", "-q", "x"); code != 1 || !strings.Contains(out, "✗ profile default has no session") {
		t.Errorf("--resume nope = %d %q", code, out)
	}
	if out, _, code := runChatCmd(t, home, strings.NewReader(""), "chat", "--resume", "../x", "-q", "x"); code != 1 || !strings.HasPrefix(out, "✗ ") {
		t.Errorf("--resume ../x = %d %q", code, out)
	}
}

// TestMDWriter: on a terminal each finished line is drawn again rendered;
// piped, the text passes as it is.
func TestMDWriter(t *testing.T) {
	reply := "# Title\n\nSome **bold**, *italic* and `co*de*` [a link](https://x.example).\n- one\n  * two\n> quoted\n---\n```go\nx := `a`\n```\nplain line\nunfinished **tail**"
	var plain strings.Builder
	w := newMDWriter(&plain, false, 80)
	for _, piece := range strings.SplitAfter(reply, " ") { // as a stream brings it
		w.Write([]byte(piece))
	}
	w.Flush()
	if plain.String() != reply {
		t.Errorf("piped: %q, want the text as it came", plain.String())
	}
	var term strings.Builder
	w = newMDWriter(&term, true, 20)
	for _, piece := range strings.SplitAfter(reply, " ") {
		w.Write([]byte(piece))
	}
	w.Flush()
	testenv.Golden(t, "chat_markdown.golden", strings.ReplaceAll(fmt.Sprintf("%q", term.String()), `\n`, "\\n\n"))
	for _, bad := range []string{"**", "# Title", "```"} {
		if last := term.String()[strings.LastIndex(term.String(), "\x1b[J"):]; strings.Contains(last, bad) {
			t.Errorf("the last redraw %q still shows %q", last, bad)
		}
	}
}

// FuzzMDWriter: however a reply is cut into chunks, piped it passes as it
// is, and rendered it neither panics nor loses a line.
func FuzzMDWriter(f *testing.F) {
	f.Add("# a\n**b** `c`\n- d\n```\ne\n```\n", 3)
	f.Add("*x* _y_ [z](w)\n> q\n---", 1)
	f.Fuzz(func(t *testing.T, reply string, cut int) {
		if cut <= 0 {
			cut = 1
		}
		var plain, term strings.Builder
		p, r := newMDWriter(&plain, false, 20), newMDWriter(&term, true, 20)
		for i := 0; i < len(reply); i += cut {
			chunk := reply[i:min(len(reply), i+cut)]
			p.Write([]byte(chunk))
			r.Write([]byte(chunk))
		}
		p.Flush()
		r.Flush()
		if plain.String() != reply {
			t.Errorf("piped %q, want %q", plain.String(), reply)
		}
		if got, want := strings.Count(term.String(), "\n"), strings.Count(reply, "\n"); got != want {
			t.Errorf("rendered %d lines, want %d", got, want)
		}
	})
}
