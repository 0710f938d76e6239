// The dashboard's /metrics: init's metrics relayed through the control
// socket, and the gate's and the dashboard process's own. Gated like
// every route (open in open-local mode), and admitted on the metrics
// token when HERMES_METRICS_TOKEN (or _FILE) is set.

package dashboard

import (
	"context"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hermes-agent/hermes/internal/metrics"
)

// MetricsPath is the dashboard's metrics route.
const MetricsPath = "/metrics"

// initMetrics builds the handler of /metrics and admits the metrics token
// through the gate (an unset token admits nothing, and a scrape without
// a session is still answered 401, never sent to the login page); a token variable that is set but unusable is an error.
func (s *Server) initMetrics() error {
	tok, err := metrics.LoadToken(s.env.Getenv)
	if err != nil {
		return err
	}
	own := metrics.NewRegistry(metrics.ComponentDashboard)
	own.MustRegister(metrics.NewGate(s.gateCounts))
	relay := metrics.NewRelay(func(ctx context.Context) (io.ReadCloser, error) {
		return s.control(ctx).Metrics(ctx)
	})
	s.metrics = metrics.Handler(prometheus.Gatherers{relay, own})
	s.gate.AdmitBearer(MetricsPath, tok.Allows)
	return nil
}

// gateCounts is the gate's tallies for its series.
func (s *Server) gateCounts() metrics.GateCounts {
	t := s.gate.Tallies()
	c := metrics.GateCounts{Logins: make(map[metrics.Login]uint64, len(t.Logins)), Refusals: t.Refusals, RateLimited: t.RateLimited}
	for k, n := range t.Logins {
		c.Logins[metrics.Login{Provider: k.Provider, Outcome: k.Outcome}] = n
	}
	return c
}

// serveMetrics is GET /metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) { s.metrics.ServeHTTP(w, r) }
