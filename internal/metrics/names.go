package metrics

// The names of every hermes metric: the one spelling of each (the README's
// table lists them with their types and labels).
const (
	// init (the supervisor), GET /v1/metrics on the control socket.
	ServiceUp               = "hermes_service_up"
	ServiceWantedUp         = "hermes_service_wanted_up"
	ServiceRestarts         = "hermes_service_restarts_total"
	ServiceLogLines         = "hermes_service_log_lines_total"
	ServiceLogDropped       = "hermes_service_log_dropped_lines_total"
	ServiceLogWriteErrors   = "hermes_service_log_write_errors_total"
	ServiceCPU              = "hermes_service_cpu_seconds_total"
	ServiceMemory           = "hermes_service_memory_bytes"
	ServiceOpenFDs          = "hermes_service_open_fds"
	ServiceThreads          = "hermes_service_threads"
	ServiceProcesses        = "hermes_service_processes"
	BootDuration            = "hermes_boot_duration_seconds"
	ControlRequests         = "hermes_control_requests_total"
	GatewayRequests         = "hermes_gateway_requests_total"
	GatewayRequestDuration  = "hermes_gateway_request_duration_seconds"
	GatewayUpstreamDuration = "hermes_gateway_upstream_duration_seconds"
	GatewayInFlight         = "hermes_gateway_in_flight"
	GatewayUpstreamErrors   = "hermes_gateway_upstream_errors_total"
	GatewayTokens           = "hermes_gateway_tokens_total"
	SessionsStoreBytes      = "hermes_sessions_store_bytes"
	GateLogins              = "hermes_gate_logins_total"
	GateRefusals            = "hermes_gate_refusals_total"
	GateRateLimited         = "hermes_gate_rate_limited_total"
)
