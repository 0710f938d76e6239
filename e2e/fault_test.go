package e2e

// The fault suite (issue 19): each TestFault* injects one kind of fault
// into the real binary and checks a promise with numbers (RELIABILITY.md
// holds the promises, the figures and the commands). The short form runs
// with the rest of e2e in CI; HERMES_FAULTS=long (`make faults`) selects
// the long form: longer storms and soaks, more boots and restarts.
// HERMES_FAULTS_MINUTES=N caps the long form's storm and soak at N minutes
// (a trial of the long form). Every figure is logged as a line starting
// "figure:" and, when HERMES_FAULTS_FIGURES names a file, appended to it.
//
// The rig: init as PID 1 of a PID namespace (no network namespace, so that
// the gateways reach the fake upstream this test serves on 127.0.0.1), the
// CLI as root from the host side, as docker exec does.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// faultLong reports whether the long form runs.
func faultLong() bool { return os.Getenv("HERMES_FAULTS") == "long" }

// faultPick is short in the short form and long in the long one.
func faultPick[T any](short, long T) T {
	if faultLong() {
		return long
	}
	return short
}

// faultDuration is a scenario's duration: short, or long capped by
// HERMES_FAULTS_MINUTES in the long form.
func faultDuration(short, long time.Duration) time.Duration {
	if !faultLong() {
		return short
	}
	if m, err := strconv.Atoi(os.Getenv("HERMES_FAULTS_MINUTES")); err == nil && m > 0 && time.Duration(m)*time.Minute < long {
		return time.Duration(m) * time.Minute
	}
	return long
}

var figureMu sync.Mutex

// figure logs one measured figure of the suite and appends it to the file
// HERMES_FAULTS_FIGURES names, if any.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s (%s): %s", t.Name(), faultPick("short", "long"), fmt.Sprintf(format, args...))
	t.Log("figure: " + line)
	if p := os.Getenv("HERMES_FAULTS_FIGURES"); p != "" {
		figureMu.Lock()
		defer figureMu.Unlock()
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

// faultRig is one HERMES_HOME with its fake upstream, booted as often as a
// scenario needs.
type faultRig struct {
	t   *testing.T
	h   nsHome
	up  *fakeUpstream
	srv *httptest.Server
	env []string // init's extra environment
	// ctl is the one control client of the test: a client per call would
	// keep an idle connection (an init descriptor) per call for 30 s.
	ctl *control.Client
}

func newFaultRig(t *testing.T, env ...string) *faultRig {
	t.Helper()
	testenv.NeedProgram(t, "unshare", "run init in a PID namespace (Debian package util-linux)")
	h := newNSHome(t)
	up := &fakeUpstream{gone: make(chan struct{})}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return &faultRig{t: t, h: h, up: up, srv: srv, ctl: control.NewClient(h.socket), env: append([]string{"FAKE_UPSTREAM_KEY=upstream-key"}, env...)}
}

// boot starts init (main command: a sleep) as PID 1 of a new PID namespace
// and waits until it is ready; stdout, when given, is its stdout (else a
// buffer).
func (f *faultRig) boot(stdout io.Writer) *runningInit {
	t := f.t
	t.Helper()
	cmd := f.h.initCmd(pidNS, f.env, "sleep", "100000")
	r := &runningInit{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			out := r.out.String()
			if len(out) > 8000 {
				out = "…" + out[len(out)-8000:]
			}
			t.Logf("init %d (%v) said:\n%s", r.pid, cmd.ProcessState, out)
		}
	})
	r.pid = initPID(t, pidNS, cmd)
	ready := exec.Command(hermesBin, "svc", "ready", "--timeout", "30s")
	ready.Env = append(os.Environ(), "HERMES_CONTROL_SOCKET="+f.h.socket, "HERMES_HOME="+f.h.home)
	if out, err := ready.CombinedOutput(); err != nil {
		t.Fatalf("init never got ready: %v\n%s\ninit's output:\n%s", err, out, r.out.String())
	}
	return r
}

// kill is SIGKILL to PID 1: the kernel kills the whole namespace.
func (r *runningInit) kill(t *testing.T) {
	t.Helper()
	syscall.Kill(r.pid, syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the namespace of init %d did not end within 15s", r.pid)
	}
}

// hermes runs the CLI as root from the host side.
func (f *faultRig) hermes(args ...string) cmdResult {
	f.t.Helper()
	return f.h.hermes(f.t, f.h.socket, nil, args...)
}

func (f *faultRig) must(args ...string) string {
	f.t.Helper()
	return f.h.mustHermes(f.t, f.h.socket, args...)
}

// faultGW is one profile's gateway as its clients see it.
type faultGW struct {
	profile, base, key string
	port               int
}

