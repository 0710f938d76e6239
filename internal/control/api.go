package control

import (
	"context"
	"syscall"
	"time"

	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// Supervisor is what the server needs of the supervisor;
// *supervise.Supervisor implements it.
type Supervisor interface {
	// List returns the status of every service.
	List() []supervise.Status
	// Status returns one service's status, or an error wrapping
	// supervise.ErrNotFound.
	Status(name string) (supervise.Status, error)
	// Register registers or replaces a service (a running one is restarted
	// with the new spec) and starts it when start is true. spec is as
	// received (not yet normalised); the supervisor normalises it.
	Register(ctx context.Context, spec supervise.Spec, start bool) (supervise.Status, error)
	// Remove stops a service, waits for it and removes it.
	Remove(ctx context.Context, name string) error
	// Start, Stop and Restart return once the change has taken effect.
	Start(ctx context.Context, name string) (supervise.Status, error)
	Stop(ctx context.Context, name string) (supervise.Status, error)
	Restart(ctx context.Context, name string) (supervise.Status, error)
	// Signal sends sig to the service's process group.
	Signal(name string, sig syscall.Signal) error
	// Subscribe returns status changes until ctx is done, then closes the
	// channel. Slow readers lose events rather than block the supervisor.
	Subscribe(ctx context.Context) <-chan supervise.Status
	// Log returns a service's log pipeline.
	Log(name string) (*logpipe.Log, error)
	// Reserved reports whether name belongs to the runtime (the dashboard,
	// the profile gateways): no client registers or removes it through
	// /v1/services.
	Reserved(name string) bool
}

// Gateways is what the gateway routes need: the one place that builds a
// profile's gateway spec and registers or removes it (gateway.Slots
// implements it). The profile name has passed profiles.Validate.
type Gateways interface {
	// ServiceName is the supervisor's name of profile's gateway
	// (gateway.ServiceName).
	ServiceName(profile string) string
	// RegisterGateway registers (or replaces) gateway-<profile> from the
	// canonical spec and starts it when start is true. A profile without
	// SOUL.md is an error wrapping supervise.ErrNotFound.
	RegisterGateway(ctx context.Context, profile string, start bool) (supervise.Status, error)
	// RemoveGateway stops gateway-<profile>, waits for it and removes it;
	// an absent one is an error wrapping supervise.ErrNotFound (or nil).
	RemoveGateway(ctx context.Context, profile string) error
}

// LogReader is what the logs route reads; *logpipe.Log implements it.
type LogReader interface {
	// Tail returns the last n entries.
	Tail(n int) []logpipe.Entry
	// Follow calls fn with the last n entries and then with every new one
	// until ctx is done or fn returns an error.
	Follow(ctx context.Context, n int, fn func(logpipe.Entry) error) error
}

var _ LogReader = (*logpipe.Log)(nil)

// LogOpener is an optional interface of a Supervisor: when implemented, the
// logs route reads OpenLog's LogReader instead of Log's *logpipe.Log (a
// test fake, or a supervisor that proxies another one's logs).
type LogOpener interface {
	OpenLog(name string) (LogReader, error)
}

// Health is the answer of GET /v1/health.
type Health struct {
	// Boot is "starting", "ready" (boot step 5 is done) or "stopping".
	Boot string `json:"boot"`
	// Owner reports whether this init owns HERMES_HOME.
	Owner bool `json:"owner"`
	// PID1 reports whether this init is PID 1.
	PID1 bool `json:"pid1"`
	// Version is the hermes version.
	Version string `json:"version"`
	// Counters are what this init has refused, skipped or limited since it
	// started (CONTRACT §1.8: nothing is lost silently), by snake_case name.
	// The server adds its own connection and request counters to those the
	// Health function returns.
	Counters map[string]uint64 `json:"counters"`
}

// The boot phases of Health.Boot.
const (
	BootStarting = "starting"
	BootReady    = "ready"
	BootStopping = "stopping"
)

// LogLine is the wire shape of one NDJSON line of
// GET /v1/services/{name}/logs.
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"` // "stdout" or "stderr"
	Line   string    `json:"line"`
	// Continued marks a piece of a line longer than the pipeline's limit;
	// it is sent only when set.
	Continued bool `json:"continued,omitempty"`
}

func logLine(e logpipe.Entry) LogLine {
	return LogLine{Time: e.Time.UTC(), Stream: e.Stream.String(), Line: e.Line, Continued: e.Continued}
}

// Counters count the server's answers and connections since it was
// created, so that refused and failed requests are never lost silently
// (CONTRACT §1 rule 8). GET /v1/health carries them as control_<name>.
type Counters struct {
	Requests uint64 `json:"requests"` // every request
	Refused  uint64 `json:"refused"`  // answered 403
	Failed   uint64 `json:"failed"`   // answered 5xx
	// ConnsRefused: connections of peers other than root and the hermes
	// uid, closed after their 403.
	ConnsRefused uint64 `json:"conns_refused"`
	// ConnsOverUIDCap: closed at accept, the peer's uid held
	// MaxConnsPerUID.
	ConnsOverUIDCap uint64 `json:"conns_over_uid_cap"`
	// ConnsOverTotalCap: closed at accept, MaxConns (MaxConns +
	// ReservedConns for root and the hermes uid) were open.
	ConnsOverTotalCap uint64 `json:"conns_over_total_cap"`
	// ConnsHeaderTimeout: closed without a complete request header after
	// HeaderTimeout.
	ConnsHeaderTimeout uint64 `json:"conns_header_timeout"`
	// RefusalsUnlogged: refusals counted but not logged (more than
	// RefusalsLogged in a minute).
	RefusalsUnlogged uint64 `json:"refusals_unlogged"`
}

// counterMap is c as GET /v1/health names it (control_<name>).
func (c Counters) counterMap() map[string]uint64 {
	return map[string]uint64{
		"control_requests":             c.Requests,
		"control_refused":              c.Refused,
		"control_failed":               c.Failed,
		"control_conns_refused":        c.ConnsRefused,
		"control_conns_over_uid_cap":   c.ConnsOverUIDCap,
		"control_conns_over_total_cap": c.ConnsOverTotalCap,
		"control_conns_header_timeout": c.ConnsHeaderTimeout,
		"control_refusals_unlogged":    c.RefusalsUnlogged,
	}
}
