package control

// RouteInfo exposes one line of the route table to the external tests.
type RouteInfo struct {
	Pattern string
	Perm    string
}

// Routes returns the route table's patterns and permissions.
func Routes() []RouteInfo {
	var out []RouteInfo
	for _, rt := range routeTable() {
		out = append(out, RouteInfo{Pattern: rt.pattern, Perm: rt.perm.String()})
	}
	return out
}