// gateway makes profile (created unless it is "default") talk to the fake
// upstream on a free port, starts its gateway and waits for its /health.
func (f *faultRig) gateway(profile string, extra ...[2]string) faultGW {
	t := f.t
	t.Helper()
	if profile != "default" {
		f.must("profile", "create", profile)
	}
	port := quietPort(t)
	sets := append([][2]string{
		{"gateway.port", fmt.Sprint(port)}, {"model.base_url", f.srv.URL + "/v1"},
		{"model.name", "fake-model"}, {"model.api_key_env", "FAKE_UPSTREAM_KEY"},
	}, extra...)
	for _, kv := range sets {
		f.must("-p", profile, "config", "set", kv[0], kv[1])
	}
	f.must("-p", profile, "gateway", "start")
	env, err := profiles.ReadEnv(profiles.EnvPath(profiles.MustParse(f.h.home, profile)))
	if err != nil {
		t.Fatal(err)
	}
	g := faultGW{profile: profile, port: port, key: env[profiles.APIKeyVar], base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	g.waitHealth(t, 30*time.Second)
	return g
}

func (g faultGW) waitHealth(t *testing.T, d time.Duration) {
	t.Helper()
	testenv.EventuallyNil(t, d, "the gateway of "+g.profile+" to answer /health", func() error {
		resp, err := http.Get(g.base + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// post sends one authorised JSON request and returns the status and body.
func (g faultGW) post(ctx context.Context, c *http.Client, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", g.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// chat is one streamed chat completion; nil once it was answered whole.
func (g faultGW) chat(ctx context.Context, c *http.Client, prompt string) error {
	code, b, err := g.post(ctx, c, "/v1/chat/completions", fmt.Sprintf(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":%q}]}`, prompt))
	if err != nil {
		return err
	}
	if code != 200 || !bytes.Contains(b, []byte("[DONE]")) {
		return fmt.Errorf("chat: %d %.200s", code, b)
	}
	return nil
}

// respond is one stored Responses API turn; it returns the response's id
// once the gateway acknowledged it.
func (g faultGW) respond(ctx context.Context, c *http.Client, prompt string) (string, error) {
	code, b, err := g.post(ctx, c, "/v1/responses", fmt.Sprintf(`{"model":"gpt-4o","input":%q}`, prompt))
	if err != nil {
		return "", err
	}
	var v struct {
		ID string `json:"id"`
	}
	if code != 200 || json.Unmarshal(b, &v) != nil || v.ID == "" {
		return "", fmt.Errorf("responses: %d %.200s", code, b)
	}
	return v.ID, nil
}

// stored reports the status of GET /v1/responses/{id}.
func (g faultGW) stored(c *http.Client, id string) (int, error) {
	req, _ := http.NewRequest("GET", g.base+"/v1/responses/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+g.key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// statuses is the supervisor's view (the control API, as root).
func (f *faultRig) statuses() (map[string]supervise.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := f.ctl.List(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]supervise.Status{}
	for _, s := range list {
		m[s.Name] = s
	}
	return m, nil
}

// procStats are what /proc says of one process.
type procStats struct {
	FDs, Threads int
	RSSKiB       int
}

func (p procStats) String() string {
	return fmt.Sprintf("fds=%d threads=%d rss=%dKiB", p.FDs, p.Threads, p.RSSKiB)
}

func readProcStats(pid int) (procStats, error) {
	var p procStats
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return p, err
	}
	p.FDs = len(ents)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.Fields(v + " 0")[0])
		switch k {
		case "Threads":
			p.Threads = n
		case "VmRSS":
			p.RSSKiB = n
		}
	}
	return p, nil
}

// goroutines reads init's goroutine count (go_goroutines) from hermes svc
// metrics; ok is false when the scrape failed or does not hold it.
func (f *faultRig) goroutines() (n int, ok bool) {
	r := f.hermes("svc", "metrics")
	if r.Code != 0 {
		return 0, false
	}
	v, ok := promSample(r.Stdout, "go_goroutines")
	return int(v), ok
}

// promSample is the value of the first sample of the series name in text
// (the Prometheus text format) whose labels hold every one of labels
// (each as it is written: `service="writer"`); ok is false when there is
// none.
func promSample(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, found := strings.CutPrefix(line, name)
		if !found || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(rest[:i], l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		return v, err == nil
	}
	return 0, false
}

// goroutines reads the goroutine count of g's gateway from its own
// GET /metrics (behind its API key); ok is false when it could not.
func (g faultGW) goroutines(c *http.Client) (n int, ok bool) {
	req, _ := http.NewRequest("GET", g.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+g.key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return 0, false
	}
	v, ok := promSample(string(b), "go_goroutines")
	return int(v), ok
}

// descendants are the pids below pid (children first, breadth-first).
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, task.Name()))
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// zombies are the descendants of pid that are zombies.
func zombies(pid int) []int {
	var z []int
	for _, p := range descendants(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i+1:], " Z") {
			z = append(z, p)
		}
	}
	return z
}

// percentile is the q-quantile (0..1) of ds, which it sorts.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(q * float64(len(ds)-1))
	return ds[i]
}

// hostPID is the host's pid of the process that the PID namespace of init
// (host pid initPID, PID 1 inside) calls nsPID, or 0 when there is none:
// the supervisor's pids are the namespace's, and signalling them as host
// pids would hit other processes.
func hostPID(initPID, nsPID int) int {
	if nsPID == 1 {
		return initPID
	}
	for _, p := range descendants(initPID) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(v)
				if len(f) > 1 && f[len(f)-1] == strconv.Itoa(nsPID) {
					return p
				}
			}
		}
	}
	return 0
}

// fdKinds summarises what pid's descriptors point at (for failures).
func fdKinds(pid int) map[string]int {
	m := map[string]int{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		if i := strings.IndexAny(l, ":["); i > 0 && !strings.HasPrefix(l, "/") {
			l = l[:i]
		}
		m[l]++
	}
	return m
}

// quietPort is a free TCP port below the kernel's ephemeral range
// (32768-60999), so that no outgoing connection of the suite's heavy
// traffic can take it between this call and the gateway's bind (freePort's
// ports are ephemeral ones).
func quietPort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		p := 20000 + mrand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}
