package e2e

// The probes of the orchestrator tests (Swarm, Podman), in one place. The
// manifests of deploy/ already name the routes an orchestrator probes
// (deploy/kubernetes: liveness /health, readiness /health/ready); the
// tests probe what the gateway and the dashboard serve today. When the
// gateway's readiness route /health/ready comes (issue 16), probeReady
// becomes "/health/ready" and nothing else changes.
const (
	// probeLive is the gateway's liveness route (public).
	probeLive = "/health"
	// probeReady is the gateway's readiness route (public).
	probeReady = "/health"
	// probeStatus is the dashboard's public status, the portal's probe.
	probeStatus = "/api/status"
	// gatewayPort is the default profile's gateway port in the image.
	gatewayPort = 8642
)
