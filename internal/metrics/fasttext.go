package metrics

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Init is init's metrics (GET /v1/metrics on the control socket): its
// services' series and its boot's (Services), the control API's requests
// (Requests), and init's Go runtime and process series, labelled
// component="init".
//
// A scraper that takes the text format (the dashboard's relay, hermes svc
// metrics, curl, Prometheus) gets every series written straight into the
// answer, without a const metric, a registry pass or an encoder per
// series: the supervisor's reason to exist is its services, and with
// hundreds of them those would cost a scrape more than reading /proc, and
// more than the JSON of a svc status call (BENCHMARKS §8). Any other
// format (OpenMetrics, protobuf) goes through a registry of the same
// series, the Go runtime's from client_golang's own collector;
// TestInitHandlerFastText holds the two to the same families, help,
// types and labels. Served uncompressed: the control socket is local.
type Init struct {
	svc  *Services
	reqs *Requests
	gort *goRuntime
	proc *processCollector
	slow func() http.Handler // the registry's handler, made on the first scrape that wants it
	// lastSize is the length of the last text answer.
	lastSize atomic.Int64
}

// NewInit returns init's metrics over the services and boot duration
// that the functions of svc give.
func NewInit(svc *Services) *Init {
	m := &Init{svc: svc, reqs: NewControlRequests(), gort: newGoRuntime(ComponentInit), proc: newProcessCollector(ComponentInit)}
	m.slow = sync.OnceValue(func() http.Handler {
		reg := NewRegistry(ComponentInit)
		reg.MustRegister(m.reqs, m.svc)
		return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, DisableCompression: true})
	})
	return m
}

// Requests is the counter of the control API's requests.
func (m *Init) Requests() *Requests { return m.reqs }

// ServeHTTP serves one scrape.
func (m *Init) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
	if format.FormatType() != expfmt.TypeTextPlain {
		m.slow().ServeHTTP(w, r)
		return
	}
	buf := scrapeBuffers.Get().(*bytes.Buffer)
	defer scrapeBuffers.Put(buf)
	buf.Reset()
	// A buffer new to the pool (a collection empties it) is made at the
	// last answer's size, once, instead of growing by doubling.
	buf.Grow(int(m.lastSize.Load()) * 9 / 8)
	m.gort.writeText(buf)
	m.proc.writeText(buf)
	m.reqs.writeText(buf)
	m.svc.writeText(buf)
	m.lastSize.Store(int64(buf.Len()))
	w.Header().Set("Content-Type", string(format))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

// scrapeBuffers hold the text of a scrape while it is written: it is sent
// in one write with its length, as the status's JSON is, not chunked
// through a writer's buffer (a hundred services' text is about 80 KB).
var scrapeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeText writes one snapshot of the services' series in the text
// exposition format, the families in the order of Describe. Each family's
// # HELP and # TYPE lines are made once (textFamilies), each service's
// name is escaped once a scrape, and each service's samples are appended
// to the writer's own free buffer and written from there, so that a
// scrape allocates nothing per series.
func (c *Services) writeText(w *bytes.Buffer) {
	list := c.list()
	if c.boot != nil {
		if d := c.boot(); d > 0 {
			w.WriteString(textHeaders().boot)
			b := w.AvailableBuffer()
			b = append(b, BootDuration...)
			b = append(b, ' ')
			b = strconv.AppendFloat(b, d.Seconds(), 'g', -1, 64)
			b = append(b, '\n')
			w.Write(b)
		}
	}
	if len(list) == 0 {
		return
	}
	anyUsage := false
	names := make([]string, len(list))
	for i := range list {
		anyUsage = anyUsage || list[i].Usage != nil
		names[i] = escapeLabelValue(list[i].Name)
	}
	for _, f := range textHeaders().families {
		if f.usage && !anyUsage {
			continue
		}
		w.WriteString(f.header)
		for i := range list {
			s := &list[i]
			if f.usage && s.Usage == nil {
				continue
			}
			w.Write(f.samples(w.AvailableBuffer(), s, names[i]))
		}
	}
}

// textFamily is one family of the services' series in the text format.
type textFamily struct {
	header string // its # HELP and # TYPE lines
	usage  bool   // a figure of the process group: written for the services that have one
	// samples appends the family's samples of s to b, its name escaped.
	samples func(b []byte, s *Service, name string) []byte
}

