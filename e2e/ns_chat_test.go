package e2e

// The agent end to end: init supervises the default gateway, which talks to
// a fake OpenAI-compatible upstream served by this test; hermes chat -q and
// an interactive chat on a real terminal (tmux) go through it.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// fakeUpstream is an OpenAI-compatible provider: it streams "Hello from
// upstream <n>" and, for a prompt containing "slow", one chunk and then
// nothing until the client goes away.
type fakeUpstream struct {
	mu    sync.Mutex
	calls [][]map[string]any // the messages of every call
	gone  chan struct{}      // closed when a slow call's client left
	once  sync.Once          // closes gone once (many slow calls may end)
}

func (u *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer upstream-key" {
		w.WriteHeader(404)
		return
	}
	var req struct {
		Messages []map[string]any `json:"messages"`
		Stream   bool             `json:"stream"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	u.mu.Lock()
	u.calls = append(u.calls, req.Messages)
	n := len(u.calls)
	u.mu.Unlock()
	last, _ := req.Messages[len(req.Messages)-1]["content"].(string)
	words := []string{"Hello", " from", fmt.Sprintf(" upstream %d", n)}
	if !req.Stream {
		json.NewEncoder(w).Encode(map[string]any{
			"id": "c1", "object": "chat.completion", "model": "fake-model",
			"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": strings.Join(words, "")}, "finish_reason": "stop"}},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(s string) {
		b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "model": "fake-model",
			"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": s}}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	if strings.Contains(last, "markdown") {
		for _, s := range []string{"# Plan", "\n\nSome **bold** and `code`", "\n- first item\n- second item\n"} {
			chunk(s)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	if strings.Contains(last, "slow") {
		chunk("Thinking slowly")
		<-r.Context().Done()
		u.once.Do(func() { close(u.gone) })
		return
	}
	for _, s := range words {
		chunk(s)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func freePort(t *testing.T) int { return testenv.FreePort(t) }

func TestChat(t *testing.T) {
	testenv.NeedProgram(t, "tmux", "drive an interactive chat on a real terminal (Debian package tmux)")
	h := newNSHome(t)
	up := &fakeUpstream{gone: make(chan struct{})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	cmd := h.initCmd(pidNS, []string{"FAKE_UPSTREAM_KEY=upstream-key"}, "sleep", "100000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(initPID(t, pidNS, cmd), syscall.SIGTERM); cmd.Wait() }()
	h.waitReady(t)
	port := freePort(t)
	for _, kv := range [][2]string{
		{"gateway.port", fmt.Sprint(port)}, {"model.base_url", srv.URL + "/v1"},
		{"model.name", "fake-model"}, {"model.api_key_env", "FAKE_UPSTREAM_KEY"},
	} {
		h.mustHermes(t, h.socket, "config", "set", kv[0], kv[1])
	}

	// chat -q with the gateway down: chat starts it through the supervisor.
	r := h.hermes(t, h.socket, nil, "chat", "-q", "first question")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Hello from upstream 1") || !strings.Contains(r.Stderr, "started it") {
		t.Fatalf("chat -q: %s", r)
	}
	up.mu.Lock()
	first := up.calls[0]
	up.mu.Unlock()
	if first[0]["role"] != "system" || first[len(first)-1]["content"] != "first question" {
		t.Errorf("the upstream got %v: want the SOUL.md system prompt first and the question last", first)
	}

	// The gateway as clients find it: discovery and health as the
	// reference's gateway has them, any model name served with the
	// gateway's own id, every request a line of hermes logs.
	checkGatewayClients(t, h, port)
	up.mu.Lock()
	up.calls = up.calls[:1] // the turns below count from here
	up.mu.Unlock()

	// Interactive, on a terminal: two turns of one session, Ctrl-C ends a
	// reply, Ctrl-D leaves.
	tm := "hermes-e2e-" + filepath.Base(h.dir)
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", tm, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil && args[0] != "kill-server" && args[0] != "has-session" {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	defer tmux("kill-server")
	tmux("new-session", "-d", "-x", "160", "-y", "40", "-s", "chat",
		"env HERMES_HOME="+h.home+" HERMES_CONTROL_SOCKET="+h.socket+" "+hermesBin+" chat; sleep 30")
	screenHas := func(want string) {
		t.Helper()
		testenv.EventuallyNil(t, 20*time.Second, fmt.Sprintf("the terminal to show %q", want), func() error {
			if screen := tmux("capture-pane", "-p", "-t", "chat"); !strings.Contains(screen, want) {
				return fmt.Errorf("it shows:\n%s", screen)
			}
			return nil
		})
	}
	screenHas("hermes chat with hermes-default")
	tmux("send-keys", "-t", "chat", "what is up", "Enter")
	screenHas("Hello from upstream 2")
	tmux("send-keys", "-t", "chat", "and then", "Enter")
	screenHas("Hello from upstream 3")
	up.mu.Lock()
	third := up.calls[2]
	up.mu.Unlock()
	var contents []string
	for _, m := range third {
		contents = append(contents, fmt.Sprint(m["content"]))
	}
	if got := strings.Join(contents[1:], "|"); got != "what is up|Hello from upstream 2|and then" {
		t.Errorf("the second turn's history = %q, want the first turn before it", got)
	}
	tmux("send-keys", "-t", "chat", "be slow", "Enter")
	screenHas("Thinking slowly")
	tmux("send-keys", "-t", "chat", "C-c")
	screenHas("[interrupted]")
	select {
	case <-up.gone:
	case <-time.After(10 * time.Second):
		t.Error("Ctrl-C did not end the upstream request")
	}
	tmux("send-keys", "-t", "chat", "C-d")
	testenv.Eventually(t, 10*time.Second, "Ctrl-D to leave the chat", func() bool {
		out, _ := exec.Command("sh", "-c", "ps -eo args | grep -c '[h]ermes chat$' || true").Output()
		return strings.TrimSpace(string(out)) == "0"
	})
	// Again, resuming the last session: slash commands never reach the
	// model, Markdown is rendered, a second Ctrl-C at the prompt leaves.
	up.mu.Lock()
	before := len(up.calls)
	up.mu.Unlock()
	tmux("new-session", "-d", "-x", "160", "-y", "40", "-s", "again",
		"env HERMES_HOME="+h.home+" HERMES_CONTROL_SOCKET="+h.socket+" "+hermesBin+" chat --resume; sleep 30")
	againHas := func(want string, not ...string) string {
		t.Helper()
		var screen string
		testenv.EventuallyNil(t, 20*time.Second, fmt.Sprintf("the terminal to show %q", want), func() error {
			screen = tmux("capture-pane", "-p", "-t", "again")
			if !strings.Contains(screen, want) {
				return fmt.Errorf("it shows:\n%s", screen)
			}
			return nil
		})
		for _, n := range not {
			if strings.Contains(screen, n) {
				t.Errorf("the terminal shows %q:\n%s", n, screen)
			}
		}
		return screen
	}
	againHas("resumed session")
	tmux("send-keys", "-t", "again", "/help", "Enter")
	againHas("/resume ID")
	tmux("send-keys", "-t", "again", "/sessions", "Enter")
	againHas("* ")
	tmux("send-keys", "-t", "again", "/model", "Enter")
	againHas("model: hermes-default")
	tmux("send-keys", "-t", "again", "show me markdown", "Enter")
	againHas("• second item", "**bold**", "# Plan", "`code`")
	tmux("send-keys", "-t", "again", "Up", "Up") // the line editor's history
	againHas("› /model")
	tmux("send-keys", "-t", "again", "C-u", "/new", "Enter")
	againHas("a new session starts")
	up.mu.Lock()
	calls := up.calls[before:]
	up.mu.Unlock()
	if len(calls) != 1 {
		t.Errorf("the model got %d calls for one message and four commands", len(calls))
	} else if n := len(calls[0]); n < 6 || calls[0][1]["content"] != "what is up" || calls[0][n-1]["content"] != "show me markdown" {
		t.Errorf("the resumed turn sent %v, want SOUL.md, the 2 turns of the last session and the new message", calls[0])
	}
	tmux("send-keys", "-t", "again", "C-c")
	againHas("Ctrl-C again")
	tmux("send-keys", "-t", "again", "C-c")
	testenv.Eventually(t, 10*time.Second, "a second Ctrl-C to leave the chat", func() bool {
		out, _ := exec.Command("sh", "-c", "ps -eo args | grep -c '[h]ermes chat --resume$' || true").Output()
		return strings.TrimSpace(string(out)) == "0"
	})
	// Piped, the reply is the plain text.
	r = h.hermes(t, h.socket, nil, "chat", "-q", "markdown again")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Some **bold** and `code`") || strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("chat -q piped: %s", r)
	}

	// The interactive turns are one session of the profile's state.db.
	var list []struct {
		ID           string `json:"id"`
		MessageCount int    `json:"message_count"`
	}
	out := h.mustHermes(t, h.socket, "sessions", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("sessions list --json: %v\n%s", err, out)
	}
	found := false
	for _, s := range list {
		if s.MessageCount >= 4 {
			found = true
		}
	}
	if !found || len(list) < 2 {
		t.Errorf("sessions: %s; want the -q session and one interactive session with at least 4 messages", out)
	}
}

// checkGatewayClients calls the running default gateway on port as
// clients written for the reference's gateway and the official SDKs do.
func checkGatewayClients(t *testing.T, h nsHome, port int) {
	t.Helper()
	env, err := os.ReadFile(filepath.Join(h.home, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	key := ""
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "API_SERVER_KEY="); ok {
			key = strings.TrimSpace(v)
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	call := func(method, path, body string, withKey bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if withKey {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := call("GET", "/v1/health", "", false); code != 200 || m["status"] != "ok" || m["platform"] != "hermes-agent" {
		t.Errorf("GET /v1/health = %d %v", code, m)
	}
	if code, _ := call("GET", "/v1/capabilities", "", false); code != 401 {
		t.Errorf("GET /v1/capabilities without the key = %d, want 401", code)
	}
	if code, m := call("GET", "/v1/capabilities", "", true); code != 200 || m["object"] != "hermes.api_server.capabilities" || m["platform"] != "hermes-agent" {
		t.Errorf("GET /v1/capabilities = %d %v", code, m)
	}
	code, m := call("GET", "/health/detailed", "", true)
	upstream, _ := m["upstream"].(map[string]any)
	store, _ := m["sessions_store"].(map[string]any)
	if code != 200 || m["status"] != "ok" || upstream["reachable"] != true || store["writable"] != true {
		t.Errorf("GET /health/detailed = %d %v", code, m)
	}
	code, m = call("POST", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hard-coded"}]}`, true)
	if id, _ := m["id"].(string); code != 200 || m["model"] != "gpt-4o" || !strings.HasPrefix(id, "chatcmpl-") || id == "c1" {
		t.Errorf("a chat completion for gpt-4o = %d %v, want it served under the name sent, with the gateway's id", code, m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.hermes(t, h.socket, nil, "logs", "-n", "100")
		if strings.Contains(r.Stdout, "route=chat_completions status=200") && strings.Contains(r.Stdout, "model=gpt-4o upstream_model=fake-model") &&
			strings.Contains(r.Stdout, "route=health_detailed status=200") && !strings.Contains(r.Stdout, key) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hermes logs never showed the requests' lines (or showed the key):\n%s", r.Stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
