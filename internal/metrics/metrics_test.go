package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/procstat"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		set     bool
		errWant string
	}{
		{"none", nil, false, ""},
		{"value", map[string]string{hostenv.EnvMetricsToken: "s3cret"}, true, ""},
		{"file", map[string]string{hostenv.EnvMetricsTokenFile: good}, true, ""},
		{"both", map[string]string{hostenv.EnvMetricsToken: "a", hostenv.EnvMetricsTokenFile: good}, false, "not both"},
		{"empty value", map[string]string{hostenv.EnvMetricsToken: " "}, false, "is empty"},
		{"empty file", map[string]string{hostenv.EnvMetricsTokenFile: empty}, false, "is empty"},
		{"missing file", map[string]string{hostenv.EnvMetricsTokenFile: filepath.Join(dir, "none")}, false, "no such file"},
		{"two words", map[string]string{hostenv.EnvMetricsToken: "a b"}, false, "white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := LoadToken(envOf(tc.env))
			if tc.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errWant) {
					t.Fatalf("LoadToken = %v, want an error with %q", err, tc.errWant)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error %q shows the token", err)
				}
				return
			}
			if err != nil || tok.Set() != tc.set {
				t.Fatalf("LoadToken = set %v, %v; want set %v", tok.Set(), err, tc.set)
			}
		})
	}
}

func TestTokenAllows(t *testing.T) {
	tok := NewToken("s3cret")
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"Bearer s3cret", true},
		{"bearer s3cret", true},
		{"Bearer  s3cret ", true},
		{"", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"Bearer s3cre", false},
		{"Bearer s3cret2", false},
		{"Basic s3cret", false},
		{"s3cret", false},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := tok.Allows(r); got != tc.want {
			t.Errorf("Allows(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Authorization", "Bearer ")
	if (Token{}).Allows(r) {
		t.Error("an unset token allows an empty bearer")
	}
}

func sampleServices() []Service {
	return []Service{
		{Name: "web", Up: true, WantedUp: true, Restarts: 2, StdoutLines: 10, StderrLines: 3, DroppedLines: 1,
			Usage: &procstat.Usage{Processes: 2, CPUSeconds: 1.5, RSSBytes: 4096, PSSBytes: 2048, OpenFDs: 7, Threads: 5}},
		{Name: "idle", WantedUp: false},
	}
}

// TestServicesSeries: the services' series are the snapshot's, and lint
// clean (the Prometheus style: units, _total counters).
func TestServicesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewServices(sampleServices, func() time.Duration { return 1500 * time.Millisecond }))
	want := `
# HELP hermes_service_restarts_total Restarts of the service by its restart policy.
# TYPE hermes_service_restarts_total counter
hermes_service_restarts_total{service="idle"} 0
hermes_service_restarts_total{service="web"} 2
# HELP hermes_service_log_lines_total Lines the service wrote, by stream.
# TYPE hermes_service_log_lines_total counter
hermes_service_log_lines_total{service="idle",stream="stderr"} 0
hermes_service_log_lines_total{service="idle",stream="stdout"} 0
hermes_service_log_lines_total{service="web",stream="stderr"} 3
hermes_service_log_lines_total{service="web",stream="stdout"} 10
# HELP hermes_service_memory_bytes Memory of the service's process group: resident (rss) and proportional (pss).
# TYPE hermes_service_memory_bytes gauge
hermes_service_memory_bytes{kind="pss",service="web"} 2048
hermes_service_memory_bytes{kind="rss",service="web"} 4096
# HELP hermes_service_up Whether the service's process runs (1) or not (0).
# TYPE hermes_service_up gauge
hermes_service_up{service="idle"} 0
hermes_service_up{service="web"} 1
# HELP hermes_boot_duration_seconds Time from init's start to the end of its boot (step 5); absent while it boots.
# TYPE hermes_boot_duration_seconds gauge
hermes_boot_duration_seconds 1.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), ServiceRestarts, ServiceLogLines, ServiceMemory, ServiceUp, BootDuration); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, ServiceCPU); err != nil || n != 1 {
		t.Errorf("%s: %d series, %v; want 1 (a stopped service has none)", ServiceCPU, n, err)
	}
	lint(t, reg)
}

func lint(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestRegistryComponent: a process's runtime series carry its component.
func TestRegistryComponent(t *testing.T) {
	reg := NewRegistry(ComponentInit)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "go_") && !strings.HasPrefix(f.GetName(), "process_") {
			continue
		}
		for _, m := range f.GetMetric() {
			seen++
			var comp string
			for _, l := range m.GetLabel() {
				if l.GetName() == LabelComponent {
					comp = l.GetValue()
				}
			}
			if comp != ComponentInit {
				t.Fatalf("%s has component %q, want %q", f.GetName(), comp, ComponentInit)
			}
		}
	}
	if seen < 10 {
		t.Errorf("%d runtime series, want the Go and process collectors'", seen)
	}
}

func TestGatewaySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := NewGateway(reg, func() int { return 3 }, func() (int64, error) { return 8192, nil })
	g.Observe(Exchange{Route: "chat_completions", Status: 200, Duration: 2 * time.Second, Upstream: time.Second, UpstreamModel: "big-model", PromptTokens: 12, OutputTokens: 30})
	g.Observe(Exchange{Route: "responses", Status: 200, Duration: 2 * time.Second, Upstream: time.Second, UpstreamModel: "small-model", PromptTokens: 5, OutputTokens: 1})
	g.Observe(Exchange{Route: "chat_completions", Status: 502, Duration: time.Second, Upstream: time.Second, UpstreamModel: "big-model", UpstreamError: "upstream_unreachable"})
	g.Observe(Exchange{Route: "health", Status: 200, Duration: time.Millisecond})
	want := `
