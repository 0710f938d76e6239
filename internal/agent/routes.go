// The gateway's route table: every route with its name (the access log's
// and /v1/capabilities'), its pattern and who may call it, and the one
// wrapper that applies CORS, the drain, the key and gateway.max_concurrent
// before a route runs.

package agent

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Access says who may call a route, and when it is answered.
type Access int

const (
	// API routes need the key (Authorization: Bearer <API_SERVER_KEY>),
	// are refused while the gateway drains and count toward
	// gateway.max_concurrent.
	API Access = iota
	// Probe routes need the key, and are answered while the gateway
	// drains and however busy it is: they report on it.
	Probe
	// Public routes need nothing and are answered to anyone, while the
	// gateway drains and however busy it is.
	Public
)

func (x Access) String() string {
	switch x {
	case Public:
		return "anyone"
	case Probe:
		return "the key, even while draining"
	}
	return "the key"
}

// Route is one route of the gateway's table.
type Route struct {
	// Name names the route in the access log, in /v1/capabilities'
	// endpoints and in metrics: never the raw path.
	Name string
	// Pattern is a net/http.ServeMux pattern with its method, such as
	// "GET /health" (a GET route answers HEAD too).
	Pattern string
	// Access says who may call it.
	Access Access
	// Handler answers it.
	Handler http.Handler
	// Allow, on a Probe route only, also admits a request without the key
	// when it returns true (the metrics token on the gateway's /metrics);
	// nil admits none that way.
	Allow func(*http.Request) bool
}

// noRouteName is the route name of a request no route matches.
const noRouteName = "unknown"

// route is an entry of the table: the Route and, for the agent's own
// routes, its handler in the agent's form.
type route struct {
	Route
	handle handlerFunc
}

// agentRoutes are the agent's own routes, in the order /v1/capabilities
// lists them.
func (a *Agent) agentRoutes() []route {
	return append([]route{
		{Route{Name: "capabilities", Pattern: "GET /v1/capabilities", Access: Probe}, a.capabilities},
		{Route{Name: "models", Pattern: "GET /v1/models", Access: API}, a.listModels},
		{Route{Name: "model", Pattern: "GET /v1/models/{model...}", Access: API}, a.getModel},
		{Route{Name: "chat_completions", Pattern: "POST /v1/chat/completions", Access: API}, a.chatCompletions},
		{Route{Name: "responses", Pattern: "POST /v1/responses", Access: API}, a.createResponse},
		{Route{Name: "response", Pattern: "GET /v1/responses/{response_id}", Access: API}, a.getResponse},
		{Route{Name: "response_delete", Pattern: "DELETE /v1/responses/{response_id}", Access: API}, a.deleteResponse},
		{Route{Name: "response_input_items", Pattern: "GET /v1/responses/{response_id}/input_items", Access: API}, a.listInputItems},
	}, a.sessionRoutes()...)
}

// buildRoutes makes the table of the gateway's routes (Config.Routes) and
// the agent's, and the mux that dispatches them; a request no route takes
// goes to noRoute (404 or 405, in the error envelope). A route without a
// name or handler, a name used twice or a pattern ServeMux refuses is an
// error.
func (a *Agent) buildRoutes(extra []Route) (err error) {
	var table []route
	for _, r := range extra {
		if r.Handler == nil {
			return fmt.Errorf("agent: route %q has no handler", r.Name)
		}
		if r.Allow != nil && r.Access != Probe {
			return fmt.Errorf("agent: route %q: only a Probe route takes an Allow", r.Name)
		}
		h := r.Handler
		table = append(table, route{r, func(w http.ResponseWriter, req *http.Request) error {
			h.ServeHTTP(w, req)
			return nil
		}})
	}
	table = append(table, a.agentRoutes()...)
	mux := http.NewServeMux()
	defer func() {
		if p := recover(); p != nil { // ServeMux panics on a bad or conflicting pattern
			err = fmt.Errorf("agent: route table: %v", p)
		}
	}()
	names := map[string]bool{noRouteName: true}
	for _, rt := range table {
		if rt.Name == "" || names[rt.Name] {
			return fmt.Errorf("agent: route %q (%s): a route needs a name of its own", rt.Name, rt.Pattern)
		}
		names[rt.Name] = true
		mux.Handle(rt.Pattern, a.wrap(rt))
	}
	mux.Handle("/", a.wrap(route{Route{Name: noRouteName, Pattern: "/", Access: Public}, a.noRoute}))
	a.table, a.mux = table, mux
	return nil
}

