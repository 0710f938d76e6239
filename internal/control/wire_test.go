package control_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// home is HERMES_HOME of every fixture (the fake never touches it).
const home = "/opt/data"

// TestMain lets the test binary play the client of another uid: with
// HERMES_CONTROL_TEST_HELPER=probe it runs every probe against the socket
// in HERMES_CONTROL_SOCKET and prints the transcript (TestPeerCredentials
// re-executes it under other uids).
func TestMain(m *testing.M) {
	if os.Getenv("HERMES_CONTROL_TEST_HELPER") == "client" {
		os.Exit(benchClient(os.Getenv("HERMES_CONTROL_SOCKET")))
	}
	if os.Getenv("HERMES_CONTROL_TEST_HELPER") == "conns" {
		os.Exit(connsHelper(os.Getenv("HERMES_CONTROL_SOCKET")))
	}
	if os.Getenv("HERMES_CONTROL_TEST_HELPER") == "probe" {
		uid, _ := strconv.Atoi(os.Getenv("HERMES_CONTROL_TEST_UID"))
		out, err := runProbes(os.Getenv("HERMES_CONTROL_SOCKET"), uid)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Stdout.WriteString(out)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A probe is one request of the wire test, with the status root and the
// hermes uid get (every other uid gets 403). Probes run in order against a
// fresh fixture, so later ones see what earlier ones changed.
type probe struct {
	name, method, path, body string
	header                   map[string]string
	root, hermes             int
}

var bigSpec = `{"argv":["` + strings.Repeat("a", control.MaxBodyBytes) + `"]}`

func probes(hermesUID int) []probe {
	origin := map[string]string{"Origin": "http://localhost:9119"}
	return []probe{
		{"health", "GET", "/v1/health", "", nil, 200, 200},
		{"metrics", "GET", "/v1/metrics", "", nil, 200, 200},
		{"list", "GET", "/v1/services", "", nil, 200, 200},
		{"get", "GET", "/v1/services/web", "", nil, 200, 200},
		{"get_root_service", "GET", "/v1/services/rootsvc", "", nil, 200, 200},
		{"get_missing", "GET", "/v1/services/nope", "", nil, 404, 404},
		{"logs", "GET", "/v1/services/web/logs", "", nil, 200, 200},
		{"logs_tail", "GET", "/v1/services/web/logs?tail=1", "", nil, 200, 200},
		{"logs_root_service", "GET", "/v1/services/rootsvc/logs?tail=5", "", nil, 200, 200},
		{"logs_bad_tail", "GET", "/v1/services/web/logs?tail=-1", "", nil, 400, 400},
		{"logs_bad_follow", "GET", "/v1/services/web/logs?follow=maybe", "", nil, 400, 400},
		{"logs_missing", "GET", "/v1/services/nope/logs", "", nil, 404, 404},
		{"logs_follow", "GET", "/v1/services/web/logs?follow=1", "", nil, 200, 200},
		{"events", "GET", "/v1/events", "", nil, 200, 200},
		{"put_new", "PUT", "/v1/services/api?start=false", `{"argv":["/bin/api"]}`, nil, 200, 200},
		{"put_start", "PUT", "/v1/services/api2", `{"name":"api2","argv":["/bin/api","-v"],"env":{"A":"1"},"restart":"always","stop_grace":"3s"}`, nil, 200, 200},
		{"put_replace", "PUT", "/v1/services/api", `{"argv":["/bin/api","--new"]}`, nil, 200, 200},
		{"put_as_root", "PUT", "/v1/services/rootjob?start=false", `{"argv":["/bin/x"],"user":"root"}`, nil, 200, 403},
		{"put_root_group", "PUT", "/v1/services/grp?start=false", `{"argv":["/bin/x"],"user":"` + strconv.Itoa(hermesUID) + `:0"}`, nil, 200, 403},
		{"put_dir_escape", "PUT", "/v1/services/esc?start=false", `{"argv":["/bin/x"],"dir":"../../etc"}`, nil, 200, 403},
		{"put_log_escape", "PUT", "/v1/services/esc2?start=false", `{"argv":["/bin/x"],"log_file":"/opt/data2/x"}`, nil, 200, 403},
		{"put_name_mismatch", "PUT", "/v1/services/api", `{"name":"other","argv":["a"]}`, nil, 400, 400},
		{"put_unknown_field", "PUT", "/v1/services/api", `{"argv":["a"],"privileged":true}`, nil, 400, 400},
		{"put_bad_json", "PUT", "/v1/services/api", `{"argv":`, nil, 400, 400},
		{"put_no_body", "PUT", "/v1/services/api", ``, nil, 400, 400},
		{"put_invalid_spec", "PUT", "/v1/services/api", `{"argv":["a"],"restart":"sometimes"}`, nil, 400, 400},
		{"put_bad_name", "PUT", "/v1/services/Bad", `{"argv":["a"]}`, nil, 400, 400},
		{"put_bad_start", "PUT", "/v1/services/api?start=maybe", `{"argv":["a"]}`, nil, 400, 400},
		{"put_gateway", "PUT", "/v1/services/gateway-x", `{"argv":["a"]}`, nil, 403, 403},
		{"put_dashboard", "PUT", "/v1/services/dashboard", `{"argv":["a"]}`, nil, 403, 403},
		{"put_too_large", "PUT", "/v1/services/big", bigSpec, nil, 413, 413},
		{"start", "POST", "/v1/services/idle/start", "", nil, 200, 200},
		{"stop", "POST", "/v1/services/web/stop", "", nil, 200, 200},
		{"restart", "POST", "/v1/services/web/restart", "", nil, 200, 200},
		{"start_missing", "POST", "/v1/services/nope/start", "", nil, 404, 404},
		{"start_bad_name", "POST", "/v1/services/..%2Fetc/start", "", nil, 400, 400},
		{"restart_gateway", "POST", "/v1/services/gateway-default/restart", "", nil, 200, 200},
		{"stop_dashboard", "POST", "/v1/services/dashboard/stop", "", nil, 200, 200},
		{"stop_root_service", "POST", "/v1/services/rootsvc/stop", "", nil, 200, 403},
		{"signal", "POST", "/v1/services/web/signal?sig=HUP", "", nil, 204, 204},
		{"signal_number", "POST", "/v1/services/web/signal?sig=10", "", nil, 204, 204},
		{"signal_no_sig", "POST", "/v1/services/web/signal", "", nil, 400, 400},
		{"signal_bad_sig", "POST", "/v1/services/web/signal?sig=BOGUS", "", nil, 400, 400},
		{"signal_not_running", "POST", "/v1/services/dormant/signal?sig=HUP", "", nil, 409, 409},
		{"signal_root_service", "POST", "/v1/services/rootsvc/signal?sig=HUP", "", nil, 409, 403},
		{"put_gateway_down", "PUT", "/v1/gateways/coder", "", nil, 200, 200},
		{"put_gateway_start", "PUT", "/v1/gateways/writer?start=true", "", nil, 200, 200},
		{"put_gateway_existing", "PUT", "/v1/gateways/default?start=false", "", nil, 200, 200},
		{"put_gateway_no_profile", "PUT", "/v1/gateways/typo", "", nil, 404, 404},
		{"put_gateway_bad_name", "PUT", "/v1/gateways/Bad", "", nil, 400, 400},
		{"put_gateway_reserved_name", "PUT", "/v1/gateways/root", "", nil, 400, 400},
		{"put_gateway_bad_start", "PUT", "/v1/gateways/coder?start=maybe", "", nil, 400, 400},
		{"put_gateway_root_owned", "PUT", "/v1/gateways/rootgw", "", nil, 200, 403},
		{"wrong_method_gateway", "POST", "/v1/gateways/coder", "", nil, 405, 405},
		{"delete_gateway_route", "DELETE", "/v1/gateways/coder", "", nil, 204, 204},
		{"delete_gateway_absent", "DELETE", "/v1/gateways/nope", "", nil, 204, 204},
		{"delete_gateway_bad_name", "DELETE", "/v1/gateways/..%2Fetc", "", nil, 400, 400},
		{"delete_gateway_root_owned", "DELETE", "/v1/gateways/rootgw", "", nil, 204, 403},
		{"delete", "DELETE", "/v1/services/api", "", nil, 204, 204},
		{"delete_missing", "DELETE", "/v1/services/nope", "", nil, 204, 204},
		{"delete_bad_name", "DELETE", "/v1/services/Bad", "", nil, 400, 400},
		{"delete_dashboard", "DELETE", "/v1/services/dashboard", "", nil, 403, 403},
		{"delete_gateway", "DELETE", "/v1/services/gateway-default", "", nil, 403, 403},
		{"delete_root_service", "DELETE", "/v1/services/rootsvc", "", nil, 204, 403},
		{"no_route", "GET", "/v2/services", "", nil, 404, 404},
		{"no_route_v1", "GET", "/v1", "", nil, 404, 404},
		{"wrong_method", "PATCH", "/v1/services", "", nil, 405, 405},
		{"wrong_method_health", "POST", "/v1/health", "", nil, 405, 405},
		{"wrong_method_start", "GET", "/v1/services/web/start", "", nil, 405, 405},
		{"origin", "GET", "/v1/health", "", origin, 403, 403},
		{"referer", "GET", "/v1/services", "", map[string]string{"Referer": "http://localhost:9119/"}, 403, 403},
		{"origin_put", "PUT", "/v1/services/evil", `{"argv":["/bin/sh"]}`, origin, 403, 403},
		{"counters_put", "PUT", "/v1/counters/dashboard", `{"logins_limited":3,"conns_over_address_cap":0}`, nil, 204, 204},
		{"counters_replace", "PUT", "/v1/counters/dashboard", `{"logins_limited":4}`, nil, 204, 204},
		{"counters_bad_source", "PUT", "/v1/counters/Dash-board", `{}`, nil, 400, 400},
		{"counters_bad_name", "PUT", "/v1/counters/dashboard", `{"Logins":1}`, nil, 400, 400},
		{"counters_negative", "PUT", "/v1/counters/dashboard", `{"logins_limited":-1}`, nil, 400, 400},
		{"counters_not_object", "PUT", "/v1/counters/dashboard", `[1]`, nil, 400, 400},
		{"counters_null", "PUT", "/v1/counters/dashboard", `null`, nil, 400, 400},
		{"counters_trailing", "PUT", "/v1/counters/dashboard", `{} {}`, nil, 400, 400},
		{"counters_too_large", "PUT", "/v1/counters/dashboard", `{"a":` + strings.Repeat(" ", control.MaxCounterBytes) + `1}`, nil, 413, 413},
		{"counters_wrong_method", "GET", "/v1/counters/dashboard", "", nil, 405, 405},
		{"health_reported", "GET", "/v1/health", "", nil, 200, 200},
		{"list_final", "GET", "/v1/services", "", nil, 200, 200},
	}
}

// seed fills a fake supervisor with the services the probes expect.
// runtimeNames are the names the wiring reserves: the dashboard's and
// the gateways' (gateway.InNamespace).
func runtimeNames(name string) bool { return name == "dashboard" || gateway.InNamespace(name) }

func seed(t testing.TB, sup *controltest.Supervisor, hermesUID int) {
	t.Helper()
	sup.Reserve(runtimeNames)
	ctx := context.Background()
	if _, err := sup.Register(ctx, supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}, true); err != nil {
		t.Fatal(err)
	}
	one := 1
	epoch := controltest.Epoch()
	sup.Put(supervise.Status{Name: "rootsvc", Want: supervise.WantUp, State: supervise.Running, PID: 77, Since: epoch, UID: 0})
	sup.Put(supervise.Status{Name: "gateway-default", Want: supervise.WantUp, State: supervise.Running, PID: 88, Since: epoch, UID: hermesUID})
	sup.Put(supervise.Status{Name: "gateway-rootgw", Want: supervise.WantDown, State: supervise.Stopped, Since: epoch, UID: 0})
	sup.Put(supervise.Status{Name: "dashboard", Want: supervise.WantDown, State: supervise.Stopped, Since: epoch, UID: hermesUID})
	sup.Put(supervise.Status{Name: "idle", Want: supervise.WantDown, State: supervise.Failed, Since: epoch, UID: hermesUID,
		LastExit: &supervise.Exit{Code: &one}, Reason: "exited with status 1", Logs: logpipe.Counters{Lines: 3, Bytes: 40, Dropped: 2}})
	sup.Put(supervise.Status{Name: "dormant", Want: supervise.WantDown, State: supervise.Stopped, UID: hermesUID})
	t0 := epoch.Add(time.Second)
	if err := sup.AppendLog("web",
		logpipe.Entry{Time: t0, Stream: logpipe.Stdout, Line: "listening on :8080"},
		logpipe.Entry{Time: t0.Add(time.Millisecond), Stream: logpipe.Stderr, Line: "warning: <no config> & \"defaults\""},
		logpipe.Entry{Time: t0.Add(2 * time.Millisecond), Stream: logpipe.Stdout, Line: "xxxx", Continued: true},
	); err != nil {
		t.Fatal(err)
	}
}

// gatewayProfiles are the profiles that exist in the fixture.
var gatewayProfiles = []string{"default", "coder", "writer", "rootgw"}

// httpClient returns a plain HTTP client of a Unix socket (no
// control.Client, so that the transcript shows the wire as it is).
func httpClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// runProbes runs every probe against the socket at path, served for
// hermesUID, and returns the transcript.
func runProbes(path string, hermesUID int) (string, error) {
	hc := httpClient(path)
	var out strings.Builder
	for _, p := range probes(hermesUID) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, p.method, "http://hermes"+p.path, strings.NewReader(p.body))
		if err != nil {
			cancel()
			return "", err
		}
		for k, v := range p.header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			cancel()
			return "", fmt.Errorf("%s: %w", p.name, err)
		}
		ct := resp.Header.Get("Content-Type")
		var body []byte
		if ct == "application/json" || ct == "application/x-ndjson" && !strings.Contains(p.path, "follow=1") {
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		cancel()
		fmt.Fprintf(&out, "### %s\n%s %s\n%d %s", p.name, p.method, p.path, resp.StatusCode, ct)
		if allow := resp.Header.Get("Allow"); allow != "" {
			fmt.Fprintf(&out, " (Allow: %s)", allow)
		}
		fmt.Fprintf(&out, "\n%s\n", body)
	}
	return out.String(), nil
}

