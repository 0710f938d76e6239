package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Exchange is what the gateway's metrics take of one answered request:
// the route's name from the route table (never the path), the status, the
// durations, the upstream model, the upstream failure's kind (a code of
// the gateway's error envelope such as "upstream_timeout", "" for none)
// and the tokens the upstream reported (0 when it reported none).
type Exchange struct {
	Route    string
	Status   int
	Duration time.Duration
	Upstream time.Duration // 0: no upstream call
	// UpstreamModel is the model the upstream was asked for: model.name,
	// or the value model.aliases maps the client's name to; "" when no
	// upstream was called. It is a label, so it must come from the
	// profile's configuration, never from the request: the name a client
	// sends is any string, the configured models are a handful (their
	// count is bounded by the edits of config.yaml over the process's
	// life).
	UpstreamModel string
	UpstreamError string
	PromptTokens  int64
	OutputTokens  int64
}

// Gateway holds a gateway's series.
type Gateway struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	tokens   *prometheus.CounterVec
}

// durationBuckets fit both a health probe (milliseconds) and a long
// completion (a minute and more).
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewGateway registers a gateway's series on reg: its requests, their
// durations, the upstream's, the upstream failures and tokens, and the
// gauges of the requests in flight (inFlight) and of the sessions store's
// size on disk (storeBytes, its error leaving the series out).
func NewGateway(reg prometheus.Registerer, inFlight func() int, storeBytes func() (int64, error)) *Gateway {
	g := &Gateway{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: GatewayRequests, Help: "Requests answered by the gateway, by route (its name in the route table) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: GatewayRequestDuration, Help: "Time to answer a request, to the end of a stream, by route.", Buckets: durationBuckets,
		}, []string{"route"}),
		// The upstream's series carry the upstream model (Exchange's
		// UpstreamModel: from the configuration, never the client).
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: GatewayUpstreamDuration, Help: "Time spent in the upstream calls of a request, from sending it to the end of the answer, by upstream model.", Buckets: durationBuckets,
		}, []string{"model"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: GatewayUpstreamErrors, Help: "Requests that ended with an upstream failure, by kind (the error envelope's code) and upstream model.",
		}, []string{"kind", "model"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: GatewayTokens, Help: "Tokens the upstream reported in its usage, by direction (prompt, completion) and upstream model.",
		}, []string{"direction", "model"}),
	}
	reg.MustRegister(g.requests, g.duration, g.upstream, g.errors, g.tokens,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: GatewayInFlight, Help: "API requests being served, streams included."},
			func() float64 { return float64(inFlight()) }),
		newStoreSize(storeBytes))
	return g
}

// Observe counts one answered request.
func (g *Gateway) Observe(ex Exchange) {
	g.requests.WithLabelValues(ex.Route, strconv.Itoa(ex.Status)).Inc()
	g.duration.WithLabelValues(ex.Route).Observe(ex.Duration.Seconds())
	model := ex.UpstreamModel
	if ex.Upstream > 0 {
		g.upstream.WithLabelValues(model).Observe(ex.Upstream.Seconds())
	}
	if ex.UpstreamError != "" {
		g.errors.WithLabelValues(ex.UpstreamError, model).Inc()
	}
	if ex.PromptTokens > 0 {
		g.tokens.WithLabelValues("prompt", model).Add(float64(ex.PromptTokens))
	}
	if ex.OutputTokens > 0 {
		g.tokens.WithLabelValues("completion", model).Add(float64(ex.OutputTokens))
	}
}

// storeSize is the sessions store's size, read at each scrape; a failed
// read leaves the series out rather than reporting 0.
type storeSize struct {
	size func() (int64, error)
	desc *prometheus.Desc
}

func newStoreSize(size func() (int64, error)) *storeSize {
	return &storeSize{size: size, desc: prometheus.NewDesc(SessionsStoreBytes, "Size on disk of the profile's sessions store (state.db with its WAL).", nil, nil)}
}

func (s *storeSize) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *storeSize) Collect(ch chan<- prometheus.Metric) {
	if n, err := s.size(); err == nil {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(n))
	}
}