# HELP hermes_gateway_requests_total Requests answered by the gateway, by route (its name in the route table) and status code.
# TYPE hermes_gateway_requests_total counter
hermes_gateway_requests_total{code="200",route="chat_completions"} 1
hermes_gateway_requests_total{code="200",route="health"} 1
hermes_gateway_requests_total{code="502",route="chat_completions"} 1
hermes_gateway_requests_total{code="200",route="responses"} 1
# HELP hermes_gateway_tokens_total Tokens the upstream reported in its usage, by direction (prompt, completion) and upstream model.
# TYPE hermes_gateway_tokens_total counter
hermes_gateway_tokens_total{direction="completion",model="big-model"} 30
hermes_gateway_tokens_total{direction="prompt",model="big-model"} 12
hermes_gateway_tokens_total{direction="completion",model="small-model"} 1
hermes_gateway_tokens_total{direction="prompt",model="small-model"} 5
# HELP hermes_gateway_upstream_errors_total Requests that ended with an upstream failure, by kind (the error envelope's code) and upstream model.
# TYPE hermes_gateway_upstream_errors_total counter
hermes_gateway_upstream_errors_total{kind="upstream_unreachable",model="big-model"} 1
# HELP hermes_gateway_in_flight API requests being served, streams included.
# TYPE hermes_gateway_in_flight gauge
hermes_gateway_in_flight 3
# HELP hermes_sessions_store_bytes Size on disk of the profile's sessions store (state.db with its WAL).
# TYPE hermes_sessions_store_bytes gauge
hermes_sessions_store_bytes 8192
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), GatewayRequests, GatewayTokens, GatewayUpstreamErrors, GatewayInFlight, SessionsStoreBytes); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(reg, GatewayUpstreamDuration); n != 2 {
		t.Errorf("%s: %d series, want 2 (one per upstream model)", GatewayUpstreamDuration, n)
	}
	lint(t, reg)
}

func TestGateSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewGate(func() GateCounts {
		return GateCounts{Logins: map[Login]uint64{{"password", "success"}: 2, {"password", "failure"}: 1}, Refusals: map[string]uint64{"no_cookie": 4}, RateLimited: 1}
	}))
	want := `
# HELP hermes_gate_logins_total Logins through the dashboard's gate, by provider and outcome.
# TYPE hermes_gate_logins_total counter
hermes_gate_logins_total{outcome="failure",provider="password"} 1
hermes_gate_logins_total{outcome="success",provider="password"} 2
# HELP hermes_gate_rate_limited_total Login requests refused by the per-network rate limit (429).
# TYPE hermes_gate_rate_limited_total counter
hermes_gate_rate_limited_total 1
# HELP hermes_gate_refusals_total Requests the gate refused, by its fixed reason.
# TYPE hermes_gate_refusals_total counter
hermes_gate_refusals_total{reason="no_cookie"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	lint(t, reg)
}

// TestRelay: a relayed scrape keeps its series and labels beside the
// relaying process's own, served as one.
func TestRelay(t *testing.T) {
	src := httptest.NewServer(NewInit(NewServices(sampleServices, nil)))
	defer src.Close()
	relay := NewRelay(func(ctx context.Context) (io.ReadCloser, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", src.URL, nil)
		req.Header.Set("Accept", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	})
	own := NewRegistry(ComponentDashboard)
	g := prometheus.Gatherers{relay, own}
	rec := httptest.NewRecorder()
	Handler(g).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`hermes_service_up{service="web"} 1`, `go_goroutines{component="init"}`, `go_goroutines{component="dashboard"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("relayed scrape lacks %s", want)
		}
	}
	failing := NewRelay(func(context.Context) (io.ReadCloser, error) { return nil, io.ErrUnexpectedEOF })
	rec = httptest.NewRecorder()
	Handler(prometheus.Gatherers{failing, own}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `go_goroutines{component="dashboard"}`) {
		t.Errorf("a failed relay hides the process's own series: %d %.200s", rec.Code, rec.Body.String())
	}
}
