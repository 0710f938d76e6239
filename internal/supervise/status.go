// The states, the Status a service shows, and the supervisor's errors.

package supervise

import (
	"errors"
	"time"

	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/procstat"
)

// State is the current state of a service.
type State string

// The states of CONTRACT §4.
const (
	Starting State = "starting" // a start is in progress
	Running  State = "running"  // the process is alive
	Stopping State = "stopping" // the stop signal was sent; waiting for the exit
	Stopped  State = "stopped"  // no process, and none is due
	Backoff  State = "backoff"  // no process; a restart is scheduled
	Failed   State = "failed"   // no process; not restarted until started again
)

// Want is the wanted state of a service.
type Want string

// Wanted states.
const (
	WantUp   Want = "up"
	WantDown Want = "down"
)

// Exit is how a process ended: Code is set for a normal exit, Signal (a
// name such as "SIGKILL") for a death by signal.
type Exit struct {
	Code   *int   `json:"code"`
	Signal string `json:"signal"`
}

// Status is the wire shape of a service's status (CONTRACT §4).
type Status struct {
	Name     string           `json:"name"`
	Want     Want             `json:"want"`
	State    State            `json:"state"`
	PID      int              `json:"pid"`
	Since    time.Time        `json:"since"`
	Restarts int              `json:"restarts"`
	LastExit *Exit            `json:"last_exit"`
	Reason   string           `json:"reason"`
	Logs     logpipe.Counters `json:"logs"`
	// NextStart is when a service in backoff will be started again.
	NextStart *time.Time `json:"next_start,omitempty"`
	// User is the uid the service runs as (for authorisation and display).
	UID int `json:"uid"`
	// Resources is what its process group costs now (procstat, from
	// /proc), filled by the control API's reads; nil when no process runs
	// and in the supervisor's own answers.
	Resources *procstat.Usage `json:"resources,omitempty"`
	// Saved is true for a service whose spec is kept in HERMES_HOME's
	// services.d and so survives a restart (Spec.Saved).
	Saved bool `json:"saved,omitempty"`
}

// Errors of the supervisor; the control API maps them to HTTP statuses.
var (
	ErrNotFound   = errors.New("no such service")
	ErrInvalid    = errors.New("invalid service spec")
	ErrClosed     = errors.New("supervisor is shutting down")
	ErrNotRunning = errors.New("service is not running")
	// ErrOwner is wrapped when an operation made under ExpectUID finds the
	// service running as another uid.
	ErrOwner = errors.New("service belongs to another user")
)