// transcriptStatuses returns the status of every probe in a transcript.
func transcriptStatuses(t *testing.T, transcript string) map[string]int {
	t.Helper()
	got := map[string]int{}
	re := regexp.MustCompile(`(?m)^### (\S+)\n\S+ \S+\n(\d{3}) `)
	for _, m := range re.FindAllStringSubmatch(transcript, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	return got
}

// normalize replaces the hermes uid, which depends on who runs the test,
// with a placeholder.
func normalize(transcript string, hermesUID int) string {
	return regexp.MustCompile(`\b`+strconv.Itoa(hermesUID)+`\b`).ReplaceAllString(transcript, "HERMES_UID")
}

// serve runs a server for sup on a socket made by control.Listen at path.
func serve(t *testing.T, sup control.Supervisor, hermesUID int, path string, mod func(*control.Config)) {
	t.Helper()
	cfg := control.Config{
		Sup: sup, Home: home, HermesUID: hermesUID, HermesGID: hermesUID,
		Health: func() control.Health {
			return control.Health{Boot: control.BootReady, Owner: true, PID1: false, Version: "1.2.3-test"}
		},
	}
	if fake, ok := sup.(*controltest.Supervisor); ok {
		cfg.Gateways = controltest.Gateways{Sup: fake, Profiles: gatewayProfiles, Name: gateway.ServiceName}
	}
	if mod != nil {
		mod(&cfg)
	}
	srv := control.NewServer(cfg)
	ln, err := control.Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after a clean shutdown", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after its context was cancelled")
		}
	})
}

