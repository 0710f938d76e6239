package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/netcap"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// ErrConfig is wrapped by Run when the profile's configuration cannot work
// (no port, a bad config.yaml, a missing profile): restarting would not
// help, so the CLI exits with ExitConfig.
var ErrConfig = errors.New("gateway configuration error")

// ExitConfig is the exit code of a configuration error (EX_CONFIG), which
// the supervisor marks failed instead of restarting.
const ExitConfig = supervise.ExitConfig

// Config configures Run.
type Config struct {
	// Profile is the profile whose gateway this is, in its HERMES_HOME.
	// Required.
	Profile profiles.Ref
	// Replace takes the pid lock over from a live gateway of this PID
	// namespace (see LockPID).
	Replace bool
	// Stdout receives the banner; Stderr the log when Logger is nil. nil
	// discards.
	Stdout, Stderr io.Writer
	// Env is the process environment (HERMES_GATEWAY_HOST); the zero value
	// means the real one.
	Env hostenv.Env
	// Logger receives lifecycle messages; nil means text lines on Stderr.
	Logger *slog.Logger

	// observe, when set (by tests), is called with every state recorded.
	observe func(state string)
}

// settings is what Run takes from the profile's files.
type settings struct {
	host     string
	port     int
	drain    time.Duration
	sessions profiles.SessionsConfig
}

func (s settings) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// loadSettings reads the gateway and sessions sections of profile's
// configuration.
func loadSettings(r profiles.Ref, env hostenv.Env) (settings, error) {
	s := settings{drain: DefaultDrainTimeout}
	c, err := profiles.LoadConfig(profiles.ConfigPath(r))
	if err != nil {
		return s, err
	}
	g, err := c.Gateway()
	if err != nil {
		return s, err
	}
	s.drain = g.DrainTimeout
	if s.sessions, err = c.Sessions(); err != nil {
		return s, err
	}
	// A profile registered without a port (one made on the host, beside a
	// bind-mounted volume) gets the next free one now, written by the
	// gateway itself, as the hermes uid, under the profiles lock: the
	// supervisor that registered it runs as root and must not write the
	// profile's files.
	if s.port, err = profiles.EnsurePort(r); err != nil {
		return s, err
	}
	if s.host, err = profiles.Host(r, env); err != nil {
		return s, err
	}
	return s, nil
}

