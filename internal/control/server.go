package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/netcap"
	"github.com/hermes-agent/hermes/internal/procstat"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// Config configures a Server.
type Config struct {
	// Sup is the supervisor the API drives. Required.
	Sup Supervisor
	// Home is HERMES_HOME (absolute): services the hermes uid registers
	// must keep their dir and log_file inside it. Required.
	Home string
	// HermesUID and HermesGID are the hermes user (hostenv.HermesIDs).
	// HermesUID is required (>= 1). Set HermesGID too: the hermes uid may
	// register only services that run as HermesUID:HermesGID, so a zero
	// left by mistake would let it pick the root group.
	HermesUID, HermesGID int
	// Gateways registers and removes the profile gateways
	// (/v1/gateways/{profile}); nil means this supervisor does not manage
	// gateways, and those routes answer 404.
	Gateways Gateways
	// Health answers GET /v1/health. Required.
	Health func() Health
	// Resources returns the usage of the given process groups (the
	// services' pids); nil means procstat.Groups, from /proc.
	Resources func(pgids []int) (map[int]procstat.Usage, error)
	// ScrapeSample is how long the /proc figures that a metrics scrape
	// read serve the scrapes after it (the resource series; the states
	// and counters are read at each scrape): 0 means DefaultScrapeSample,
	// a negative value none, every scrape reading /proc. A status call
	// always reads /proc.
	ScrapeSample time.Duration
	// BootDuration, when set, is how long init took to boot (0 while it
	// boots), for hermes_boot_duration_seconds.
	BootDuration func() time.Duration
	// Recorded, when set, is called after a start, stop or restart and a
	// gateway's registration succeeded and before the answer, so that
	// what the change records (a gateway's desired_state) is on disk when
	// the operator is told it is done (gateway.DesiredQueue.Flush).
	Recorded func(ctx context.Context) error
	// Logger receives refused and failed requests and refused
	// connections, at most RefusalsLogged refusals a minute; nil discards.
	Logger *slog.Logger
	// Heartbeat is the interval of the comment lines that keep an event
	// stream open through proxies; 0 means 15 s.
	Heartbeat time.Duration
	// ShutdownGrace bounds how long Run waits for synchronous requests
	// once its context is done, before cancelling them; 0 means 5 s.
	ShutdownGrace time.Duration
	// Served, when set, is called after each request has been answered
	// (an event stream: once it ends). It must not block: init gives
	// back the memory of a burst of requests once they stop
	// (procmem.Trimmer.Touch).
	Served func()
}

// Server serves the control API. Create it with NewServer; it has no state
// beyond its configuration and counters, and Run may be called for several
// listeners.
type Server struct {
	sup       Supervisor
	gateways  Gateways
	pol       policy
	health    func() Health
	recorded  func(ctx context.Context) error
	log       *slog.Logger
	heartbeat time.Duration
	grace     time.Duration
	mux       *http.ServeMux
	cfgErr    error // reported by Run
	served    func()

	requests, refused, failed atomic.Uint64

	limiter *netcap.Limiter // the connection bounds, over every Run
	quota   *netcap.Quota   // of refusals logged
	conns   connCounters
	pushed  pushedCounters // what other processes report (PUT /v1/counters)

	resources func([]int) (map[int]procstat.Usage, error)
	sample    scrapeSample      // the scrapes' /proc figures
	reqs      *metrics.Requests // hermes_control_requests_total
	metrics   http.Handler      // GET /v1/metrics
	// metricsOnce builds reqs and metrics (initMetrics); bootDuration
	// is Config.BootDuration.
	metricsOnce  sync.Once
	bootDuration func() time.Duration
}

