package metrics

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/procstat"
)

// processCollector gives the standard process_* series of the calling
// process (the names, types and help of client_golang's process
// collector) from procstat.Self: two small reads of /proc/self and two
// getrlimit calls per scrape. client_golang's own collector also parses
// limits, netstat and snmp files, which made a scrape of init cost more
// than the status call it is measured against (BENCHMARKS §8). It is a
// collector for a registry and, for init's text scrapes, a writer of the
// same series (writeText).
type processCollector struct {
	labels string // the const labels as written: component="init"
	series [processSeries]processSeriesDesc
}

// The process series, in the order of the text.
const (
	procCPU = iota
	procFDs
	procMaxFDs
	procVsize
	procMaxVsize
	procRSS
	procStart
	processSeries
)

type processSeriesDesc struct {
	name, help string
	counter    bool
	desc       *prometheus.Desc
	header     string // its # HELP and # TYPE lines
}

// newProcessCollector returns the collector of the calling process's
// series, each labelled component=<component> in its descriptor (a
// wrapping registerer would make the descriptors again at every scrape).
func newProcessCollector(component string) *processCollector {
	c := &processCollector{labels: componentLabel(component)}
	c.series = [processSeries]processSeriesDesc{
		procCPU:      {name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.", counter: true},
		procFDs:      {name: "process_open_fds", help: "Number of open file descriptors."},
		procMaxFDs:   {name: "process_max_fds", help: "Maximum number of open file descriptors."},
		procVsize:    {name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes."},
		procMaxVsize: {name: "process_virtual_memory_max_bytes", help: "Maximum amount of virtual memory available in bytes."},
		procRSS:      {name: "process_resident_memory_bytes", help: "Resident memory size in bytes."},
		procStart:    {name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds."},
	}
	labels := prometheus.Labels{LabelComponent: component}
	for i := range c.series {
		s := &c.series[i]
		s.desc = prometheus.NewDesc(s.name, s.help, nil, labels)
		typ := "gauge"
		if s.counter {
			typ = "counter"
		}
		s.header = textHeader(s.name, s.help, typ)
	}
	return c
}

// read is one reading of the process's series; ok[i] says whether
// series i has a value (a limit that cannot be read is left out).
func (c *processCollector) read() (v [processSeries]float64, ok [processSeries]bool, err error) {
	p, err := procstat.Self()
	if err != nil {
		return v, ok, err
	}
	v[procCPU], v[procFDs], v[procVsize], v[procRSS], v[procStart] = p.CPU.Seconds(), float64(p.FDs), float64(p.Virtual), float64(p.RSS), float64(p.Start.Unix())
	ok[procCPU], ok[procFDs], ok[procVsize], ok[procRSS], ok[procStart] = true, true, true, true, true
	v[procMaxFDs], ok[procMaxFDs] = limit(unix.RLIMIT_NOFILE)
	v[procMaxVsize], ok[procMaxVsize] = limit(unix.RLIMIT_AS)
	return v, ok, nil
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for i := range c.series {
		ch <- c.series[i].desc
	}
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	v, ok, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.series[procCPU].desc, err)
		return
	}
	for i := range c.series {
		if !ok[i] {
			continue
		}
		typ := prometheus.GaugeValue
		if c.series[i].counter {
			typ = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.series[i].desc, typ, v[i])
	}
}

// writeText writes one reading of the series in the text format; a
// failed reading writes nothing (the registry's path reports it as an
// invalid metric, and the rest of the scrape is served either way).
func (c *processCollector) writeText(w *bytes.Buffer) {
	v, ok, err := c.read()
	if err != nil {
		return
	}
	for i := range c.series {
		if !ok[i] {
			continue
		}
		s := &c.series[i]
		w.WriteString(s.header)
		b := w.AvailableBuffer()
		b = append(b, s.name...)
		b = append(b, '{')
		b = append(b, c.labels...)
		b = append(b, "} "...)
		b = append(appendValue(b, v[i]), '\n')
		w.Write(b)
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
