package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The components, the value of the component label on a process's Go
// runtime and process series (go_*, process_*): the dashboard relays
// init's series beside its own, and the label keeps them apart.
const (
	ComponentInit      = "init"
	ComponentGateway   = "gateway"
	ComponentDashboard = "dashboard"
)

// LabelComponent is the label of a process's runtime series.
const LabelComponent = "component"

// NewRegistry returns a registry holding the Go runtime and process series
// of the calling process (process_* from procstat.Self: newProcessCollector),
// each labelled component=<component>.
func NewRegistry(component string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWith(prometheus.Labels{LabelComponent: component}, reg).MustRegister(collectors.NewGoCollector())
	reg.MustRegister(newProcessCollector(component))
	return reg
}

// Handler serves what g gathers in the Prometheus text format (or what the
// scraper negotiates), gzipped when the scraper accepts it. A collector
// that fails is left out and the rest is served. Authorisation is the
// caller's (Token.Allows and its own key).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// componentLabel is the component label of a process's runtime series as
// the text format writes it: component="init".
func componentLabel(component string) string {
	return LabelComponent + `="` + escapeLabelValue(component) + `"`
}
