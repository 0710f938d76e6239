package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/netcap"
)

// Config configures a Server.
type Config struct {
	// Home is HERMES_HOME (absolute): the default profile and the parent
	// of every named profile. Required.
	Home string
	// Gate is the login gate the server's routes are declared to (every
	// one, public or not) and that Run puts in front of them. Required.
	Gate *authgate.Gate
	// Control returns the client of the supervisor to act through: the
	// home owner's published socket when it answers, else the local one
	// (the CLI's gatewayClient). It is called once per request that needs
	// it. Required.
	Control func(ctx context.Context) *control.Client
	// Env is the process environment: HERMES_GATEWAY_HOST, the gateways'
	// bind address when a profile's config.yaml sets none.
	Env hostenv.Env
	// Logger receives the server's own log; nil discards.
	Logger *slog.Logger
	// Now is the clock (active sessions are judged at Now()); nil means
	// time.Now.
	Now func() time.Time
	// Report is the client of the supervisor this dashboard runs under:
	// Run reports its counters to it (source "dashboard", so they show in
	// GET /v1/health as dashboard_<name>) whenever they change, at most
	// once a second. nil reports nothing.
	Report *control.Client
	// Counters, when set, are counted elsewhere and reported with the
	// dashboard's own (the gate's rate-limited logins, say).
	Counters func() map[string]uint64
	// PID is this process's pid, which tells the dashboard service's row
	// whether this is the supervised dashboard; 0 means os.Getpid().
	PID int
}

// CounterSource is the source name the dashboard reports its counters
// under (PUT /v1/counters/dashboard).
const CounterSource = "dashboard"

// Server is the dashboard: its routes, declared to the gate, and the pages
// and API behind them. Create it with New. It holds no state of its own but
// the errors it has already logged (so that each is logged once).
type Server struct {
	home    string
	gate    *authgate.Gate
	control func(context.Context) *control.Client
	env     hostenv.Env
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	pages   map[string]*template.Template
	assets  map[string]asset
	table   []route
	report  *control.Client
	extra   func() map[string]uint64
	caps    *netcap.Limiter // the connection bounds of every Run
	hub     *hub            // the watchers of /api/events
	pid     int             // this process (Config.PID)
	reveals *revealLimiter  // POST /api/env/reveal's budget
	metrics http.Handler    // GET /metrics (metrics.go)

	mu       sync.Mutex        // guards reported
	reported map[string]string // what could not be read → the error last logged (note)
}

// route is one line of the dashboard's surface: a Go 1.22 ServeMux pattern,
// whether the gate lets it through without a session (only the CONTRACT §7
// public table and the static assets), and its handler.
type route struct {
	pattern string
	public  bool
	handler http.HandlerFunc
}