// wireUID is the hermes uid of the wire fixture: 23456 when the test runs
// as root (so root's answers are recorded), else the test's own uid (so the
// hermes uid's answers are).
func wireUID() (uid int, asRoot bool) {
	if os.Getuid() == 0 {
		return 23456, true
	}
	return os.Getuid(), false
}

// fixtureUID is the hermes uid of the other fixtures: 10000 when the test
// runs as root, else the test's own uid (so that it may do what they do).
func fixtureUID() int {
	if os.Getuid() == 0 {
		return 10000
	}
	return os.Getuid()
}

// TestWire runs every probe as the test's own uid and compares the
// transcript (statuses, headers, bodies) with a golden file.
func TestWire(t *testing.T) {
	hermesUID, asRoot := wireUID()
	sup := controltest.NewSupervisor(home, hermesUID, hermesUID)
	seed(t, sup, hermesUID)
	path := filepath.Join(t.TempDir(), "control.sock")
	serve(t, sup, hermesUID, path, nil)
	out, err := runProbes(path, hermesUID)
	if err != nil {
		t.Fatal(err)
	}
	name := "wire_hermes.golden"
	if asRoot {
		name = "wire_root.golden"
	}
	testenv.Golden(t, name, normalize(out, hermesUID))
	got := transcriptStatuses(t, out)
	for _, p := range probes(hermesUID) {
		want := p.hermes
		if asRoot {
			want = p.root
		}
		if got[p.name] != want {
			t.Errorf("%s %s as %s = %d, want %d", p.method, p.path, map[bool]string{true: "root", false: "hermes"}[asRoot], got[p.name], want)
		}
	}
	if sig := sup.Signals(); strings.Join(sig, " ") != "web:SIGHUP web:SIGUSR1" && asRoot {
		t.Errorf("signals sent = %v, want [web:SIGHUP web:SIGUSR1]", sig)
	}
}

