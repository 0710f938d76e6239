package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestKeyEffects holds the table of keys (profiles.Keys) to what a running
// gateway does: for every key, a gateway runs with one value, the key is
// changed with profiles.Config.Set as hermes config set does, and a probe
// looks at what the gateway does on the next request, then after a
// restart. A key the table says is used from the next request must show
// the new value at once; a key that needs a restart must show the old one
// until the gateway restarts, then the new one. The two values must look
// different after the restart (else nothing reads the key). A key of the
// table without a probe here fails the test: its claim would be unproven
// (awaitingReader says when it may wait).
func TestKeyEffects(t *testing.T) {
	probes := effectProbes()
	for _, k := range profiles.Keys() {
		if field, awaiting := awaitingReader[k.Name]; awaiting {
			if _, exists := reflect.TypeOf(sessions.Options{}).FieldByName(field); !exists {
				t.Logf("%s: its reader, sessions.Options.%s, is not here yet: the claim (%s) waits for it", k.Name, field, k.Effect)
				continue
			}
		}
		p, ok := probes[k.Name]
		if !ok {
			t.Errorf("%s: no probe in TestKeyEffects, so the table's claim (%s) is unproven", k.Name, k.Effect)
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := newProbedGateway(t, k.Name)
			g.set(t, k.Name, p.a)
			g.start(t)
			before := p.observe(t, g)
			if p.stops {
				g.start(t)
			}
			g.set(t, k.Name, p.b)
			edited := p.observe(t, g)
			g.restart(t)
			after := p.observe(t, g)
			t.Logf("%s %q: %s; set to %q: %s; after a restart: %s", k.Name, p.a, before, p.b, edited, after)
			if before == after {
				t.Fatalf("%s: %q and %q look the same to the probe (%s): the gateway does not read the key", k.Name, p.a, p.b, before)
			}
			switch k.Effect {
			case profiles.NextRequest:
				if edited != after {
					t.Errorf("%s: the table says a change is used from the next request, but after the change the gateway showed %s, and %s only after a restart", k.Name, edited, after)
				}
			case profiles.Restart:
				if edited != before {
					t.Errorf("%s: the table says a change needs a restart, but the running gateway showed %s at once (before the change: %s)", k.Name, edited, before)
				}
			default:
				t.Errorf("%s: effect %v", k.Name, k.Effect)
			}
		})
	}
}

// awaitingReader are keys of the table whose reader lands with the
// sessions store's lifecycle (issue 15): the gateway is to read them with
// profiles.Config.Sessions at its start and pass them as these fields of
// sessions.Options. While a field does not exist the key's probe is not
// run; once it does, the probe holds the gateway to the table.
var awaitingReader = map[string]string{
	profiles.KeySessionsIdleTimeout: "IdleTimeout",
	profiles.KeySessionsMaxBytes:    "MaxBytes",
}

// effectProbe changes a key from a to b (as config set takes them);
// observe says what the gateway does, as a string the test compares.
type effectProbe struct {
	a, b    string
	observe func(t *testing.T, g *probedGateway) string
	// stops: observe stops the gateway (what it shows is in its stop).
	stops bool
}