// routes is the whole surface of the dashboard, the one table New mounts
// and declares to the gate (the gate's own login routes are its own).
func (s *Server) routes() []route {
	return []route{
		// CONTRACT §7 public table: GET (and so HEAD) only.
		{"GET /api/status", true, s.apiStatus},
		{"GET /api/config/defaults", true, s.apiConfigDefaults},
		{"GET /api/config/schema", true, s.apiConfigSchema},
		{"GET /api/model/info", true, s.apiModelInfo},
		{"GET /api/dashboard/themes", true, s.apiThemes},
		{"GET /api/dashboard/plugins", true, s.apiPlugins},

		// Behind the gate: the API.
		{"GET /api/sessions", false, s.apiSessions},
		{"GET /api/sessions/{profile}/{id}", false, s.apiSession},
		{"GET /api/services", false, s.apiServices},
		{"POST /api/services/{name}/start", false, s.apiServiceAction("start")},
		{"POST /api/services/{name}/stop", false, s.apiServiceAction("stop")},
		{"POST /api/services/{name}/restart", false, s.apiServiceAction("restart")},
		{"GET /api/profiles", false, s.apiProfiles},
		{"GET /api/logs/{service}/stream", false, s.apiLogStream},
		{"GET /api/logs/{service}/download", false, s.apiLogDownload},
		{"GET /api/logs/boot", false, s.apiBootLog},
		{"GET /api/events", false, s.apiEvents},
		{"GET /api/config", false, s.apiConfigGet},
		{"PUT /api/config", false, s.apiConfigPut},
		{"POST /api/profiles", false, s.apiProfileCreate},
		{"DELETE /api/profiles/{name}", false, s.apiProfileDelete},
		{"GET /api/env", false, s.apiEnvList},
		{"PUT /api/env", false, s.apiEnvSet},
		{"DELETE /api/env", false, s.apiEnvDelete},
		{"POST /api/env/reveal", false, s.apiEnvReveal},
		{"PATCH /api/sessions/{profile}/{id}", false, s.apiSessionRename},
		{"DELETE /api/sessions/{profile}/{id}", false, s.apiSessionDelete},
		{"GET /api/sessions/{profile}/{id}/export", false, s.apiSessionExport},
		{"GET " + MetricsPath, false, s.serveMetrics},

		// Behind the gate: the pages.
		{"GET /{$}", false, s.pageOverview},
		{"GET /sessions", false, s.pageSessions},
		{"GET /sessions/{profile}/{id}", false, s.pageSession},
		{"GET /logs", false, s.pageLogs},
		{"GET /config", false, s.pageConfig},
		{"GET /profiles", false, s.pageProfiles},
		{"GET /secrets", false, s.pageSecrets},

		// Static assets (public): the files of assetList, and nothing else.
		{"GET " + AssetsPath + "{file}", true, s.serveAsset},
		{"GET /favicon.ico", true, s.serveFavicon},
	}
}

