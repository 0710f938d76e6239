package control

// route is one line of the API surface: a ServeMux pattern, the permission
// the caller needs (see authorize) and the handler. The wrapper checks the
// permission before the handler runs, so no handler can forget it.
type route struct {
	pattern string
	perm    perm
	handle  func(*Server, *call) error
}

// routeTable is the whole control API (CONTRACT §4).
func routeTable() []route {
	return []route{
		{"GET /v1/services", permRead, (*Server).listServices},
		{"GET /v1/services/{name}", permRead, (*Server).getService},
		{"PUT /v1/services/{name}", permRegister, (*Server).putService},
		{"DELETE /v1/services/{name}", permRemove, (*Server).deleteService},
		{"POST /v1/services/{name}/start", permControl, (*Server).startService},
		{"POST /v1/services/{name}/stop", permControl, (*Server).stopService},
		{"POST /v1/services/{name}/restart", permControl, (*Server).restartService},
		{"POST /v1/services/{name}/signal", permControl, (*Server).signalService},
		{"GET /v1/services/{name}/logs", permRead, (*Server).serviceLogs},
		{"GET /v1/events", permRead, (*Server).events},
		{"PUT /v1/gateways/{profile}", permGateway, (*Server).putGateway},
		{"DELETE /v1/gateways/{profile}", permGateway, (*Server).deleteGateway},
		{"GET /v1/health", permRead, (*Server).getHealth},
		{"GET " + MetricsPath, permRead, (*Server).getMetrics},
		{"PUT /v1/counters/{source}", permReport, (*Server).putCounters},
		{"/", permRead, (*Server).noRoute}, // 404 or 405, as JSON
	}
}
