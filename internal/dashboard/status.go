package dashboard

import (
	"context"
	"net/http"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/buildinfo"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// statusBody is /api/status as anyone may read it, in every mode: nothing
// in it is a path, a pid, a session id or anything else user-specific.
type statusBody struct {
	Version        string   `json:"version"`
	AuthRequired   bool     `json:"auth_required"`
	AuthProviders  []string `json:"auth_providers"`
	Mode           string   `json:"mode"`
	GatewayState   string   `json:"gateway_state"`
	GatewayRunning bool     `json:"gateway_running"`
	// Gateways has one entry per profile, "default" first.
	Gateways       []gatewayBody `json:"gateways"`
	ActiveSessions int           `json:"active_sessions"`
}

// gatewayBody is one profile's gateway in /api/status.
type gatewayBody struct {
	Profile string `json:"profile"`
	State   string `json:"state"`
	Running bool   `json:"running"`
}

// openStatusBody is /api/status when no login is required (open-local,
// open-insecure): the public body and, as the reference showed on
// loopback, the default profile's paths and pid; in open-local also the
// session token the API needs.
type openStatusBody struct {
	statusBody
	HermesHome        string `json:"hermes_home"`
	ConfigPath        string `json:"config_path"`
	EnvPath           string `json:"env_path"`
	GatewayPID        *int   `json:"gateway_pid"`
	GatewayExitReason string `json:"gateway_exit_reason,omitempty"`
	GatewayUpdatedAt  string `json:"gateway_updated_at,omitempty"`
	// Gateways replaces the public entries with detailed ones.
	Gateways     []gatewayOpenBody `json:"gateways"`
	SessionToken string            `json:"session_token,omitempty"`
}

// gatewayOpenBody is one gateway in open modes: the public entry and where
// it comes from.
type gatewayOpenBody struct {
	gatewayBody
	Dir           string `json:"dir"`
	PID           *int   `json:"pid"`
	RecordedState string `json:"recorded_state"`
	DesiredState  string `json:"desired_state"`
	PIDLock       string `json:"pid_lock"`
}

// status is what /api/status reports, read afresh for every request.
type status struct {
	views  []gateway.Observation
	active int
}

// readStatus reads every profile's gateway and sums their active sessions.
func (s *Server) readStatus(ctx context.Context) status {
	now := s.now()
	var st status
	for _, p := range s.profileRefs() {
		st.views = append(st.views, readGateway(p))
		n, _ := s.activeSessions(ctx, p, now)
		st.active += n
	}
	return st
}

// apiStatus is GET /api/status (public): the liveness probe of an external
// portal, 200 in every mode. See the package doc for where each number
// comes from.
func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	st := s.readStatus(r.Context())
	mode := s.gate.Mode()
	body := statusBody{
		Version:        buildinfo.Version(),
		AuthRequired:   mode == authgate.Gated,
		AuthProviders:  providerNames(s.gate.Providers()),
		Mode:           string(mode),
		Gateways:       make([]gatewayBody, 0, len(st.views)),
		ActiveSessions: st.active,
	}
	for _, v := range st.views {
		body.Gateways = append(body.Gateways, gatewayBody{Profile: v.Profile, State: v.State, Running: v.Running})
	}
	def := st.views[0] // profiles.List always starts with "default"
	body.GatewayState, body.GatewayRunning = def.State, def.Running
	w.Header().Set("Cache-Control", "no-store")
	if body.AuthRequired {
		writeJSON(w, http.StatusOK, body)
		return
	}
	open := openStatusBody{
		statusBody:        body,
		HermesHome:        s.home,
		ConfigPath:        profiles.ConfigPath(profiles.MustParse(s.home, profiles.Default)),
		EnvPath:           profiles.EnvPath(profiles.MustParse(s.home, profiles.Default)),
		GatewayPID:        pidOrNil(def.PID),
		GatewayExitReason: def.File.ExitReason,
		GatewayUpdatedAt:  def.File.UpdatedAt,
	}
	for _, v := range st.views {
		open.Gateways = append(open.Gateways, gatewayOpenBody{
			gatewayBody: gatewayBody{Profile: v.Profile, State: v.State, Running: v.Running},
			Dir:         v.Dir, PID: pidOrNil(v.PID),
			RecordedState: v.File.GatewayState, DesiredState: v.File.DesiredState, PIDLock: v.Lock,
		})
	}
	if mode == authgate.OpenLocal {
		open.SessionToken = s.gate.LocalToken()
	}
	writeJSON(w, http.StatusOK, open)
}

// providerNames returns the names of the gate's providers, never nil.
func providerNames(ps []authgate.ProviderInfo) []string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names
}

func pidOrNil(pid int) *int {
	if pid <= 0 {
		return nil
	}
	return &pid
}