// New returns the dashboard for cfg, with every route mounted on its mux
// and declared to cfg.Gate.
func New(cfg Config) (*Server, error) {
	switch {
	case !filepath.IsAbs(cfg.Home):
		return nil, fmt.Errorf("dashboard: Config.Home must be an absolute path, got %q", cfg.Home)
	case cfg.Gate == nil:
		return nil, errors.New("dashboard: Config.Gate is required")
	case cfg.Control == nil:
		return nil, errors.New("dashboard: Config.Control is required")
	}
	s := &Server{
		home:     filepath.Clean(cfg.Home),
		gate:     cfg.Gate,
		control:  cfg.Control,
		env:      cfg.Env,
		log:      cfg.Logger,
		now:      cfg.Now,
		mux:      http.NewServeMux(),
		reported: map[string]string{},
		report:   cfg.Report,
		extra:    cfg.Counters,
		hub:      newHub(),
		pid:      cfg.PID,
		reveals:  newRevealLimiter(),
	}
	if s.pid == 0 {
		s.pid = os.Getpid()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.caps = netcap.New(netcap.Config{Limits: netcap.TCP, Identify: s.identify, OnRefuse: netcap.LogRefusals(s.log, "dashboard")})
	if s.now == nil {
		s.now = time.Now
	}
	if s.env.Getenv == nil {
		s.env.Getenv = func(string) (string, bool) { return "", false }
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.gate.URL); err != nil {
		return nil, err
	}
	if err = s.initMetrics(); err != nil {
		return nil, err
	}
	s.table = s.routes()
	for _, rt := range s.table {
		s.mux.HandleFunc(rt.pattern, rt.handler)
		s.gate.Register(rt.pattern, rt.public)
	}
	return s, nil
}

// Handler returns the dashboard's own routes, without the gate: Run serves
// Gate.Handler(Handler()). Every answer carries the Content-Security-Policy
// (securityHeaders); a path no route has, or a method a route does not
// take, gets the error page (or, under /api/, the JSON error); a panic in a
// handler gets the 500 page.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("a handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.renderError(w, r, http.StatusInternalServerError, "Something went wrong on the dashboard's side; its log says what.")
			}
		}()
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.noRoute(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Shutdown bounds of Run.
const (
	// shutdownGrace is how long Run lets requests that are not streams
	// finish once its context is done.
	shutdownGrace = 5 * time.Second
)

// streamsKey carries the context that ends the log streams of one Run.
type streamsKey struct{}

// Run serves the gated dashboard, Gate.Handler(Handler()), on ln and runs
// the gate's own background work (Gate.Run) until ctx is done, then shuts
// down and closes ln.
//
// At most netcap.TCP connections are open per client address (a trusted
// proxy's address excepted, whose clients all share it) and in all; one more
// is closed at accept, counted and logged at most 10 times a minute. With
// Config.Report set, Run reports its counters (Counters) to the supervisor
// while it serves.
//
// When ctx is done, Run stops accepting connections, ends every log stream
// at once (the event stream simply ends; a browser's EventSource would
// reconnect to a new server), and lets other requests finish for up to 5
// seconds (http.Server.Shutdown) before closing their connections. It
// returns nil after such a shutdown, and an error when ln fails or the
// gate's Run fails before ctx is done. Request contexts carry ctx's values
// but not its cancellation.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	streams, endStreams := context.WithCancel(base)
	defer endStreams()
	base = context.WithValue(base, streamsKey{}, streams)

	hs := &http.Server{
		Handler:           s.gate.Handler(s.Handler()),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.gate.ConfigureServer(hs)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(s.caps.Wrap(ln)) }()
	gateCtx, stopGate := context.WithCancel(ctx)
	defer stopGate()
	gated := make(chan error, 1)
	go func() { gated <- s.gate.Run(gateCtx) }()
	polled := make(chan struct{})
	defer func() { <-polled }()
	defer stopGate() // before the wait above: it ends the poller too
	go func() {
		defer close(polled)
		s.runEvents(gateCtx)
	}()
	if s.report != nil {
		reported := make(chan struct{})
		defer func() { <-reported }()
		defer stopGate() // before the wait above: it ends the reports too
		go func() {
			defer close(reported)
			s.report.ReportCounters(gateCtx, CounterSource, s.Counters)
		}()
	}

	var runErr error
	serveDone, gateDone := false, false
	gateCh := gated
wait:
	for {
		select {
		case err := <-served:
			serveDone = true
			runErr = fmt.Errorf("dashboard: serving: %w", err)
			break wait
		case err := <-gateCh:
			// A gate with nothing to do in the background may return
			// at once; only its failure ends the dashboard.
			gateDone, gateCh = true, nil
			if err != nil && ctx.Err() == nil {
				runErr = fmt.Errorf("dashboard: login gate: %w", err)
				break wait
			}
		case <-ctx.Done():
			break wait
		}
	}
	endStreams()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		cancelBase()
		hs.Close()
	}
	if !serveDone {
		<-served // http.ErrServerClosed
	}
	stopGate()
	if !gateDone {
		if err := <-gated; runErr == nil && err != nil && !errors.Is(err, context.Canceled) {
			runErr = fmt.Errorf("dashboard: login gate: %w", err)
		}
	}
	return runErr
}

// streamContext is the context of a streaming response: it ends when the
// client goes away or when Run starts its shutdown.
func streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	if streams, ok := r.Context().Value(streamsKey{}).(context.Context); ok {
		stop := context.AfterFunc(streams, cancel)
		return ctx, func() { stop(); cancel() }
	}
	return ctx, cancel
}

// Counters returns what the dashboard counts (the connections closed over
// its bounds) and Config.Counters, by snake_case name.
func (s *Server) Counters() map[string]uint64 {
	st := s.caps.Stats()
	out := map[string]uint64{}
	if s.extra != nil {
		maps.Copy(out, s.extra())
	}
	out["conns_over_address_cap"] = st.OverClient
	out["conns_over_total_cap"] = st.OverTotal
	return out
}

// identify is the netcap identity of a connection: its address, and a
// trusted proxy (HERMES_DASHBOARD_TRUSTED_PROXIES) is not bound per address,
// since every client behind it shares it.
func (s *Server) identify(c net.Conn) netcap.Client {
	who := netcap.ByAddress(c)
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil && s.gate.TrustedProxy(ap.Addr().Unmap()) {
		who.Privileged = true
	}
	return who
}
