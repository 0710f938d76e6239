// Init's metrics: GET /v1/metrics (the services, the boot, this API's
// requests, and init's Go runtime and process series with
// component="init"), and the resources of the services' process groups
// that the status reads carry.

package control

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/procstat"
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

// serviceSamples is one snapshot of the services for a scrape: their
// states and counters now, their resources from the scrapes' sample
// (scrapeResources).
func (s *Server) serviceSamples() []metrics.Service {
	list := s.sup.List()
	usage := s.scrapeResources(list)
	out := make([]metrics.Service, len(list))
	for i, st := range list {
		out[i] = metrics.Service{
			Name: st.Name, Up: st.PID > 0, WantedUp: st.Want == supervise.WantUp, Restarts: uint64(st.Restarts),
			StdoutLines: st.Logs.StdoutLines, StderrLines: st.Logs.StderrLines, DroppedLines: st.Logs.Dropped, WriteErrors: st.Logs.WriteErrors,
		}
		if u, ok := usage[st.PID]; ok && st.PID > 0 {
			out[i].Usage = &u
		}
	}
	return out
}

// DefaultScrapeSample is how long the /proc figures a scrape read serve
// the next scrapes (Config.ScrapeSample): reading them costs init about
// 0.1 ms a process (PSS alone, from smaps_rollup, walks the process's
// page tables), so without it each scraper (Prometheus, its HA twin, the
// dashboard's relay, a watch of hermes svc metrics) would make init pay
// a full scan as often as it likes. With it, init reads /proc for the
// metrics at most once every 5 s, however many scrape.
const DefaultScrapeSample = 5 * time.Second

// scrapeSample is the last /proc reading made for a scrape.
type scrapeSample struct {
	maxAge time.Duration

	mu    sync.Mutex
	at    time.Time
	pgids map[int]bool // the groups it read
	usage map[int]procstat.Usage
}

// scrapeResources is the usage of list's running services for a scrape:
// the sample when it is younger than its age and read every group that
// runs now (a service started or restarted since runs in a group it did
// not read), else a new reading, which becomes the sample. A failed
// reading leaves the resources out. Scrapes that come while one reads
// wait for its reading and share it.
func (s *Server) scrapeResources(list []supervise.Status) map[int]procstat.Usage {
	pgids := runningGroups(list)
	if len(pgids) == 0 {
		return nil
	}
	c := &s.sample
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxAge > 0 && time.Since(c.at) < c.maxAge && c.covers(pgids) {
		return c.usage
	}
	usage, err := s.resources(pgids)
	if err != nil {
		c.usage, c.pgids = nil, nil
		return nil
	}
	c.at, c.usage = time.Now(), usage
	c.pgids = make(map[int]bool, len(pgids))
	for _, g := range pgids {
		c.pgids[g] = true
	}
	return usage
}

// runningGroups is the process groups of list's running services (each
// service's group is its pid: the supervisor starts each in its own).
func runningGroups(list []supervise.Status) []int {
	var pgids []int
	for _, st := range list {
		if st.PID > 0 {
			pgids = append(pgids, st.PID)
		}
	}
	return pgids
}

func (c *scrapeSample) covers(pgids []int) bool {
	for _, g := range pgids {
		if !c.pgids[g] {
			return false
		}
	}
	return true
}

// withResources fills in the resources of every service whose process
// runs (its process group is its pid: the supervisor starts each in a
// group of its own), with one scan of /proc. A failed scan leaves them
// out: the status is still worth answering.
func (s *Server) withResources(list []supervise.Status) []supervise.Status {
	pgids := runningGroups(list)
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