func effectProbes() map[string]effectProbe {
	return map[string]effectProbe{
		profiles.KeyModelBaseURL: {a: "UP1", b: "UP2", observe: func(t *testing.T, g *probedGateway) string {
			return g.chat(t, "hermes-default").upstream
		}},
		profiles.KeyModelName: {a: "model-a", b: "model-b", observe: func(t *testing.T, g *probedGateway) string {
			return g.chat(t, "hermes-default").model
		}},
		profiles.KeyModelAPIKeyEnv: {a: "KEY_A", b: "KEY_B", observe: func(t *testing.T, g *probedGateway) string {
			return g.chat(t, "hermes-default").auth
		}},
		profiles.KeyModelProvider: {a: "prov-a", b: "prov-b", observe: func(t *testing.T, g *probedGateway) string {
			return g.chat(t, "hermes-default").auth
		}},
		profiles.KeyModelAliases: {a: "fast=model-fast-a", b: "fast=model-fast-b", observe: func(t *testing.T, g *probedGateway) string {
			return g.chat(t, "fast").model
		}},
		profiles.KeyGatewayHost: {a: "127.0.0.1", b: "127.0.0.2", observe: func(t *testing.T, g *probedGateway) string {
			return g.answering(t, "127.0.0.1:"+strconv.Itoa(g.port), "127.0.0.2:"+strconv.Itoa(g.port))
		}},
		profiles.KeyGatewayPort: {a: "PORT1", b: "PORT2", observe: func(t *testing.T, g *probedGateway) string {
			return g.answering(t, "127.0.0.1:"+strconv.Itoa(g.port), "127.0.0.1:"+strconv.Itoa(g.port2))
		}},
		profiles.KeyGatewayCORSOrigins: {a: "https://a.example", b: "https://b.example", observe: func(t *testing.T, g *probedGateway) string {
			req, _ := http.NewRequest(http.MethodOptions, g.url("/v1/chat/completions"), nil)
			req.Header.Set("Origin", "https://b.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp := g.do(t, req)
			return fmt.Sprintf("preflight from https://b.example: %d, allowed %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}},
		profiles.KeyGatewayMaxConcurrent: {a: "1", b: "2", observe: func(t *testing.T, g *probedGateway) string {
			return g.concurrency(t)
		}},
		profiles.KeyGatewayMaxBodyBytes: {a: "1048576", b: "100", observe: func(t *testing.T, g *probedGateway) string {
			body := `{"model":"hermes-default","messages":[{"role":"user","content":"` + strings.Repeat("x", 200) + `"}]}`
			req, _ := http.NewRequest(http.MethodPost, g.url("/v1/chat/completions"), strings.NewReader(body))
			resp := g.do(t, req)
			return fmt.Sprintf("a body of %d bytes: %d", len(body), resp.StatusCode)
		}},
		profiles.KeySessionsIdleTimeout: {a: "1s", b: "2s", observe: func(t *testing.T, g *probedGateway) string {
			return g.idleEnd(t)
		}},
		profiles.KeySessionsMaxBytes: {a: "1099511627776", b: "1048576", observe: func(t *testing.T, g *probedGateway) string {
			return g.capRefusal(t)
		}},
		profiles.KeyGatewayDrainTimeout: {a: "2s", b: "1500ms", stops: true, observe: func(t *testing.T, g *probedGateway) string {
			g.stop(t)
			m := regexp.MustCompile(`msg="gateway draining" .*drain_timeout=(\S+)`).FindAllStringSubmatch(g.log.String(), -1)
			if len(m) == 0 {
				t.Fatalf("no draining line in the log:\n%s", g.log)
			}
			return "drained for at most " + m[len(m)-1][1]
		}},
	}
}

// probedGateway is a default profile's gateway run in this process, with
// two fake upstreams and the files the probes need.
type probedGateway struct {
	home        string
	port, port2 int
	up1, up2    *probeUpstream
	log         *testenv.Buffer
	run         *running
	addr        string // where the running gateway listens
	// client keeps no connection: a restarted gateway must not meet one
	// its predecessor closed.
	client *http.Client
}

// newProbedGateway makes the home of a gateway whose key under test is
// key: its upstream's key is model.api_key_env KEY_A, except for a test of
// model.provider (model.api_key_env would win over it).
func newProbedGateway(t *testing.T, key string) *probedGateway {
	t.Helper()
	g := &probedGateway{home: t.TempDir(), port: freePort(t), log: &testenv.Buffer{},
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	for g.port2 = freePort(t); g.port2 == g.port; g.port2 = freePort(t) {
	}
	g.up1, g.up2 = newProbeUpstream(t, "upstream 1"), newProbeUpstream(t, "upstream 2")
	writeFile(t, filepath.Join(g.home, "SOUL.md"), "default\n")
	writeFile(t, profiles.EnvPath(profiles.MustParse(g.home, profiles.Default)), "API_SERVER_KEY=probe-key\nKEY_A=key-a\nKEY_B=key-b\n")
	writeFile(t, filepath.Join(g.home, "auth.json"), `{"version":1,"providers":{"prov-a":{"api_key":"provider-key-a"},"prov-b":{"api_key":"provider-key-b"}}}`)
	base := [][2]string{
		{profiles.KeyGatewayHost, "127.0.0.1"}, {profiles.KeyGatewayPort, "PORT1"}, {profiles.KeyGatewayDrainTimeout, "2s"},
		{profiles.KeyModelBaseURL, "UP1"}, {profiles.KeyModelName, "model-a"},
	}
	if key != profiles.KeyModelProvider {
		base = append(base, [2]string{profiles.KeyModelAPIKeyEnv, "KEY_A"})
	}
	for _, kv := range base {
		g.set(t, kv[0], kv[1])
	}
	return g
}

// set sets key to value in config.yaml as hermes config set does; UP1,
// UP2, PORT1 and PORT2 stand for the upstreams' URLs and the two ports.
func (g *probedGateway) set(t *testing.T, key, value string) {
	t.Helper()
	value = strings.NewReplacer("UP1", g.up1.srv.URL+"/v1", "UP2", g.up2.srv.URL+"/v1",
		"PORT1", strconv.Itoa(g.port), "PORT2", strconv.Itoa(g.port2)).Replace(value)
	path := profiles.ConfigPath(profiles.MustParse(g.home, profiles.Default))
	c, err := profiles.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(key, value); err != nil {
		t.Fatal(err)
	}
	if err := profiles.WriteConfig(g.home, path, c); err != nil {
		t.Fatal(err)
	}
}

// start runs the gateway and waits until it serves, on the address its
// config.yaml gives it now.
func (g *probedGateway) start(t *testing.T) {
	t.Helper()
	host, err := profiles.Host(profiles.MustParse(g.home, profiles.Default), noEnv())
	if err != nil {
		t.Fatal(err)
	}
	port, err := profiles.Port(profiles.MustParse(g.home, profiles.Default))
	if err != nil {
		t.Fatal(err)
	}
	g.addr = net.JoinHostPort(host, strconv.Itoa(port))
	g.run = startRun(t, Config{Profile: profiles.MustParse(g.home, profiles.Default), Logger: slog.New(slog.NewTextHandler(g.log, nil))})
	g.run.expectStates(t, StateStarting, StateRunning)
}

// stop stops the gateway as a SIGTERM would, and waits for its end.
func (g *probedGateway) stop(t *testing.T) {
	t.Helper()
	g.run.cancel()
	if err := g.run.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	g.run = nil
}

func (g *probedGateway) restart(t *testing.T) {
	t.Helper()
	if g.run != nil {
		g.stop(t)
	}
	g.start(t)
}

// url is path on the address the running gateway listens on.
func (g *probedGateway) url(path string) string { return "http://" + g.addr + path }

// do sends req with the gateway's key and returns the answer, its body
// read.
func (g *probedGateway) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	req.Header.Set("Authorization", "Bearer probe-key")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// seen is what an upstream received of a chat completion.
type seen struct{ upstream, model, auth string }

// chat asks the gateway for a completion of model and says what reached
// which upstream.
func (g *probedGateway) chat(t *testing.T, model string, content ...string) seen {
	t.Helper()
	n1, n2 := g.up1.count(), g.up2.count()
	text := "hi"
	if len(content) > 0 {
		text = content[0]
	}
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"` + text + `"}]}`
	req, _ := http.NewRequest(http.MethodPost, g.url("/v1/chat/completions"), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer probe-key")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chat completion of %s: %d %s", model, resp.StatusCode, b)
	}
	for _, u := range []struct {
		up *probeUpstream
		n  int
	}{{g.up1, n1}, {g.up2, n2}} {
		if u.up.count() > u.n {
			r := u.up.last()
			return seen{upstream: u.up.name, model: "upstream model " + r.model, auth: "upstream key " + r.auth}
		}
	}
	t.Fatalf("chat completion of %s: answered, but no upstream saw it", model)
	return seen{}
}

// answering says which of addrs answers GET /health.
func (g *probedGateway) answering(t *testing.T, addrs ...string) string {
	t.Helper()
	var out []string
	for _, a := range addrs {
		resp, err := g.client.Get("http://" + a + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				out = append(out, a)
			}
		}
	}
	return "answering on " + strings.Join(out, ", ")
}

// concurrency fills the gateway with completions that the upstream holds
// until one is refused with 429, and says how many requests the refusal
// says the gateway serves at once (the capacity it admits by, whatever
// the requests of an earlier probe still hold).
func (g *probedGateway) concurrency(t *testing.T) string {
	t.Helper()
	release := g.up1.hold()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer release()
	for n := 0; n < 5; n++ {
		refused := make(chan string, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"model":"hermes-default","messages":[{"role":"user","content":"hold"}]}`
			req, _ := http.NewRequest(http.MethodPost, g.url("/v1/chat/completions"), strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer probe-key")
			resp, err := g.client.Do(req)
			if err != nil {
				refused <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			refused <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
		select {
		case <-g.up1.arrived:
			// held by the upstream: the gateway serves it; one more
		case answer := <-refused:
			m := regexp.MustCompile(`^429 .*already serves (\d+) requests`).FindStringSubmatch(answer)
			if m == nil {
				t.Fatalf("completion %d answered before the upstream saw it, not with a 429 naming the limit: %s", n+1, answer)
			}
			return "serves " + m[1] + " at once"
		case <-time.After(10 * time.Second):
			t.Fatalf("completion %d neither reached the upstream nor was refused", n+1)
		}
	}
	return "serves 5 or more at once"
}

// idleEnd has a turn in a new session, waits until the gateway's store
// ends it for idleness, and says how long after its last turn it ended
// (the store ends it at its last activity plus the idle timeout).
func (g *probedGateway) idleEnd(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.url("/v1/chat/completions"), strings.NewReader(`{"model":"hermes-default","messages":[{"role":"user","content":"hi"}]}`))
	resp := g.do(t, req)
	sid := resp.Header.Get(agent.SessionHeader)
	st, err := sessions.OpenReadOnly(filepath.Join(g.home, profiles.FileSessions))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The store's sweep ends the session on time: wait for that event.
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, _, err := st.Get(context.Background(), sid)
		if err == nil && s.EndedAt != nil {
			return fmt.Sprintf("ended %s after its last turn", s.EndedAt.Sub(s.LastActivityAt))
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %q did not end for idleness: %v", sid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// capRefusal stores turns of 200 KB until the store refuses one for its
// size cap (507, and a log line naming the cap), at most 8.
func (g *probedGateway) capRefusal(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`msg="sessions: the store is full; refusing new turns".* max_bytes=(\d+)`)
	already := len(re.FindAllString(g.log.String(), -1))
	big := strings.Repeat("x", 200<<10)
	for n := 1; n <= 8; n++ {
		body := `{"model":"hermes-default","messages":[{"role":"user","content":"` + big + `"}]}`
		req, _ := http.NewRequest(http.MethodPost, g.url("/v1/chat/completions"), strings.NewReader(body))
		resp := g.do(t, req)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusInsufficientStorage {
			t.Fatalf("a turn of 200 KB: %d", resp.StatusCode)
		}
		if m := re.FindAllStringSubmatch(g.log.String(), -1); len(m) > already {
			if resp.StatusCode != http.StatusInsufficientStorage {
				t.Errorf("the store logged a refusal, but the turn was answered %d, not 507", resp.StatusCode)
			}
			return "a turn refused: the store is full at max_bytes=" + m[len(m)-1][1]
		}
	}
	return "8 turns of 200 KB stored"
}

// probeUpstream is a fake OpenAI-compatible upstream that records what it
// receives; hold makes it keep requests until released.
type probeUpstream struct {
	name    string
	srv     *httptest.Server
	arrived chan struct{}

	mu      sync.Mutex
	n       int
	lastReq struct{ model, auth string }
	held    chan struct{} // nil: answer at once
}

func newProbeUpstream(t *testing.T, name string) *probeUpstream {
	u := &probeUpstream{name: name, arrived: make(chan struct{}, 16)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u.mu.Lock()
		u.n++
		u.lastReq.model, u.lastReq.auth = req.Model, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		held := u.held
		u.mu.Unlock()
		if held != nil {
			u.arrived <- struct{}{}
			select {
			case <-held:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, req.Model)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *probeUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func (u *probeUpstream) last() struct{ model, auth string } {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastReq
}

// hold keeps the requests that arrive from now on until the returned
// function is called (once or more).
func (u *probeUpstream) hold() func() {
	u.mu.Lock()
	defer u.mu.Unlock()
	held := make(chan struct{})
	u.held = held
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.held = nil
			u.mu.Unlock()
			close(held)
		})
	}
}

// TestKeyEffectsProbesAreTheTable: every probe is of a key of the table.
func TestKeyEffectsProbesAreTheTable(t *testing.T) {
	for name := range effectProbes() {
		if _, ok := profiles.LookupKey(name); !ok {
			t.Errorf("a probe of %s, which is not in the table", name)
		}
	}
}
