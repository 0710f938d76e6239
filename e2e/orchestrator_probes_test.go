package e2e

// The probes of the orchestrator tests (Swarm, Podman), in one place. The
// manifests of deploy/ already name the routes an orchestrator probes
// (deploy/kubernetes: liveness /health, readiness /health/ready), and the
// tests probe the same routes of the gateway and the dashboard.
const (
	// probeLive is the gateway's liveness route (public).
	probeLive = "/health"
	// probeReady is the gateway's readiness route (public).
	probeReady = "/health/ready"
	// probeStatus is the dashboard's public status, the portal's probe.
	probeStatus = "/api/status"
	// gatewayPort is the default profile's gateway port in the image.
	gatewayPort = 8642
)
