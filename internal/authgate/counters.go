package authgate

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// counters are what the gate counts, for Counters and Tallies.
type counters struct {
	rateLimited atomic.Uint64 // login requests refused with 429 (per-network limit)
	delayed     atomic.Uint64 // password attempts delayed by their account's budget
	failed      atomic.Uint64 // failed logins (bad credentials, refused OAuth callbacks)
	refused     atomic.Uint64 // requests refused by the gate (no session, Host, cross-origin, …)

	mu       sync.Mutex            // guards logins and refusals
	logins   map[LoginTally]uint64 // by provider and outcome
	refusals map[reason]uint64     // auth.denied, by reason
}

// LoginTally is one cell of the logins Tallies counts: a provider of the
// gate's ("password", "nous", "oidc"; "unknown" for a name that none has,
// so that a client cannot make up values) and the outcome ("success",
// "failure"; a login refused by the rate limit is counted apart).
type LoginTally struct{ Provider, Outcome string }

// Tallies is what the gate has counted by label, for its metrics.
type Tallies struct {
	Logins      map[LoginTally]uint64
	Refusals    map[string]uint64 // requests refused, by the gate's fixed reason
	RateLimited uint64            // login requests refused by the per-network limit
}

// Tallies returns the gate's counts by provider, outcome and reason. Safe
// for concurrent use.
func (g *Gate) Tallies() Tallies {
	g.count.mu.Lock()
	defer g.count.mu.Unlock()
	t := Tallies{Logins: maps.Clone(g.count.logins), Refusals: make(map[string]uint64, len(g.count.refusals)), RateLimited: g.count.rateLimited.Load()}
	if t.Logins == nil {
		t.Logins = map[LoginTally]uint64{}
	}
	for r, n := range g.count.refusals {
		t.Refusals[string(r)] = n
	}
	return t
}

// tallyLogin counts a login's outcome under its provider, "unknown" for a
// name that is not one of the gate's.
func (g *Gate) tallyLogin(provider, outcome string) {
	if provider != "password" && !slices.Contains(g.providerNames(), provider) {
		provider = "unknown"
	}
	g.count.mu.Lock()
	defer g.count.mu.Unlock()
	if g.count.logins == nil {
		g.count.logins = map[LoginTally]uint64{}
	}
	g.count.logins[LoginTally{provider, outcome}]++
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

// countEvent counts one audit event; attrs are the audit line's (the
// provider, for a login).
func (g *Gate) countEvent(event string, why reason, attrs []any) {
	switch {
	case event == "auth.denied":
		g.count.refused.Add(1)
		g.count.mu.Lock()
		if g.count.refusals == nil {
			g.count.refusals = map[reason]uint64{}
		}
		g.count.refusals[why]++
		g.count.mu.Unlock()
	case event == "auth.login.failure" && why == reasonRateLimited:
		g.count.rateLimited.Add(1)
	case event == "auth.login.failure":
		g.count.failed.Add(1)
		g.tallyLogin(attrOf(attrs, "provider"), "failure")
	case event == "auth.login.success":
		g.tallyLogin(attrOf(attrs, "provider"), "success")
	}
}

// attrOf is the string value of key in a slog key-value list, "" if none.
func attrOf(attrs []any, key string) string {
	for i := 0; i+1 < len(attrs); i += 2 {
		if k, ok := attrs[i].(string); ok && k == key {
			v, _ := attrs[i+1].(string)
			return v
		}
	}
	return ""
}