// Run runs profile's gateway in the foreground until ctx is done; the
// package doc states its contract. It returns nil after an intended stop,
// an error wrapping ErrConfig when the configuration cannot work, an error
// wrapping ErrRunning when another gateway holds the pid lock, and another
// error when it cannot start or serve.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Env.Getenv == nil {
		cfg.Env = hostenv.OS()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(cfg.Stderr, nil))
	}
	ref, p := cfg.Profile, cfg.Profile.Name()
	if ref.IsZero() {
		return fmt.Errorf("%w: no profile", ErrConfig)
	}
	if err := CheckFiles(ref); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !ref.IsDefault() && !profiles.Exists(ref) {
		return fmt.Errorf("%w: no such profile %q (it has no SOUL.md): create it with hermes profile create %s", ErrConfig, p, p)
	}
	dir := ref.Dir()
	set, cfgErr := loadSettings(ref, cfg.Env)

	lock, err := lockPID(dir, cfg.Replace, set.drain)
	if err != nil {
		return err
	}
	defer lock.Release()

	g := &gw{cfg: cfg, dir: dir, log: log, pid: os.Getpid(), start: time.Now()}
	if err := g.recordCtx(ctx, StateStarting, ""); err != nil && ctx.Err() != nil {
		// Stopped while it waited to record starting (the state file's
		// lock held by another process): a TERM ends that wait at once,
		// nothing was recorded, and there is nothing to drain.
		log.Info("gateway stopped before it started", "profile", p)
		return lock.Release()
	}
	if cfgErr != nil {
		g.record(StateStartupFailed, "configuration: "+cfgErr.Error())
		return fmt.Errorf("%w: %w", ErrConfig, cfgErr)
	}
	if g.token, err = metrics.LoadToken(cfg.Env.Getenv); err != nil {
		g.record(StateStartupFailed, err.Error())
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g.newMetrics()
	fmt.Fprintf(cfg.Stdout, "⚕ Hermes Gateway Starting — profile %s on %s\n", p, set.addr())

	// The sessions store and the agent. A state.db that is not ours (one
	// the reference left on the volume) is refused, never altered: that is
	// a configuration error for the operator, not a restart loop.
	store, err := sessions.Open(filepath.Join(dir, profiles.FileSessions), sessions.Options{
		Logger: log, IdleTimeout: set.sessions.IdleTimeout, MaxBytes: set.sessions.MaxBytes,
	})
	if err != nil {
		g.record(StateStartupFailed, "sessions store: "+err.Error())
		var se *sessions.SchemaError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return fmt.Errorf("gateway %s: sessions store: %w", p, err)
	}
	defer store.Close()
	ag, err := agent.New(agent.Config{Profile: p, Dir: dir, Home: ref.Home(), Store: store, Env: cfg.Env.Getenv, Logger: log, Routes: g.routes(), Observe: g.observe})
	if err != nil {
		g.record(StateStartupFailed, "agent: "+err.Error())
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g.ag, g.store = ag, store

	ln, err := net.Listen("tcp", set.addr())
	if err != nil {
		g.record(StateStartupFailed, "listening on "+set.addr()+": "+err.Error())
		return fmt.Errorf("gateway %s: listening on %s: %w", p, set.addr(), err)
	}
	srv := &http.Server{
		Handler:           ag.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// At most netcap.TCP connections per client address and in all: one
	// client cannot take the gateway's descriptors from the others.
	caps := netcap.New(netcap.Config{Limits: netcap.TCP, OnRefuse: netcap.LogRefusals(log, "gateway "+p)})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(caps.Wrap(ln)) }()
	// The store ends idle sessions (sessions.idle_timeout) until the
	// gateway stops; it returns once ctx is done.
	swept := make(chan error, 1)
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer func() { stopSweep(); <-swept }()
	go func() { swept <- store.Run(sweepCtx) }()
	g.record(StateRunning, "")
	log.Info("gateway running", "profile", p, "addr", ln.Addr().String(), "pid", g.pid)

	select {
	case err := <-served:
		g.record(StateStopped, "serving: "+err.Error())
		return fmt.Errorf("gateway %s: serving on %s: %w", p, set.addr(), err)
	case <-ctx.Done():
	}

	// Draining: new requests get 503 from the agent while the streams in
	// flight finish, within drain_timeout.
	ag.Drain()
	g.record(StateDraining, "")
	log.Info("gateway draining", "profile", p, "drain_timeout", set.drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), set.drain)
	defer cancel()
	reason := "stopped on request"
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		reason = fmt.Sprintf("stopped on request; requests still running after drain_timeout %s were cut off", set.drain)
	}
	<-served // http.ErrServerClosed
	// The chat turns answered and queued for the store are written before
	// the gateway says it stopped (Close would write them too, later).
	if err := store.Flush(sctx); err != nil {
		log.Error("gateway: writing the queued turns", "profile", p, "err", err)
	}
	g.record(StateStopped, reason)
	log.Info("gateway stopped", "profile", p)
	return lock.Release()
}

// gw is one run of a gateway.
type gw struct {
	cfg   Config
	dir   string
	log   *slog.Logger
	pid   int
	start time.Time
	state atomic.Value // string: the last state recorded
	// The agent, whose table serves the gateway's routes too, and the
	// sessions store (serve.go).
	ag    *agent.Agent
	store *sessions.Store
	// The metrics (metrics.go): the series fed by the access log, their
	// handler, and the metrics token /metrics accepts beside the key.
	obs     *metrics.Gateway
	metrics http.Handler
	token   metrics.Token
}

// record sets the gateway's state in memory and in the state file. A state
// file that cannot be written is logged, never fatal: the gateway serves
// regardless.
func (g *gw) record(state, reason string) {
	g.recordCtx(context.Background(), state, reason)
}

// recordCtx is record whose wait for the state file's lock ctx ends; it
// returns the write's error.
func (g *gw) recordCtx(ctx context.Context, state, reason string) error {
	g.state.Store(state)
	err := updateRuntime(ctx, g.dir, func(r *Runtime) {
		r.State, r.PID, r.StartTime, r.ExitReason = state, g.pid, g.start, reason
	})
	if err != nil && ctx.Err() == nil {
		g.log.Warn("gateway: cannot record its state", "state", state, "err", err)
	}
	if g.cfg.observe != nil {
		g.cfg.observe(state)
	}
	return err
}

func (g *gw) current() string {
	s, _ := g.state.Load().(string)
	return s
}
