package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/hostenv"
)

const testMetricsToken = "dashboard-metrics-token"

// metricsFixture is newFixture's dashboard with the metrics token set.
func metricsFixture(t *testing.T, mode authgate.Mode) *fixture {
	t.Helper()
	f := newFixture(t, mode, nil)
	f.gate = gateFor(t, mode, nil)
	srv, err := New(Config{
		Home: f.home, Gate: f.gate,
		Control: func(context.Context) *control.Client { return control.NewClient(f.socket) },
		Env:     mapEnv(map[string]string{hostenv.EnvMetricsToken: testMetricsToken}), Logger: testLogger(f.logs), Now: func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	return f
}

// TestMetricsGated: in gated mode /metrics needs a session or the metrics
// token (a wrong one is 401), and relays init's series (component="init")
// beside the gate's and the dashboard's own.
func TestMetricsGated(t *testing.T) {
	f := metricsFixture(t, authgate.Gated)
	h := f.handler()
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"anonymous", nil, http.StatusUnauthorized},
		{"wrong token", map[string]string{"Authorization": "Bearer wrong"}, http.StatusUnauthorized},
		{"token", map[string]string{"Authorization": "Bearer " + testMetricsToken}, http.StatusOK},
	} {
		rec := do(h, "GET", MetricsPath, tc.hdr)
		if rec.Code != tc.code {
			t.Errorf("%s: GET /metrics = %d, want %d", tc.name, rec.Code, tc.code)
			continue
		}
		if rec.Code != http.StatusOK {
			continue
		}
		body := rec.Body.String()
		for _, want := range []string{
			`hermes_service_up{service="worker"} 1`,
			`hermes_service_wanted_up{service="gateway-default"} 0`,
			`go_goroutines{component="init"}`,
			`go_goroutines{component="dashboard"}`,
			`hermes_gate_rate_limited_total 0`,
			`hermes_gate_refusals_total{reason="no_cookie"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the scrape lacks %s", tc.name, want)
			}
		}
		if strings.Contains(body, testMetricsToken) {
			t.Error("the scrape shows the token")
		}
	}
	if rec := do(h, "POST", MetricsPath, map[string]string{"Authorization": "Bearer " + testMetricsToken}); rec.Code == http.StatusOK {
		t.Errorf("POST /metrics with the token = %d, want a refusal", rec.Code)
	}
}

// TestMetricsOpenLocal: open in open-local mode, like every page.
func TestMetricsOpenLocal(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	rec := do(f.handler(), "GET", MetricsPath, map[string]string{"Host": "127.0.0.1:9119"})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `hermes_service_up{service="worker"}`) {
		t.Errorf("open-local GET /metrics = %d %.300s", rec.Code, rec.Body.String())
	}
}

// TestMetricsBadToken: a token variable set but unusable stops the
// dashboard with a message naming it.
func TestMetricsBadToken(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	_, err := New(Config{
		Home: f.home, Gate: gateFor(t, authgate.OpenLocal, nil),
		Control: func(context.Context) *control.Client { return control.NewClient(f.socket) },
		Env:     mapEnv(map[string]string{hostenv.EnvMetricsToken: "  "}),
	})
	if err == nil || !strings.Contains(err.Error(), hostenv.EnvMetricsToken) {
		t.Errorf("New with an empty token = %v, want an error naming %s", err, hostenv.EnvMetricsToken)
	}
}