// NewServer returns a Server for cfg. A configuration that lacks something
// required is reported by Run, which then serves nothing.
func NewServer(cfg Config) *Server {
	s := &Server{
		sup:       cfg.Sup,
		gateways:  cfg.Gateways,
		pol:       policy{home: filepath.Clean(cfg.Home), hermesUID: cfg.HermesUID, hermesGID: cfg.HermesGID},
		health:    cfg.Health,
		recorded:  cfg.Recorded,
		log:       cfg.Logger,
		heartbeat: cfg.Heartbeat,
		grace:     cfg.ShutdownGrace,
		served:    cfg.Served,
		mux:       http.NewServeMux(),
		quota:     netcap.NewQuota(RefusalsLogged, nil),
	}
	s.resources = cfg.Resources
	if s.resources == nil {
		s.resources = procstat.Groups
	}
	s.sample.maxAge = cfg.ScrapeSample
	if s.sample.maxAge == 0 {
		s.sample.maxAge = DefaultScrapeSample
	}
	s.bootDuration = cfg.BootDuration
	s.limiter = netcap.New(netcap.Config{Limits: connLimits, Identify: s.identify, OnRefuse: s.refusedConn})
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.heartbeat <= 0 {
		s.heartbeat = 15 * time.Second
	}
	if s.grace <= 0 {
		s.grace = 5 * time.Second
	}
	if cfg.Sup != nil {
		s.pol.reserved = cfg.Sup.Reserved
	}
	switch {
	case cfg.Sup == nil:
		s.cfgErr = errors.New("control: Config.Sup is required")
	case cfg.Health == nil:
		s.cfgErr = errors.New("control: Config.Health is required")
	case !filepath.IsAbs(cfg.Home):
		s.cfgErr = fmt.Errorf("control: Config.Home must be an absolute path, got %q", cfg.Home)
	case cfg.HermesUID < 1:
		s.cfgErr = fmt.Errorf("control: Config.HermesUID must be a uid >= 1, got %d", cfg.HermesUID)
	}
	for _, rt := range routeTable() {
		if rt.perm == permUndeclared {
			s.cfgErr = fmt.Errorf("control: route %q declares no permission", rt.pattern)
			continue
		}
		s.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			s.serveRoute(rt, w, r)
		})
	}
	return s
}

// Counters returns the server's request and connection counters.
func (s *Server) Counters() Counters {
	st := s.limiter.Stats()
	return Counters{
		Requests: s.requests.Load(), Refused: s.refused.Load(), Failed: s.failed.Load(),
		ConnsRefused: s.conns.refused.Load(), ConnsOverUIDCap: st.OverClient, ConnsOverTotalCap: st.OverTotal,
		ConnsHeaderTimeout: s.conns.headerTimeouts.Load(), RefusalsUnlogged: s.quota.Dropped(),
	}
}

// Run serves the control API on ln until ctx is done, and closes ln.
//
// Connections are bounded as the constants MaxConnsPerUID, MaxConns and
// ReservedConns say, over every listener of the Server: one over a bound is
// closed at accept. A peer other than root and the hermes uid gets its 403
// with Connection: close, and its connection is closed after it; a
// connection that sends no complete request header within HeaderTimeout
// is closed.
//
// When ctx is done, Run stops accepting connections and closes idle ones,
// ends every follow and event stream at once (their responses simply end),
// and waits up to Config.ShutdownGrace for synchronous requests to finish.
// Requests still running then have their contexts cancelled and their
// connections closed, and Run waits up to another grace for their handlers
// to return. Run returns nil after a clean shutdown, and an error when ln
// fails, handlers outlive both graces, or the configuration given to
// NewServer is incomplete (then ln is closed at once). Request contexts
// carry ctx's values but not its cancellation. Run may serve several
// listeners at once, one call each.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if s.cfgErr != nil {
		ln.Close()
		return s.cfgErr
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	streams, endStreams := context.WithCancel(base)
	defer endStreams()
	rs := &runState{streams: streams, idle: make(chan struct{})}
	base = context.WithValue(base, runStateKey{}, rs)

	hs := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       connContext,
		ReadHeaderTimeout: HeaderTimeout,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	bounded := connListener{Listener: s.limiter.Wrap(ln), s: s}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(bounded) }()

	var serveErr error
	select {
	case err := <-served:
		serveErr = fmt.Errorf("control: serving: %w", err)
	case <-ctx.Done():
	}
	endStreams()
	sctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		cancelBase()
		hs.Close()
	}
	if serveErr == nil {
		<-served // http.ErrServerClosed
	}
	select {
	case <-rs.close():
	case <-time.After(s.grace):
		return errors.Join(serveErr, fmt.Errorf("control: %d requests did not end within %s of shutdown", rs.count(), 2*s.grace))
	}
	return serveErr
}

// runState is the state of one Run: the context that ends streams and the
// count of running handlers.
type runState struct {
	streams context.Context

	mu     sync.Mutex // guards active and closed
	active int
	closed bool
	idle   chan struct{} // closed once closed and no handler runs
}

type runStateKey struct{}

func (rs *runState) enter() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return false
	}
	rs.active++
	return true
}

func (rs *runState) leave() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.active--
	if rs.closed && rs.active == 0 {
		close(rs.idle)
	}
}

func (rs *runState) close() <-chan struct{} {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.closed {
		rs.closed = true
		if rs.active == 0 {
			close(rs.idle)
		}
	}
	return rs.idle
}

func (rs *runState) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.active
}

// call is one request as a handler sees it.
type call struct {
	w       *responseWriter
	r       *http.Request
	who     peer
	name    string          // the {name} wildcard, or gateway-<profile> on the gateway routes
	profile string          // the {profile} wildcard ("" on other routes)
	spec    *supervise.Spec // the decoded body of a permRegister route
}

