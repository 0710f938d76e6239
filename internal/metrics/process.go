package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/procstat"
)

// processCollector gives the standard process_* series of the calling
// process (the names, types and help of client_golang's process
// collector) from procstat.Self: two small reads of /proc/self and two
// getrlimit calls per scrape. client_golang's own collector also parses
// limits, netstat and snmp files, which made a scrape of init cost more
// than the status call it is measured against (BENCHMARKS §8).
type processCollector struct {
	cpu, fds, maxFDs, vsize, maxVsize, rss, start *prometheus.Desc
}

// newProcessCollector returns the collector of the calling process's
// series, each labelled component=<component> in its descriptor (a
// wrapping registerer would make the descriptors again at every scrape).
func newProcessCollector(component string) *processCollector {
	labels := prometheus.Labels{LabelComponent: component}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, labels) }
	return &processCollector{
		cpu:      d("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
		fds:      d("process_open_fds", "Number of open file descriptors."),
		maxFDs:   d("process_max_fds", "Maximum number of open file descriptors."),
		vsize:    d("process_virtual_memory_bytes", "Virtual memory size in bytes."),
		maxVsize: d("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes."),
		rss:      d("process_resident_memory_bytes", "Resident memory size in bytes."),
		start:    d("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
	}
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpu, c.fds, c.maxFDs, c.vsize, c.maxVsize, c.rss, c.start} {
		ch <- d
	}
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	p, err := procstat.Self()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.cpu, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, p.CPU.Seconds())
	ch <- prometheus.MustNewConstMetric(c.fds, prometheus.GaugeValue, float64(p.FDs))
	ch <- prometheus.MustNewConstMetric(c.vsize, prometheus.GaugeValue, float64(p.Virtual))
	ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(p.RSS))
	ch <- prometheus.MustNewConstMetric(c.start, prometheus.GaugeValue, float64(p.Start.Unix()))
	if v, ok := limit(unix.RLIMIT_NOFILE); ok {
		ch <- prometheus.MustNewConstMetric(c.maxFDs, prometheus.GaugeValue, v)
	}
	if v, ok := limit(unix.RLIMIT_AS); ok {
		ch <- prometheus.MustNewConstMetric(c.maxVsize, prometheus.GaugeValue, v)
	}
}

// limit is the soft limit of resource (unlimited is RLIM_INFINITY's
// value, 2^64-1, as client_golang reports it).
func limit(resource int) (float64, bool) {
	var l unix.Rlimit
	if err := unix.Getrlimit(resource, &l); err != nil {
		return 0, false
	}
	return float64(l.Cur), true
}
