package metrics

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"

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
// exposition format, the families in the order of Describe.
func (c *Services) writeText(w *bufio.Writer) {
	list := c.list()
	var b []byte
	family := func(name, help, typ string) {
		b = append(b, "# HELP "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)...)
		b = append(b, "\n# TYPE "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, typ...)
		b = append(b, '\n')
	}
	// sample writes one sample, its labels in name order as the
	// registry writes them.
	sample := func(name, service, label, value string, v float64) {
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
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		b = append(b, '\n')
	}
	if c.boot != nil {
		if d := c.boot(); d > 0 {
			family(BootDuration, descHelp[BootDuration], "gauge")
			b = append(b, BootDuration...)
			b = append(b, ' ')
			b = strconv.AppendFloat(b, d.Seconds(), 'g', -1, 64)
			b = append(b, '\n')
		}
	}
	type fam struct {
		name, typ string
		each      func(s Service)
	}
	fams := []fam{
		{ServiceUp, "gauge", func(s Service) { sample(ServiceUp, s.Name, "", "", b2f(s.Up)) }},
		{ServiceWantedUp, "gauge", func(s Service) { sample(ServiceWantedUp, s.Name, "", "", b2f(s.WantedUp)) }},
		{ServiceRestarts, "counter", func(s Service) { sample(ServiceRestarts, s.Name, "", "", float64(s.Restarts)) }},
		{ServiceLogLines, "counter", func(s Service) {
			sample(ServiceLogLines, s.Name, "stream", "stdout", float64(s.StdoutLines))
			sample(ServiceLogLines, s.Name, "stream", "stderr", float64(s.StderrLines))
		}},
		{ServiceLogDropped, "counter", func(s Service) { sample(ServiceLogDropped, s.Name, "", "", float64(s.DroppedLines)) }},
		{ServiceLogWriteErrors, "counter", func(s Service) { sample(ServiceLogWriteErrors, s.Name, "", "", float64(s.WriteErrors)) }},
	}
	usage := []fam{
		{ServiceCPU, "counter", func(s Service) { sample(ServiceCPU, s.Name, "", "", s.Usage.CPUSeconds) }},
		{ServiceMemory, "gauge", func(s Service) {
			sample(ServiceMemory, s.Name, "kind", "rss", float64(s.Usage.RSSBytes))
			sample(ServiceMemory, s.Name, "kind", "pss", float64(s.Usage.PSSBytes))
		}},
		{ServiceOpenFDs, "gauge", func(s Service) { sample(ServiceOpenFDs, s.Name, "", "", float64(s.Usage.OpenFDs)) }},
		{ServiceThreads, "gauge", func(s Service) { sample(ServiceThreads, s.Name, "", "", float64(s.Usage.Threads)) }},
		{ServiceProcesses, "gauge", func(s Service) { sample(ServiceProcesses, s.Name, "", "", float64(s.Usage.Processes)) }},
	}
	if len(list) > 0 {
		for _, f := range fams {
			family(f.name, descHelp[f.name], f.typ)
			for _, s := range list {
				f.each(s)
			}
		}
	}
	anyUsage := false
	for _, s := range list {
		anyUsage = anyUsage || s.Usage != nil
	}
	if anyUsage {
		for _, f := range usage {
			family(f.name, descHelp[f.name], f.typ)
			for _, s := range list {
				if s.Usage != nil {
					f.each(s)
				}
			}
		}
	}
	w.Write(b)
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