// responseWriter records whether the response has started, so that an
// error after the headers is logged rather than written into a stream.
type responseWriter struct {
	http.ResponseWriter
	started bool
	status  int // the status written, 0 before
}

func (w *responseWriter) WriteHeader(code int) {
	w.started = true
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's Flush.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) flush() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// serveHTTP checks what every request must pass (not from a browser, body
// bounded, a caller who may use the API at all) and routes it.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.served != nil {
		defer s.served()
	}
	markServed(r.Context())
	rw := &responseWriter{ResponseWriter: w}
	defer func() { s.countRequest(r, rw.status) }()
	if who := peerFrom(r.Context()); !s.pol.privileged(who) {
		// Nothing to serve this peer, ever: its 403, and its connection
		// closed after it (net/http half-closes at once, so the peer reads
		// the answer, and closes the connection, freeing its slot, 0.5 s
		// later at most).
		s.conns.refused.Add(1)
		rw.Header().Set("Connection", "close")
		s.fail(rw, r, s.pol.authorize(who, access{perm: permRead}))
		return
	}
	if rs, ok := r.Context().Value(runStateKey{}).(*runState); ok {
		if !rs.enter() {
			s.fail(rw, r, fmt.Errorf("%w: the control server is stopping", supervise.ErrClosed))
			return
		}
		defer rs.leave()
	}
	if len(r.Header.Values("Origin")) > 0 || len(r.Header.Values("Referer")) > 0 {
		s.fail(rw, r, fmt.Errorf("%w: requests with an Origin or Referer header (from a browser) are refused", ErrForbidden))
		return
	}
	// The original writer: it learns to close the connection after a 413.
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	s.mux.ServeHTTP(rw, r)
}

// serveRoute authorises a routed request with its route's permission and
// runs the handler.
func (s *Server) serveRoute(rt route, w http.ResponseWriter, r *http.Request) {
	rw, ok := w.(*responseWriter)
	if !ok {
		rw = &responseWriter{ResponseWriter: w}
	}
	who := peerFrom(r.Context())
	if who.known && who.uid != 0 {
		// What admit decides for the hermes uid must still hold when the
		// supervisor acts (root may replace a service in between).
		r = r.WithContext(supervise.ExpectUID(r.Context(), who.uid))
	}
	c := &call{w: rw, r: r, who: who, name: r.PathValue("name"), profile: r.PathValue("profile")}
	err := s.admit(rt.perm, c)
	if err == nil {
		err = rt.handle(s, c)
	}
	switch {
	case err == nil:
	case rw.started:
		s.log.Debug("control: stream ended", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		s.fail(rw, r, err)
	}
}

// admit gathers what authorize needs for perm (the service as it is, the
// spec to register) and asks it.
func (s *Server) admit(p perm, c *call) error {
	if p == permRead || p == permReport {
		return s.pol.authorize(c.who, access{perm: p})
	}
	if p == permGateway {
		if err := profiles.Validate(c.profile); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		// The service's name, needed only to authorise against the
		// service as it is, from the owner of the gateways' names.
		g, err := s.gatewaysOrErr()
		if err != nil {
			return err
		}
		c.name = g.ServiceName(c.profile)
	}
	if err := supervise.ValidName(c.name); err != nil {
		return err
	}
	a := access{perm: p, name: c.name}
	if p == permRegister {
		spec, err := decodeSpec(c.r.Body, c.name)
		if err != nil {
			return err
		}
		c.spec, a.spec = &spec, &spec
	}
	switch st, err := s.sup.Status(c.name); {
	case err == nil:
		a.existing = &st
	case !errors.Is(err, supervise.ErrNotFound):
		return err
	}
	return s.pol.authorize(c.who, a)
}

// fail answers err as an error envelope (errorStatus decides the status).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(err)
	who := peerFrom(r.Context())
	switch {
	case status == http.StatusForbidden:
		s.refused.Add(1)
		s.logRefusal("control: refused", "uid", who.uid, "pid", who.pid, "method", r.Method, "path", r.URL.Path, "err", err)
	case status >= 500:
		s.failed.Add(1)
		s.log.Error("control: failed", "uid", who.uid, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, errorBody{Error: code, Detail: err.Error()})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "internal", Detail: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// streamContext is the context of a follow or event stream: it ends with
// the request or when Run begins its shutdown.
func streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	rs, ok := r.Context().Value(runStateKey{}).(*runState)
	if !ok {
		return ctx, cancel
	}
	stop := context.AfterFunc(rs.streams, cancel)
	return ctx, func() { stop(); cancel() }
}
