package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// Health is the answer of GET /health and GET /v1/health.
type Health struct {
	// Status is "ok", or "draining" once the gateway is stopping.
	Status string `json:"status"`
	// Platform is agent.Platform, as the reference's gateway answers.
	Platform string `json:"platform"`
	// Profile is the gateway's profile.
	Profile string `json:"profile"`
	// State is the gateway's gateway_state.
	State string `json:"state"`
}

// DetailedHealth is the answer of GET /health/detailed: Health, the
// process, the requests in flight, the drain, the upstream and whether the
// sessions store takes writes.
type DetailedHealth struct {
	// Status is "ok", "degraded" (the upstream is unreachable or the
	// sessions store takes no writes) or "draining".
	Status   string `json:"status"`
	Platform string `json:"platform"`
	Profile  string `json:"profile"`
	State    string `json:"state"`
	// GatewayState is State under the reference's name.
	GatewayState string    `json:"gateway_state"`
	PID          int       `json:"pid"`
	StartedAt    time.Time `json:"started_at"`
	// Draining is set once the gateway stops taking new API requests.
	Draining bool `json:"draining"`
	// InFlight is the number of API requests being served (streams
	// included), ActiveAgents the same under the reference's name, and
	// MaxConcurrent gateway.max_concurrent.
	InFlight      int `json:"in_flight"`
	ActiveAgents  int `json:"active_agents"`
	MaxConcurrent int `json:"max_concurrent"`
	// Upstream is reachable now or not, and its last failure.
	Upstream agent.UpstreamStatus `json:"upstream"`
	// SessionsStore says whether state.db takes writes now.
	SessionsStore StoreHealth `json:"sessions_store"`
}

// StoreHealth says whether the sessions store (state.db) takes writes.
type StoreHealth struct {
	Writable bool   `json:"writable"`
	Error    string `json:"error,omitempty"`
	// Bytes is the data it holds and MaxBytes its cap (sessions.max_bytes).
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// Stats count the sessions it ended for idleness, the ended sessions
	// pruned at the cap and the turns refused (507) at it.
	Stats sessions.Stats `json:"counters"`
}

// detailTimeout bounds the checks of GET /health/detailed.
const detailTimeout = 3 * time.Second

// routes are the gateway's own routes, served in the agent's route table
// behind its access log: the health, public like the reference's, the
// readiness, public for orchestrators' probes, the detailed health behind
// the key, and the metrics behind the key or the metrics token.
func (g *gw) routes() []agent.Route {
	return []agent.Route{
		{Name: "health", Pattern: "GET /health", Access: agent.Public, Handler: http.HandlerFunc(g.health)},
		{Name: "health_v1", Pattern: "GET /v1/health", Access: agent.Public, Handler: http.HandlerFunc(g.health)},
		{Name: "health_detailed", Pattern: "GET /health/detailed", Access: agent.Probe, Handler: http.HandlerFunc(g.healthDetailed)},
		{Name: "health_ready", Pattern: "GET /health/ready", Access: agent.Public, Handler: http.HandlerFunc(g.ready)},
		{Name: "metrics", Pattern: "GET /metrics", Access: agent.Probe, Handler: http.HandlerFunc(g.serveMetrics), Allow: g.token.Allows},
	}
}

// basicHealth is the gateway's state and profile, nothing else.
func (g *gw) basicHealth() Health {
	h := Health{Status: "ok", Platform: agent.Platform, Profile: g.cfg.Profile.Name(), State: g.current()}
	if h.State == StateDraining || h.State == StateStopped {
		h.Status = "draining"
	}
	return h
}

// health is GET /health and GET /v1/health.
func (g *gw) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.basicHealth())
}

// healthDetailed is GET /health/detailed. The upstream's reachability
// and the store's writability are checked now, together, within
// detailTimeout.
func (g *gw) healthDetailed(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), detailTimeout)
	defer cancel()
	stored := make(chan StoreHealth, 1)
	go func() { stored <- storeHealth(ctx, g.store) }()
	h := g.basicHealth()
	st := g.ag.Status(ctx)
	d := DetailedHealth{
		Status: h.Status, Platform: h.Platform, Profile: h.Profile, State: h.State, GatewayState: h.State,
		PID: g.pid, StartedAt: g.start.UTC(),
		Draining: st.Draining || h.Status == "draining", InFlight: st.InFlight, ActiveAgents: st.InFlight, MaxConcurrent: st.MaxConcurrent,
		Upstream: st.Upstream, SessionsStore: <-stored,
	}
	if d.Status == "ok" && (!d.Upstream.Reachable || !d.SessionsStore.Writable) {
		d.Status = "degraded"
	}
	writeJSON(w, http.StatusOK, d)
}

// storeHealth checks that st takes a write transaction.
func storeHealth(ctx context.Context, st *sessions.Store) StoreHealth {
	if st == nil {
		return StoreHealth{Error: "no sessions store"}
	}
	h := StoreHealth{MaxBytes: st.MaxBytes(), Stats: st.Stats()}
	h.Bytes, _ = st.Size(ctx)
	if err := st.Writable(ctx); err != nil {
		h.Error = err.Error()
		return h
	}
	h.Writable = true
	return h
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
