package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

const testMetricsToken = "metrics-token-for-tests"

func readyOf(t *testing.T, h http.Handler) (int, Ready) {
	t.Helper()
	rec := serveOne(h, "GET", "/health/ready", false)
	var r Ready
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("GET /health/ready: %v in %q", err, rec.Body.String())
	}
	return rec.Code, r
}

// TestReady: /health/ready is public and says ready only while the
// gateway runs, does not drain and its store takes writes; an unreachable
// upstream never makes it unready.
func TestReady(t *testing.T) {
	g, h := servedGateway(t, StateRunning, "http://127.0.0.1:1/v1")
	if code, r := readyOf(t, h); code != 200 || !r.Ready || r.Status != "ready" || r.Profile != "coder" {
		t.Errorf("running, upstream unreachable: %d %+v, want 200 ready", code, r)
	}
	g.state.Store(StateStarting)
	if code, r := readyOf(t, h); code != 503 || r.Ready || !strings.Contains(r.Reason, StateStarting) {
		t.Errorf("starting: %d %+v, want 503 naming the state", code, r)
	}
	g.state.Store(StateRunning)
	g.store.Close()
	if code, r := readyOf(t, h); code != 503 || !strings.Contains(r.Reason, "sessions store") {
		t.Errorf("store closed: %d %+v, want 503 naming the store", code, r)
	}
	g, h = servedGateway(t, StateRunning, "http://127.0.0.1:1/v1")
	g.ag.Drain()
	if code, r := readyOf(t, h); code != 503 || !strings.Contains(r.Reason, "draining") {
		t.Errorf("draining: %d %+v, want 503 draining", code, r)
	}
}

// TestMetricsRoute: /metrics needs the key or the metrics token (401
// otherwise, a wrong token included), shows the requests by route name
// and code, never a raw path, and passes the Prometheus linter.
func TestMetricsRoute(t *testing.T) {
	_, h := servedGateway(t, StateRunning, "http://127.0.0.1:1/v1")
	serveOne(h, "GET", "/health", false)
	serveOne(h, "GET", "/v1/models/some-model", false) // 401, no key
	serveOne(h, "GET", "/no/such/path/abc123", false)
	for _, tc := range []struct {
		name, auth string
		code       int
	}{
		{"none", "", 401},
		{"wrong token", "Bearer not-the-token", 401},
		{"token as basic", "Basic " + testMetricsToken, 401},
		{"key", "Bearer " + testKey, 200},
		{"token", "Bearer " + testMetricsToken, 200},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s: GET /metrics = %d, want %d", tc.name, rec.Code, tc.code)
		}
		if rec.Code != 200 {
			continue
		}
		body := rec.Body.String()
		for _, want := range []string{
			`hermes_gateway_requests_total{code="200",route="health"} 1`,
			`hermes_gateway_requests_total{code="401",route="model"} 1`,
			`hermes_gateway_requests_total{code="404",route="unknown"} 1`,
			`hermes_gateway_request_duration_seconds_bucket{route="health",le="0.005"}`,
			`hermes_gateway_in_flight 0`,
			`hermes_sessions_store_bytes `,
			`go_goroutines{component="gateway"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the scrape lacks %s", tc.name, want)
			}
		}
		for _, bad := range []string{"abc123", "some-model", testKey, testMetricsToken} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: the scrape holds %q", tc.name, bad)
			}
		}
		problems, err := promlint.New(strings.NewReader(body)).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestMetricsUpstreamModel: the upstream's series carry the upstream
// model (model.name here), never the name the client sent, whether the
// upstream answered or failed.
func TestMetricsUpstreamModel(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`))
	}))
	defer up.Close()
	chat := func(h http.Handler) {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"client-chosen-name","messages":[{"role":"user","content":"hello"}]}`))
		req.Header.Set("Authorization", "Bearer "+testKey)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	scrape := func(h http.Handler) string {
		rec := serveOne(h, "GET", "/metrics", true)
		return rec.Body.String()
	}
	_, h := servedGateway(t, StateRunning, up.URL+"/v1")
	chat(h)
	_, down := servedGateway(t, StateRunning, "http://127.0.0.1:1/v1")
	chat(down)
	for _, tc := range []struct {
		body string
		want []string
	}{
		{scrape(h), []string{
			`hermes_gateway_tokens_total{direction="prompt",model="m"} 7`,
			`hermes_gateway_tokens_total{direction="completion",model="m"} 2`,
			`hermes_gateway_upstream_duration_seconds_count{model="m"} 1`,
		}},
		{scrape(down), []string{
			`hermes_gateway_upstream_errors_total{kind="upstream_unreachable",model="m"} 1`,
		}},
	} {
		for _, want := range tc.want {
			if !strings.Contains(tc.body, want) {
				t.Errorf("the scrape lacks %s", want)
			}
		}
		if strings.Contains(tc.body, "client-chosen-name") {
			t.Error("the scrape holds the model name the client sent")
		}
	}
}
