package agent

// InFlight is the number of API requests being served now, streams
// included (hermes_gateway_in_flight); unlike Status it asks the upstream
// nothing.
func (a *Agent) InFlight() int { return len(a.slots) }

// Draining reports whether the agent refuses new API requests (Drain).
func (a *Agent) Draining() bool { return a.draining.Load() }
