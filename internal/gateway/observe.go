package gateway

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// StateUnknown is the State of a gateway whose state file cannot be read,
// or records a state this hermes does not know.
const StateUnknown = "unknown"

// stateDegraded was written by the reference's gateways.
const stateDegraded = "degraded"

// Observation is what can be known of one profile's gateway: its state
// file, its pid lock and, when the caller has it, its supervisor's view;
// State is what they say together (see Observe). Every reader of a
// gateway's state (the dashboard, hermes gateway status, dump, doctor, the
// reconciler) reads it through Observe.
type Observation struct {
	Profile string
	// Dir is the profile's directory.
	Dir string
	// File is gateway_state.json as it was read (HasFile); zero when
	// there is none or FileErr is set.
	File    State
	HasFile bool
	// FileErr says why the state file could not be read: it wraps
	// ErrCorrupt (and, as root, the safefs refusal). nil when the file was
	// read or is missing.
	FileErr error
	// Lock is LockHeld, LockFree or LockUnknown.
	Lock string
	// Service is the supervisor's view of gateway-<profile>; nil when the
	// caller has none (no supervisor, no slot, or it did not ask).
	Service *supervise.Status
	// State is the gateway's state: starting, running, draining, stopped,
	// startup_failed, degraded (the reference's) or StateUnknown.
	State string
	// Running is State == "running".
	Running bool
	// PID is the file's pid, and 0 when the lock is free (no process is
	// the gateway, whatever the file says).
	PID int
}

// Recorded is the state the boot reconciler acts on: desired_state when
// set, else gateway_state, and "" when none is recorded or the file cannot
// be read.
func (o Observation) Recorded() string { return o.File.Recorded() }

// Observe observes the gateway of profile under home, with service as the
// supervisor's view of gateway-<profile> (nil when the caller has none).
// The pid lock decides whether a gateway process is alive, because a
// gateway killed with SIGKILL, or left behind by a restarted container,
// never records that it stopped, while the kernel releases its flock; the
// state file says which state a live gateway is in, or why a dead one
// ended:
//
//   - lock held: the recorded state when it is a live one (starting,
//     running, draining, degraded), else "starting" (a gateway takes the
//     lock before it records anything);
//   - lock free: a recorded live state is stale and is "stopped"; stopped
//     and startup_failed are as recorded; no file is "stopped";
//   - lock unknown (the pid file cannot be opened): as recorded, and
//     "unknown" when nothing is.
//
// A state file that cannot be read, or records a state this hermes does
// not know, is "unknown": nothing a hermes-writable file holds reaches a
// reader unchecked. The supervisor's view never changes State: it sees the
// processes of its own container only, while the lock and the file are the
// same in every container on the volume; it is carried beside State to
// explain it (wanted state, restarts, last exit).
//
// As root, the profile's directory and both files are reached through
// safefs: no symlink below home is followed (a refusal is a FileErr, and
// an unknown lock).
func Observe(r profiles.Ref, service *supervise.Status) Observation {
	o := Observation{Profile: r.Name(), Dir: r.Dir(), Service: service}
	o.Lock = lockState(r)
	st, err := ReadProfileState(r)
	switch {
	case err == nil:
		o.File, o.HasFile = st, true
	case errors.Is(err, fs.ErrNotExist):
	default:
		o.FileErr = err
	}
	recorded := o.File.GatewayState
	if o.FileErr != nil || recorded != "" && !knownState(recorded) {
		recorded = StateUnknown
	}
	o.PID = o.File.PID
	switch o.Lock {
	case LockHeld:
		o.State = StateStarting
		if liveState(recorded) {
			o.State = recorded
		}
	case LockFree:
		o.State = recorded
		if recorded == "" || liveState(recorded) {
			o.State = StateStopped
		}
		o.PID = 0
	default:
		o.State = recorded
		if o.State == "" {
			o.State = StateUnknown
		}
	}
	o.Running = o.State == StateRunning
	return o
}

// knownState reports whether a gateway_state value is shown as it is; any
// other is StateUnknown.
func knownState(st string) bool {
	switch st {
	case StateStopped, StateStartupFailed:
		return true
	}
	return liveState(st)
}

// liveState reports whether only a live gateway process can be in state st.
func liveState(st string) bool {
	switch st {
	case StateStarting, StateRunning, StateDraining, stateDegraded:
		return true
	}
	return false
}

// lockState is LockState of the profile's directory; as root the pid file
// is opened through safefs from home, so that a symlinked profile
// directory never makes root lock a file elsewhere.
func lockState(r profiles.Ref) string {
	if os.Geteuid() != 0 {
		return LockState(r.Dir())
	}
	d, err := openProfileDir(r)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return LockFree
	case err != nil:
		return LockUnknown
	}
	defer d.Close()
	f, err := d.OpenFile(PIDFile, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, safefs.ErrSymlink):
		return LockFree
	case err != nil:
		return LockUnknown
	}
	defer f.Close()
	return probeLock(f)
}
