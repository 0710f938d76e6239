package metrics

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hermes-agent/hermes/internal/procstat"
)

// Service is what init's metrics show of one supervised service.
type Service struct {
	Name     string
	Up       bool // its process runs
	WantedUp bool
	Restarts uint64
	// The log pipeline's counters, cumulative over restarts.
	StdoutLines, StderrLines, DroppedLines, WriteErrors uint64
	// Usage is its process group's cost; nil when no process runs.
	Usage *procstat.Usage
}

// help is the help of each series of init's services, for the
// descriptors and for the text written straight (Init).
func help(name string) string {
	switch name {
	case ServiceUp:
		return "Whether the service's process runs (1) or not (0)."
	case ServiceWantedUp:
		return "Whether the service is wanted up (1) or down (0)."
	case ServiceRestarts:
		return "Restarts of the service by its restart policy."
	case ServiceLogLines:
		return "Lines the service wrote, by stream."
	case ServiceLogDropped:
		return "Log lines a sink (file, console, ring) could not take, counted once per sink."
	case ServiceLogWriteErrors:
		return "Failed operations of the service's log file (write, open, rotate)."
	case ServiceCPU:
		return "User and system CPU time of the service's live process group."
	case ServiceMemory:
		return "Memory of the service's process group: resident (rss) and proportional (pss)."
	case ServiceOpenFDs:
		return "Open file descriptors of the service's process group."
	case ServiceThreads:
		return "Threads of the service's process group."
	case ServiceProcesses:
		return "Processes in the service's process group."
	case BootDuration:
		return "Time from init's start to the end of its boot (step 5); absent while it boots."
	case ControlRequests:
		return "Requests to the control API, by route (its pattern in the route table) and status code; refusals included."
	}
	return ""
}

// serviceDescs are the descriptors of the services' series, made on first
// use (a package-level variable would make them in every process, at
// start).
var serviceDescs = sync.OnceValue(func() *svcDescs {
	d := func(name string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help(name), labels, nil)
	}
	return &svcDescs{
		up: d(ServiceUp, "service"), wanted: d(ServiceWantedUp, "service"), restarts: d(ServiceRestarts, "service"),
		logLines: d(ServiceLogLines, "service", "stream"), logDropped: d(ServiceLogDropped, "service"), logWriteErr: d(ServiceLogWriteErrors, "service"),
		cpu: d(ServiceCPU, "service"), memory: d(ServiceMemory, "service", "kind"), fds: d(ServiceOpenFDs, "service"),
		threads: d(ServiceThreads, "service"), processes: d(ServiceProcesses, "service"), boot: d(BootDuration),
		requests: d(ControlRequests, "route", "code"),
	}
})

type svcDescs struct {
	up, wanted, restarts, logLines, logDropped, logWriteErr, cpu, memory, fds, threads, processes, boot, requests *prometheus.Desc
}

// Services is the collector of init's services: each scrape asks list
// for a snapshot (the supervisor's status and the /proc figures), so the
// series are never older than the scrape.
type Services struct {
	list func() []Service
	boot func() time.Duration
}

// NewServices returns the collector of the services list returns, and of
// the boot's duration boot returns (0 while init still boots; boot may be
// nil).
func NewServices(list func() []Service, boot func() time.Duration) *Services {
	return &Services{list: list, boot: boot}
}

// Describe sends every descriptor.
func (c *Services) Describe(ch chan<- *prometheus.Desc) {
	d := serviceDescs()
	for _, d := range []*prometheus.Desc{d.up, d.wanted, d.restarts, d.logLines, d.logDropped, d.logWriteErr, d.cpu, d.memory, d.fds, d.threads, d.processes, d.boot} {
		ch <- d
	}
}

