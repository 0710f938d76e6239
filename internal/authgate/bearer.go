package authgate

import "net/http"

// AdmitBearer lets a GET or HEAD of path (exactly, on the canonical path)
// through the gate without a session when allow(r) says so: the metrics
// token on the dashboard's /metrics, so that one scrape configuration
// covers a fleet. Every other request for path is gated as usual (open in
// open-local mode, a session in gated mode), and refused as an API route
// is (401, never a redirect to the login page: a scraper is no browser).
// Call it before serving.
func (g *Gate) AdmitBearer(path string, allow func(*http.Request) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bearer == nil {
		g.bearer = map[string]func(*http.Request) bool{}
	}
	g.bearer[path] = allow
}

// bearerPath reports whether AdmitBearer was called for raw.
func (g *Gate) bearerPath(raw string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.bearer[raw]
	return ok
}

// admitsBearer reports whether r is admitted by AdmitBearer.
func (g *Gate) admitsBearer(r *http.Request, raw string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.URL.Path != raw {
		return false
	}
	g.mu.Lock()
	allow := g.bearer[raw]
	g.mu.Unlock()
	return allow != nil && allow(r)
}
