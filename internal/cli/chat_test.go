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
	status int // non-zero: answer this status with an OpenAI error
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		fmt.Fprint(w, `{"status":"ok","profile":"default","state":"running"}`)
		return
	case "/v1/chat/completions":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer k3y" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"message":"invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	var req struct{ Messages []chatMessage }
	json.NewDecoder(r.Body).Decode(&req)
	g.mu.Lock()
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
	w.Header().Set(sessionHeader, "sess_fake")
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