// textHeaders are the families of writeText, in the order of Describe,
// and the headers of the other families of init written straight, made
// on first use.
var textHeaders = sync.OnceValue(func() *initText {
	return &initText{
		families: textFamilies(),
		boot:     textHeader(BootDuration, help(BootDuration), "gauge"),
		requests: textHeader(ControlRequests, help(ControlRequests), "counter"),
	}
})

type initText struct {
	families       []textFamily
	boot, requests string // the # HELP and # TYPE lines of BootDuration and ControlRequests
}

// textFamilies are the families of writeText, in the order of Describe.
func textFamilies() []textFamily {
	f := func(name, typ string, usage bool, samples func(b []byte, s *Service, service string) []byte) textFamily {
		return textFamily{header: textHeader(name, help(name), typ), usage: usage, samples: samples}
	}
	one := func(name string, v func(s *Service) float64) func(b []byte, s *Service, service string) []byte {
		return func(b []byte, s *Service, service string) []byte { return appendSample(b, name, service, "", "", v(s)) }
	}
	return []textFamily{
		f(ServiceUp, "gauge", false, one(ServiceUp, func(s *Service) float64 { return b2f(s.Up) })),
		f(ServiceWantedUp, "gauge", false, one(ServiceWantedUp, func(s *Service) float64 { return b2f(s.WantedUp) })),
		f(ServiceRestarts, "counter", false, one(ServiceRestarts, func(s *Service) float64 { return float64(s.Restarts) })),
		f(ServiceLogLines, "counter", false, func(b []byte, s *Service, service string) []byte {
			b = appendSample(b, ServiceLogLines, service, "stream", "stdout", float64(s.StdoutLines))
			return appendSample(b, ServiceLogLines, service, "stream", "stderr", float64(s.StderrLines))
		}),
		f(ServiceLogDropped, "counter", false, one(ServiceLogDropped, func(s *Service) float64 { return float64(s.DroppedLines) })),
		f(ServiceLogWriteErrors, "counter", false, one(ServiceLogWriteErrors, func(s *Service) float64 { return float64(s.WriteErrors) })),
		f(ServiceCPU, "counter", true, one(ServiceCPU, func(s *Service) float64 { return s.Usage.CPUSeconds })),
		f(ServiceMemory, "gauge", true, func(b []byte, s *Service, service string) []byte {
			b = appendSample(b, ServiceMemory, service, "kind", "rss", float64(s.Usage.RSSBytes))
			return appendSample(b, ServiceMemory, service, "kind", "pss", float64(s.Usage.PSSBytes))
		}),
		f(ServiceOpenFDs, "gauge", true, one(ServiceOpenFDs, func(s *Service) float64 { return float64(s.Usage.OpenFDs) })),
		f(ServiceThreads, "gauge", true, one(ServiceThreads, func(s *Service) float64 { return float64(s.Usage.Threads) })),
		f(ServiceProcesses, "gauge", true, one(ServiceProcesses, func(s *Service) float64 { return float64(s.Usage.Processes) })),
	}
}

// textHeader is a family's # HELP and # TYPE lines, its help escaped as
// the text format wants.
func textHeader(name, help, typ string) string {
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n"
}

// appendSample appends one sample of a service, its labels in name order
// as the registry writes them (label, when not "", is its second label).
// service, label and value are written as they are: the service's name
// escaped by writeText, the others constants that need no escaping.
func appendSample(b []byte, name, service, label, value string, v float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	if label != "" && label < "service" {
		b = append(b, label...)
		b = append(b, `="`...)
		b = append(b, value...)
		b = append(b, `",`...)
	}
	b = append(b, `service="`...)
	b = append(b, service...)
	if label != "" && label > "service" {
		b = append(b, `",`...)
		b = append(b, label...)
		b = append(b, `="`...)
		b = append(b, value...)
	}
	b = append(b, `"} `...)
	return append(appendValue(b, v), '\n')
}

// appendValue appends a sample's value: a whole number below 2^53 (every
// count and size here) as an integer, quicker to write and to read than
// the registry's 'g' form of it (1.048576e+06) and the same number to a
// parser; any other value as the registry writes it.
func appendValue(b []byte, v float64) []byte {
	if v >= 0 && v < 1<<53 && v == float64(uint64(v)) {
		return strconv.AppendUint(b, uint64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// escapeLabelValue is v escaped as the text format wants (v itself when
// it needs none, as a service's name seldom does).
func escapeLabelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return string(appendLabelValue(nil, v))
}

// appendLabelValue appends v escaped as the text format wants: \\, \"
// and \n.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
