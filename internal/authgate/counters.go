package authgate

import "sync/atomic"

// counters are what the gate counts, for Counters.
type counters struct {
	rateLimited atomic.Uint64 // login requests refused with 429 (per-network limit)
	delayed     atomic.Uint64 // password attempts delayed by their account's budget
	failed      atomic.Uint64 // failed logins (bad credentials, refused OAuth callbacks)
	refused     atomic.Uint64 // requests refused by the gate (no session, Host, cross-origin, …)
}

// Counter names (Counters' keys).
const (
	CounterRateLimitedLogins = "gate_rate_limited_logins"
	CounterDelayedLogins     = "gate_delayed_logins"
	CounterFailedLogins      = "gate_failed_logins"
	CounterRefusedRequests   = "gate_refused_requests"
	CounterEvictedNetworks   = "gate_evicted_networks"
)

// Counters returns what the gate has counted since New: login requests
// refused by the per-network limit (gate_rate_limited_logins), password
// attempts delayed by their account's budget (gate_delayed_logins), failed
// logins other than those (gate_failed_logins), requests refused by the
// gate (gate_refused_requests: no or bad session, foreign Host,
// cross-origin, wrong method) and networks the full limiter table forgot
// (gate_evicted_networks). Safe for concurrent use.
func (g *Gate) Counters() map[string]uint64 {
	return map[string]uint64{
		CounterRateLimitedLogins: g.count.rateLimited.Load(),
		CounterDelayedLogins:     g.count.delayed.Load(),
		CounterFailedLogins:      g.count.failed.Load(),
		CounterRefusedRequests:   g.count.refused.Load(),
		CounterEvictedNetworks:   g.limits.evictions(),
	}
}

// countEvent counts one audit event.
func (g *Gate) countEvent(event string, why reason) {
	switch {
	case event == "auth.denied":
		g.count.refused.Add(1)
	case event == "auth.login.failure" && why == reasonRateLimited:
		g.count.rateLimited.Add(1)
	case event == "auth.login.failure":
		g.count.failed.Add(1)
	}
}
