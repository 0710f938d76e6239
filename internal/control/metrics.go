// Init's metrics: GET /v1/metrics (the services, the boot, this API's
// requests, and init's Go runtime and process series with
// component="init"), and the resources of the services' process groups
// that the status reads carry.

package control

import (
	"context"
	"io"
	"net/http"

	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// MetricsPath is init's metrics route on the control socket.
const MetricsPath = "/v1/metrics"

// initMetrics builds init's metrics on the server's first request, not
// at boot: a boot serves no request before its services start, and what
// is built on first use is never paid by a boot that is never asked.
func (s *Server) initMetrics() {
	s.metricsOnce.Do(func() {
		m := metrics.NewInit(metrics.NewServices(s.serviceSamples, s.bootDuration))
		s.reqs, s.metrics = m.Requests(), m
	})
}

// serviceSamples is one snapshot of the services for a scrape.
func (s *Server) serviceSamples() []metrics.Service {
	list := s.withResources(s.sup.List())
	out := make([]metrics.Service, len(list))
	for i, st := range list {
		out[i] = metrics.Service{
			Name: st.Name, Up: st.PID > 0, WantedUp: st.Want == supervise.WantUp, Restarts: uint64(st.Restarts),
			StdoutLines: st.Logs.StdoutLines, StderrLines: st.Logs.StderrLines, DroppedLines: st.Logs.Dropped, WriteErrors: st.Logs.WriteErrors,
			Usage: st.Resources,
		}
	}
	return out
}

// withResources fills in the resources of every service whose process
// runs (its process group is its pid: the supervisor starts each in a
// group of its own), with one scan of /proc. A failed scan leaves them
// out: the status is still worth answering.
func (s *Server) withResources(list []supervise.Status) []supervise.Status {
	var pgids []int
	for _, st := range list {
		if st.PID > 0 {
			pgids = append(pgids, st.PID)
		}
	}
	if len(pgids) == 0 {
		return list
	}
	usage, err := s.resources(pgids)
	if err != nil {
		return list
	}
	for i := range list {
		if u, ok := usage[list[i].PID]; ok && list[i].PID > 0 {
			list[i].Resources = &u
		}
	}
	return list
}

// getMetrics is GET /v1/metrics.
func (s *Server) getMetrics(c *call) error {
	s.initMetrics()
	s.metrics.ServeHTTP(c.w, c.r)
	return nil
}

// countRequest counts r, answered with status, under its route's pattern.
func (s *Server) countRequest(r *http.Request, status int) {
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		pattern = "/"
	}
	if status == 0 {
		status = http.StatusOK
	}
	s.initMetrics()
	s.reqs.Inc(pattern, status)
}

// Metrics returns init's metrics in the Prometheus text format (GET
// /v1/metrics); the caller closes the body.
func (c *Client) Metrics(ctx context.Context) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://hermes"+MetricsPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.doErr(ctx, req.Method, MetricsPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp.Body, nil
}
