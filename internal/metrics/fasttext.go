package metrics

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// InitHandler serves init's metrics: the runtime and request series of
// reg, and the services' of svc. A scraper that takes the text format
// (the dashboard's relay, hermes svc metrics, curl) gets svc's series
// written straight into the answer, without a const metric, a registry
// pass or an encoder per series: a scrape with hundreds of services
// would otherwise spend more on those than on reading /proc. Any other
// format (OpenMetrics, protobuf) goes through the registry, svc included;
// TestInitHandlerFastText holds the two to the same series. Served
// uncompressed: the control socket is local.
func InitHandler(reg *prometheus.Registry, svc *Services) http.Handler {
	full := prometheus.NewRegistry()
	full.MustRegister(svc)
	slow := promhttp.HandlerFor(prometheus.Gatherers{reg, full}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, DisableCompression: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		if format.FormatType() != expfmt.TypeTextPlain {
			slow.ServeHTTP(w, r)
			return
		}
		fams, err := reg.Gather()
		if err != nil && len(fams) == 0 {
			http.Error(w, "gathering metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(format))
		bw := bufio.NewWriterSize(w, 32<<10)
		enc := expfmt.NewEncoder(bw, format)
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				return
			}
		}
		svc.writeText(bw)
		bw.Flush()
	})
}

// writeText writes one snapshot of the services' series in the text
// exposition format, the families in the order of Describe. Each family's
// # HELP and # TYPE lines are made once (textFamilies); each service's
// samples are appended to the writer's own free buffer and written from
// there, so that a scrape allocates nothing per series.
func (c *Services) writeText(w *bufio.Writer) {
	list := c.list()
	if c.boot != nil {
		if d := c.boot(); d > 0 {
			w.WriteString(bootHeader())
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
	for i := range list {
		anyUsage = anyUsage || list[i].Usage != nil
	}
	for _, f := range textFamilies() {
		if f.usage && !anyUsage {
			continue
		}
		w.WriteString(f.header)
		for i := range list {
			s := &list[i]
			if f.usage && s.Usage == nil {
				continue
			}
			w.Write(f.samples(w.AvailableBuffer(), s))
		}
	}
}

// textFamily is one family of the services' series in the text format.
type textFamily struct {
	header string // its # HELP and # TYPE lines
	usage  bool   // a figure of the process group: written for the services that have one
	// samples appends the family's samples of s to b.
	samples func(b []byte, s *Service) []byte
}

// textFamilies are the families of writeText, in the order of Describe.
var textFamilies = sync.OnceValue(func() []textFamily {
	f := func(name, typ string, usage bool, samples func(b []byte, s *Service) []byte) textFamily {
		return textFamily{header: textHeader(name, typ), usage: usage, samples: samples}
	}
	one := func(name string, v func(s *Service) float64) func(b []byte, s *Service) []byte {
		return func(b []byte, s *Service) []byte { return appendSample(b, name, s.Name, "", "", v(s)) }
	}
	return []textFamily{
		f(ServiceUp, "gauge", false, one(ServiceUp, func(s *Service) float64 { return b2f(s.Up) })),
		f(ServiceWantedUp, "gauge", false, one(ServiceWantedUp, func(s *Service) float64 { return b2f(s.WantedUp) })),
		f(ServiceRestarts, "counter", false, one(ServiceRestarts, func(s *Service) float64 { return float64(s.Restarts) })),
		f(ServiceLogLines, "counter", false, func(b []byte, s *Service) []byte {
			b = appendSample(b, ServiceLogLines, s.Name, "stream", "stdout", float64(s.StdoutLines))
			return appendSample(b, ServiceLogLines, s.Name, "stream", "stderr", float64(s.StderrLines))
		}),
		f(ServiceLogDropped, "counter", false, one(ServiceLogDropped, func(s *Service) float64 { return float64(s.DroppedLines) })),
		f(ServiceLogWriteErrors, "counter", false, one(ServiceLogWriteErrors, func(s *Service) float64 { return float64(s.WriteErrors) })),
		f(ServiceCPU, "counter", true, one(ServiceCPU, func(s *Service) float64 { return s.Usage.CPUSeconds })),
		f(ServiceMemory, "gauge", true, func(b []byte, s *Service) []byte {
			b = appendSample(b, ServiceMemory, s.Name, "kind", "rss", float64(s.Usage.RSSBytes))
			return appendSample(b, ServiceMemory, s.Name, "kind", "pss", float64(s.Usage.PSSBytes))
		}),
		f(ServiceOpenFDs, "gauge", true, one(ServiceOpenFDs, func(s *Service) float64 { return float64(s.Usage.OpenFDs) })),
		f(ServiceThreads, "gauge", true, one(ServiceThreads, func(s *Service) float64 { return float64(s.Usage.Threads) })),
		f(ServiceProcesses, "gauge", true, one(ServiceProcesses, func(s *Service) float64 { return float64(s.Usage.Processes) })),
	}
})

// bootHeader is the # HELP and # TYPE lines of BootDuration.
var bootHeader = sync.OnceValue(func() string { return textHeader(BootDuration, "gauge") })

// textHeader is a family's # HELP and # TYPE lines, its help escaped as
// the text format wants.
func textHeader(name, typ string) string {
	help := strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(descHelp[name])
	return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n"
}

// appendSample appends one sample of a service, its labels in name order
// as the registry writes them (label, when not "", is its second label).
func appendSample(b []byte, name, service, label, value string, v float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	if label != "" && label < "service" {
		b = append(b, label...)
		b = append(b, `="`...)
		b = appendLabelValue(b, value)
		b = append(b, `",`...)
	}
	b = append(b, `service="`...)
	b = appendLabelValue(b, service)
	if label != "" && label > "service" {
		b = append(b, `",`...)
		b = append(b, label...)
		b = append(b, `="`...)
		b = appendLabelValue(b, value)
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
