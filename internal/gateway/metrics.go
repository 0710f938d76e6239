// The gateway's metrics (GET /metrics, behind the key or the metrics
// token) and its readiness (GET /health/ready, public).

package gateway

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// readyTimeout bounds the sessions store's check of GET /health/ready.
const readyTimeout = 2 * time.Second

// Ready is the answer of GET /health/ready: 200 with Ready true when the
// gateway serves, does not drain and its sessions store takes writes; 503
// with the Reason otherwise. The upstream is not part of it (an upstream
// outage must not restart every gateway): /health/detailed reports it.
type Ready struct {
	Ready   bool   `json:"ready"`
	Status  string `json:"status"` // "ready" or "not_ready"
	Profile string `json:"profile"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
}

// ready is GET /health/ready.
func (g *gw) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	h := Ready{Profile: g.cfg.Profile.Name(), State: g.current(), Status: "not_ready"}
	switch {
	case h.State != StateRunning:
		h.Reason = "the gateway is " + h.State
	case g.ag.Draining():
		h.Reason = "the gateway is draining"
	default:
		if st := storeHealth(ctx, g.store); !st.Writable {
			h.Reason = "the sessions store takes no writes: " + st.Error
		}
	}
	status := http.StatusServiceUnavailable
	if h.Reason == "" {
		h.Ready, h.Status, status = true, "ready", http.StatusOK
	}
	writeJSON(w, status, h)
}

// newMetrics builds the gateway's registry: its runtime series
// (component="gateway"), and its requests, fed by the access log.
func (g *gw) newMetrics() {
	reg := metrics.NewRegistry(metrics.ComponentGateway)
	g.obs = metrics.NewGateway(reg,
		func() int {
			if g.ag == nil {
				return 0
			}
			return g.ag.InFlight()
		},
		func() (int64, error) { return storeBytes(g.dir) })
	g.metrics = metrics.Handler(reg)
}

// observe is the agent's Config.Observe: every answered request into the
// metrics.
func (g *gw) observe(ex *agent.Exchange) {
	g.obs.Observe(metrics.Exchange{
		Route: ex.Route, Status: ex.Status, Duration: ex.Duration, Upstream: ex.Upstream,
		// The upstream model, never ex.Model (the client's name): a label
		// holds what the configuration allows, not what a client sends.
		UpstreamModel: ex.UpstreamModel,
		UpstreamError: ex.UpstreamError, PromptTokens: ex.PromptTokens, OutputTokens: ex.CompletionTokens,
	})
}

// serveMetrics is GET /metrics.
func (g *gw) serveMetrics(w http.ResponseWriter, r *http.Request) { g.metrics.ServeHTTP(w, r) }

// storeBytes is the size of the profile's sessions store on disk: the
// database and its write-ahead log.
func storeBytes(dir string) (int64, error) {
	var n int64
	for i, f := range []string{profiles.FileSessions, profiles.FileSessionsWAL} {
		fi, err := os.Stat(filepath.Join(dir, f))
		switch {
		case err == nil:
			n += fi.Size()
		case i > 0 && errors.Is(err, fs.ErrNotExist): // no WAL: nothing to add
		default:
			return 0, err
		}
	}
	return n, nil
}