// TestProbesCoverRoutes fails when a route of the table is exercised by
// no probe (add one to probes when adding a route).
func TestProbesCoverRoutes(t *testing.T) {
	mux := http.NewServeMux()
	for _, rt := range control.Routes() {
		if rt.Perm == "undeclared" {
			t.Errorf("route %q declares no permission", rt.Pattern)
		}
		mux.HandleFunc(rt.Pattern, func(http.ResponseWriter, *http.Request) {})
	}
	hit := map[string]bool{}
	for _, p := range probes(1) {
		req := httptest.NewRequest(p.method, "http://hermes"+p.path, nil)
		_, pattern := mux.Handler(req)
		hit[pattern] = true
	}
	for _, rt := range control.Routes() {
		if !hit[rt.Pattern] {
			t.Errorf("route %q is exercised by no probe", rt.Pattern)
		}
	}
}

func TestTooLargeBody(t *testing.T) {
	uid := fixtureUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	path := controltest.Serve(t, sup, home, controltest.Options{HermesUID: uid, HermesGID: uid})
	resp, err := httpClient(path).Do(mustRequest(t, "PUT", "/v1/services/big", bytes.NewReader([]byte(bigSpec))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"error":"too_large"`) {
		t.Errorf("PUT of %d bytes = %d %s, want 413 too_large", len(bigSpec), resp.StatusCode, b)
	}
	if _, err := sup.Status("big"); err == nil {
		t.Errorf("a too large spec was registered")
	}
}

func mustRequest(t *testing.T, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://hermes"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
