package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Login is one cell of hermes_gate_logins_total: a provider of the gate
// (password, nous, oidc; "unknown" for a name no provider has) and an
// outcome (success, failure).
type Login struct{ Provider, Outcome string }

// GateCounts are what the dashboard's login gate has counted.
type GateCounts struct {
	Logins      map[Login]uint64
	Refusals    map[string]uint64 // by the gate's fixed reason
	RateLimited uint64
}

// Gate is the collector of the gate's counters: each scrape asks counts.
type Gate struct {
	counts                                func() GateCounts
	descLogins, descRefusals, descLimited *prometheus.Desc
}

// NewGate returns the collector of what counts returns.
func NewGate(counts func() GateCounts) *Gate {
	return &Gate{
		counts:       counts,
		descLogins:   prometheus.NewDesc(GateLogins, "Logins through the dashboard's gate, by provider and outcome.", []string{"provider", "outcome"}, nil),
		descRefusals: prometheus.NewDesc(GateRefusals, "Requests the gate refused, by its fixed reason.", []string{"reason"}, nil),
		descLimited:  prometheus.NewDesc(GateRateLimited, "Login requests refused by the per-network rate limit (429).", nil, nil),
	}
}

// Describe sends every descriptor.
func (g *Gate) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.descLogins
	ch <- g.descRefusals
	ch <- g.descLimited
}

// Collect sends the series of one snapshot.
func (g *Gate) Collect(ch chan<- prometheus.Metric) {
	c := g.counts()
	for k, n := range c.Logins {
		ch <- prometheus.MustNewConstMetric(g.descLogins, prometheus.CounterValue, float64(n), k.Provider, k.Outcome)
	}
	for reason, n := range c.Refusals {
		ch <- prometheus.MustNewConstMetric(g.descRefusals, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(g.descLimited, prometheus.CounterValue, float64(c.RateLimited))
}