// Collect sends the series of one snapshot.
func (c *Services) Collect(ch chan<- prometheus.Metric) {
	d := serviceDescs()
	if c.boot != nil {
		if t := c.boot(); t > 0 {
			ch <- prometheus.MustNewConstMetric(d.boot, prometheus.GaugeValue, t.Seconds())
		}
	}
	for _, s := range c.list() {
		ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, b2f(s.Up), s.Name)
		ch <- prometheus.MustNewConstMetric(d.wanted, prometheus.GaugeValue, b2f(s.WantedUp), s.Name)
		ch <- prometheus.MustNewConstMetric(d.restarts, prometheus.CounterValue, float64(s.Restarts), s.Name)
		ch <- prometheus.MustNewConstMetric(d.logLines, prometheus.CounterValue, float64(s.StdoutLines), s.Name, "stdout")
		ch <- prometheus.MustNewConstMetric(d.logLines, prometheus.CounterValue, float64(s.StderrLines), s.Name, "stderr")
		ch <- prometheus.MustNewConstMetric(d.logDropped, prometheus.CounterValue, float64(s.DroppedLines), s.Name)
		ch <- prometheus.MustNewConstMetric(d.logWriteErr, prometheus.CounterValue, float64(s.WriteErrors), s.Name)
		if u := s.Usage; u != nil {
			ch <- prometheus.MustNewConstMetric(d.cpu, prometheus.CounterValue, u.CPUSeconds, s.Name)
			ch <- prometheus.MustNewConstMetric(d.memory, prometheus.GaugeValue, float64(u.RSSBytes), s.Name, "rss")
			ch <- prometheus.MustNewConstMetric(d.memory, prometheus.GaugeValue, float64(u.PSSBytes), s.Name, "pss")
			ch <- prometheus.MustNewConstMetric(d.fds, prometheus.GaugeValue, float64(u.OpenFDs), s.Name)
			ch <- prometheus.MustNewConstMetric(d.threads, prometheus.GaugeValue, float64(u.Threads), s.Name)
			ch <- prometheus.MustNewConstMetric(d.processes, prometheus.GaugeValue, float64(u.Processes), s.Name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Requests counts the requests of a route table by route and status code
// (hermes_control_requests_total): route is a pattern of the table, never
// the request's path, so the series are bounded by the table. It is a
// collector for a registry and, for init's text scrapes, a writer of the
// same series (writeText).
type Requests struct {
	mu     sync.Mutex
	counts map[requestKey]uint64
}

type requestKey struct {
	route string
	code  int
}

// NewControlRequests returns the counter of hermes_control_requests_total.
func NewControlRequests() *Requests {
	return &Requests{counts: map[requestKey]uint64{}}
}

// Inc counts one request of route answered with code.
func (r *Requests) Inc(route string, code int) {
	r.mu.Lock()
	r.counts[requestKey{route, code}]++
	r.mu.Unlock()
}

// snapshot is the counts so far, by code then route (the registry's
// order: labels by name, then values).
func (r *Requests) snapshot() []requestCount {
	r.mu.Lock()
	out := make([]requestCount, 0, len(r.counts))
	for k, n := range r.counts {
		out = append(out, requestCount{k, strconv.Itoa(k.code), n})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b requestCount) int {
		return cmp.Or(cmp.Compare(a.code, b.code), cmp.Compare(a.key.route, b.key.route))
	})
	return out
}

type requestCount struct {
	key  requestKey
	code string
	n    uint64
}

func (r *Requests) Describe(ch chan<- *prometheus.Desc) { ch <- serviceDescs().requests }

func (r *Requests) Collect(ch chan<- prometheus.Metric) {
	for _, c := range r.snapshot() {
		ch <- prometheus.MustNewConstMetric(serviceDescs().requests, prometheus.CounterValue, float64(c.n), c.key.route, c.code)
	}
}

// writeText writes the counts in the text format.
func (r *Requests) writeText(w *bytes.Buffer) {
	counts := r.snapshot()
	if len(counts) == 0 {
		return
	}
	w.WriteString(textHeaders().requests)
	for _, c := range counts {
		b := w.AvailableBuffer()
		b = append(b, ControlRequests...)
		b = append(b, `{code="`...)
		b = append(b, c.code...)
		b = append(b, `",route="`...)
		b = appendLabelValue(b, c.key.route)
		b = append(b, `"} `...)
		b = append(strconv.AppendUint(b, c.n, 10), '\n')
		w.Write(b)
	}
}