// wrap is the one step every route goes through: its name into the
// request's Exchange, CORS, then for its Access the drain, the key and a
// concurrency slot, then the route, whose error (if it has written
// nothing yet) becomes the answer.
func (a *Agent) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := exchangeOf(r.Context())
		ex.Route = rt.Name
		if rt.Name == noRouteName {
			ex.Route = a.pathRouteName(r)
		}
		if handled := a.cors(w, r); handled {
			return
		}
		if rt.Name != noRouteName && (rt.Allow == nil || !rt.Allow(r)) {
			if err := a.admit(r, rt.Access); err != nil {
				ex.noteError(err)
				writeError(w, err)
				return
			}
			if rt.Access == API {
				defer func() { <-a.slots }()
			}
		}
		rec, _ := w.(*recorder)
		err := rt.handle(w, r)
		if err == nil {
			return
		}
		ex.noteError(err)
		a.noteUpstream(err)
		switch {
		case errors.Is(err, errClientGone):
			a.log.Debug("agent: the client went away", "route", ex.Route, "err", err)
			return
		case rec != nil && rec.wrote:
			a.log.Warn("agent: request failed after its answer began", "route", ex.Route, "err", err)
			return
		}
		if status, _ := errorStatus(err); status >= 500 {
			a.log.Warn("agent: request failed", "method", r.Method, "route", ex.Route, "status", status, "err", err)
		}
		writeError(w, err)
	})
}

// methods are the methods a route may have.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete}

// allowedMethods are the methods with which some route takes r's path.
func (a *Agent) allowedMethods(r *http.Request) (allowed []string, name string) {
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
			if name == "" {
				name = a.routeByPattern(pattern)
			}
		}
	}
	return allowed, name
}

func (a *Agent) routeByPattern(pattern string) string {
	for _, rt := range a.table {
		if rt.Pattern == pattern {
			return rt.Name
		}
	}
	return noRouteName
}

// pathRouteName is the name of the route that serves r's path with
// another method (a preflight, a 405), else noRouteName.
func (a *Agent) pathRouteName(r *http.Request) string {
	if _, name := a.allowedMethods(r); name != "" {
		return name
	}
	return noRouteName
}

// noRoute answers a request no route takes: 405 with Allow when its path
// is served with other methods, else 404.
func (a *Agent) noRoute(w http.ResponseWriter, r *http.Request) error {
	if allowed, _ := a.allowedMethods(r); len(allowed) > 0 {
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return fail(ErrMethod, "method_not_allowed", "%s %s is not served (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	return fail(ErrNotFound, "unknown_endpoint", "no such endpoint: %s %s (served: %s)", r.Method, shorten(r.URL.Path, 200), a.servedPaths())
}

// servedPaths lists the table's paths for a 404's message.
func (a *Agent) servedPaths() string {
	var paths []string
	for _, rt := range a.table {
		if p := routePath(rt.Pattern); !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return strings.Join(paths, ", ")
}

// routeMethod and routePath split a pattern: "GET /v1/models/{model...}"
// is GET and /v1/models/{model}.
func routeMethod(pattern string) string {
	m, _, _ := strings.Cut(pattern, " ")
	return m
}

func routePath(pattern string) string {
	_, p, _ := strings.Cut(pattern, " ")
	return strings.ReplaceAll(p, "...}", "}")
}

// Routes is the gateway's route table (Config.Routes, then the agent's),
// for documentation and tests; the handlers are left out.
func (a *Agent) Routes() []Route {
	out := make([]Route, len(a.table))
	for i, rt := range a.table {
		out[i] = rt.Route
		out[i].Handler = nil
	}
	return out
}

// endpoint is an entry of /v1/capabilities' endpoints.
type endpoint struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// capabilitiesDoc is the answer of GET /v1/capabilities, with the keys of
// the reference's gateway (hermes.api_server.capabilities), so that the
// portals and tools written for it find this one.
type capabilitiesDoc struct {
	Object    string              `json:"object"`
	Platform  string              `json:"platform"`
	Model     string              `json:"model"`
	Auth      capabilitiesAuth    `json:"auth"`
	Features  capabilityFeatures  `json:"features"`
	Endpoints map[string]endpoint `json:"endpoints"`
}

type capabilitiesAuth struct {
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

type capabilityFeatures struct {
	ChatCompletions          bool `json:"chat_completions"`
	ChatCompletionsStreaming bool `json:"chat_completions_streaming"`
	ResponsesAPI             bool `json:"responses_api"`
	ResponsesStreaming       bool `json:"responses_streaming"`
	Sessions                 bool `json:"sessions"`
}

// Platform is the platform the gateway announces (/v1/capabilities,
// /health), the reference's name for its API server.
const Platform = "hermes-agent"

// capabilities is GET /v1/capabilities: what this gateway serves. The
// Responses API and the sessions need the sessions store.
func (a *Agent) capabilities(w http.ResponseWriter, r *http.Request) error {
	doc := capabilitiesDoc{
		Object:   "hermes.api_server.capabilities",
		Platform: Platform,
		Model:    a.agentName,
		Auth:     capabilitiesAuth{Type: "bearer", Required: true},
		Features: capabilityFeatures{
			ChatCompletions:          true,
			ChatCompletionsStreaming: true,
			ResponsesAPI:             a.store != nil,
			ResponsesStreaming:       a.store != nil,
			Sessions:                 a.store != nil,
		},
		Endpoints: map[string]endpoint{},
	}
	for _, rt := range a.table {
		doc.Endpoints[rt.Name] = endpoint{Method: routeMethod(rt.Pattern), Path: routePath(rt.Pattern)}
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}
