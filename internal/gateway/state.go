package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// StateFile is the name of the state file in a profile's directory.
const StateFile = profiles.FileGatewayState

// The values of desired_state.
const (
	DesiredRunning = "running"
	DesiredStopped = "stopped"
)

// The values of gateway_state that this gateway writes (the reference also
// wrote "degraded").
const (
	StateStarting      = "starting"
	StateRunning       = "running"
	StateDraining      = "draining"
	StateStopped       = "stopped"
	StateStartupFailed = "startup_failed"
)

// The keys of the state file, by writer.
const (
	keyDesiredState     = "desired_state"
	keyDesiredUpdatedAt = "desired_updated_at"
	keyGatewayState     = "gateway_state"
	keyPID              = "pid"
	keyStartTime        = "start_time"
	keyUpdatedAt        = "updated_at"
	keyExitReason       = "exit_reason"
)

// maxStateBytes bounds what ReadState and the writers read: a larger file
// is corrupt.
const maxStateBytes = 1 << 20

// lockTimeout bounds how long the gateway's own writer waits for the state
// file's lock; root's writer waits as its caller says (safefs.RootWait).
const lockTimeout = 10 * time.Second

// ErrCorrupt is wrapped when the state file exists but cannot be read or is
// not a JSON object with the expected types. Callers treat it as a missing
// state, never as fatal.
var ErrCorrupt = errors.New("gateway state file is unreadable or corrupt")

// bom is the UTF-8 byte order mark that some editors put first.
var bom = []byte{0xEF, 0xBB, 0xBF}

// State is the content of gateway_state.json as read by ReadState. Times
// are kept as they were written (RFC 3339 here; a number of seconds since
// the epoch in the reference's files is turned into RFC 3339).
type State struct {
	// GatewayState is the gateway's own state: starting, running,
	// draining, stopped, startup_failed (the reference also wrote
	// degraded).
	GatewayState string
	// DesiredState is what an operator last asked: running or stopped.
	DesiredState string
	// ExitReason says why the gateway stopped or failed to start.
	ExitReason string
	// PID is the gateway process's pid (in its own PID namespace).
	PID int
	// StartTime, UpdatedAt and DesiredUpdatedAt are timestamps.
	StartTime, UpdatedAt, DesiredUpdatedAt string
	// Raw is every key of the file, known or not, as it was.
	Raw map[string]json.RawMessage
}

// Recorded returns the state the reconciler acts on: desired_state when
// set, else gateway_state. A gateway is started at boot iff it is
// "running".
func (s State) Recorded() string {
	if s.DesiredState != "" {
		return s.DesiredState
	}
	return s.GatewayState
}

// ReadState reads dir/gateway_state.json without a lock. A missing file is
// an error wrapping fs.ErrNotExist; a file that is not a regular file, not
// readable, larger than 1 MiB, not a JSON object, or whose known keys have
// the wrong types is an error wrapping ErrCorrupt. The final component is
// never followed if it is a symlink, and a FIFO never blocks the reader.
func ReadState(dir string) (State, error) {
	path := filepath.Join(dir, StateFile)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	defer f.Close()
	b, err := readRegular(f)
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	st, err := parseState(b)
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return st, nil
}

// ReadProfileState is ReadState of the directory of profile under home. As
// root (the boot's reconciler, a CLI command kept as root) that directory is
// reached through safefs, so that a symlink the hermes uid planted below
// home (profiles/, profiles/<name>, the state file itself) is never
// followed, and the state file must be a regular file with one link. Such a
// refusal is an error wrapping ErrCorrupt and the safefs error
// (safefs.ErrSymlink, ErrHardLink, ErrNotRegular); a missing profile
// directory or file wraps fs.ErrNotExist.
func ReadProfileState(r profiles.Ref) (State, error) {
	if os.Geteuid() != 0 {
		return ReadState(r.Dir())
	}
	d, err := openProfileDir(r)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("reading the state of %s: %w", r.Name(), err)
	}
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, filepath.Join(r.Dir(), StateFile), err)
	}
	defer d.Close()
	path := filepath.Join(d.Path(), StateFile)
	f, err := d.OpenFile(StateFile, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if err == nil {
		defer f.Close()
		err = safefs.CheckOpen(f)
	}
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	b, err := readRegular(f)
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	st, err := parseState(b)
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return st, nil
}

// readRegular reads an open file that must be a regular file of at most
// maxStateBytes, from its start.
func readRegular(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, maxStateBytes+1), maxStateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxStateBytes)
	}
	return b, nil
}

// parseObject decodes a JSON object (after an optional BOM) into its keys.
func parseObject(b []byte) (map[string]json.RawMessage, error) {
	b = bytes.TrimPrefix(b, bom)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errors.New("not a JSON object: null")
	}
	return m, nil
}

// parseState decodes the content of a state file.
func parseState(b []byte) (State, error) {
	m, err := parseObject(b)
	if err != nil {
		return State{}, err
	}
	return stateFrom(m)
}

// stateFrom decodes the known keys of a state file's object.
func stateFrom(m map[string]json.RawMessage) (State, error) {
	st := State{Raw: m}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{keyGatewayState, &st.GatewayState},
		{keyDesiredState, &st.DesiredState},
		{keyExitReason, &st.ExitReason},
	} {
		if err := decodeString(m, f.key, f.dst); err != nil {
			return State{}, err
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{keyStartTime, &st.StartTime},
		{keyUpdatedAt, &st.UpdatedAt},
		{keyDesiredUpdatedAt, &st.DesiredUpdatedAt},
	} {
		if err := decodeTime(m, f.key, f.dst); err != nil {
			return State{}, err
		}
	}
	if raw, ok := m[keyPID]; ok && !isNull(raw) {
		var v int64
		if err := json.Unmarshal(raw, &v); err != nil || v < 0 || v > math.MaxInt32 {
			return State{}, fmt.Errorf("%s: want a process id, got %s", keyPID, short(raw))
		}
		st.PID = int(v)
	}
	return st, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// decodeString sets *dst from a string key; absent and null leave it empty.
func decodeString(m map[string]json.RawMessage, key string, dst *string) error {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: want a string, got %s", key, short(raw))
	}
	return nil
}

// decodeTime sets *dst from a time key: a string as it is, or a number of
// seconds since the epoch (the reference's desired-state writer) as RFC
// 3339.
func decodeTime(m map[string]json.RawMessage, key string, dst *string) error {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil
	}
	if json.Unmarshal(raw, dst) == nil {
		return nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil || math.IsNaN(secs) || math.Abs(secs) > 1e11 {
		return fmt.Errorf("%s: want a time, got %s", key, short(raw))
	}
	sec, frac := math.Modf(secs)
	*dst = time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339Nano)
	return nil
}

// short quotes a raw value for a message, cut to 40 bytes.
func short(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

// timestamp formats t for the state file.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Runtime is what the gateway process writes to the state file.
type Runtime struct {
	// State is gateway_state.
	State string
	// PID is the gateway's pid.
	PID int
	// StartTime is when the gateway started.
	StartTime time.Time
	// UpdatedAt is when this state was recorded; UpdateRuntime sets it to
	// now before calling fn.
	UpdatedAt time.Time
	// ExitReason says why the gateway stopped or failed; "" removes the
	// key.
	ExitReason string
}

// UpdateRuntime is the gateway process's writer of the state file: under
// the file's lock it reads the runtime keys (gateway_state, pid,
// start_time, updated_at, exit_reason) into a Runtime, calls fn, and writes
// them back, keeping every other key. It runs as the owner of the profile
// (the hermes uid), through a plain safefs.Dir that does not follow a
// symlink at the state file. fn may be called more than once if another writer
// replaces the file meanwhile.
func UpdateRuntime(dir string, fn func(*Runtime)) error {
	return updateRuntime(context.Background(), dir, fn)
}

// updateRuntime is UpdateRuntime whose wait for the lock ctx also ends.
func updateRuntime(ctx context.Context, dir string, fn func(*Runtime)) error {
	d, err := safefs.OpenPlain(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return update(ctx, d, safefs.Keep, safefs.Wait{Max: lockTimeout}, func(m map[string]json.RawMessage) error {
		applyRuntime(m, fn)
		return nil
	})
}

// applyRuntime is UpdateRuntime's change to the file's keys m.
func applyRuntime(m map[string]json.RawMessage, fn func(*Runtime)) {
	var r Runtime
	st, _ := stateFrom(m)
	r.State, r.PID, r.ExitReason = st.GatewayState, st.PID, st.ExitReason
	r.StartTime, _ = time.Parse(time.RFC3339Nano, st.StartTime)
	r.UpdatedAt = time.Now()
	fn(&r)
	set(m, keyGatewayState, r.State)
	set(m, keyPID, r.PID)
	if r.StartTime.IsZero() {
		delete(m, keyStartTime)
	} else {
		set(m, keyStartTime, timestamp(r.StartTime))
	}
	set(m, keyUpdatedAt, timestamp(r.UpdatedAt))
	if r.ExitReason == "" {
		delete(m, keyExitReason)
	} else {
		set(m, keyExitReason, r.ExitReason)
	}
}

// Desired is one record of RecordDesired.
type Desired struct {
	// Profile is the profile whose state file it is.
	Profile profiles.Ref
	// State is DesiredRunning or DesiredStopped; At is when it was wanted.
	State string
	At    time.Time
	// Owner owns the state file when root writes it (the hermes ids).
	Owner safefs.Owner
	// Wait bounds the wait for the file's lock, which a hermes process may
	// hold: root waits safefs.RootWait within the boot's budget. A lock
	// held past it is an error wrapping safefs.ErrLocked, and nothing is
	// written (never without the lock).
	Wait safefs.Wait
}

// RecordDesired is the supervisor's writer of the state file: it records
// d.State ("running" or "stopped") and desired_updated_at = d.At in the
// state file of d.Profile, keeping every other key. It runs as
// root under a tree that the hermes uid can write, so every file operation
// goes through safefs from home (the trusted base, which may itself be a
// symlink): no symlink below it is followed, a symlink at the state file is
// refused with an error wrapping safefs.ErrSymlink, a file with more than
// one link or that is not a regular file with one wrapping
// safefs.ErrHardLink or safefs.ErrNotRegular, and the file ends owned by
// d.Owner with mode 0644. ctx ends a wait for the lock at once.
func RecordDesired(ctx context.Context, d Desired) error {
	profile, desired, owner, now := d.Profile.Name(), d.State, d.Owner, d.At
	if desired != DesiredRunning && desired != DesiredStopped {
		return fmt.Errorf("desired state %q: want %q or %q", desired, DesiredRunning, DesiredStopped)
	}
	dir, err := openProfileDir(d.Profile)
	if err != nil {
		return fmt.Errorf("recording the desired state of %s: %w", profile, err)
	}
	defer dir.Close()
	err = update(ctx, dir, owner, d.Wait, func(m map[string]json.RawMessage) error {
		set(m, keyDesiredState, desired)
		set(m, keyDesiredUpdatedAt, timestamp(now))
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording the desired state of %s: %w", profile, err)
	}
	return nil
}

// set stores v as JSON under key.
func set(m map[string]json.RawMessage, key string, v any) {
	m[key] = mustJSON(v)
}

// mustJSON encodes a value that always encodes (a string, an int).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gateway: encoding %T: %v", v, err))
	}
	return b
}

// update is the read-modify-write protocol shared by both writers (see the
// package doc) on the state file of the profile directory d: lock the file,
// make sure the locked inode is still the path's, read, modify, replace,
// unlock. d is root's strict view (what it creates goes to owner; only a
// regular file with one link is read and replaced) or the gateway's plain
// one.
func update(ctx context.Context, d *safefs.Dir, owner safefs.Owner, wait safefs.Wait, modify func(map[string]json.RawMessage) error) error {
	limit := wait.Max
	if limit <= 0 {
		limit = lockTimeout
	}
	deadline := time.Now().Add(limit)
	for {
		// Opened for locking, created empty if missing, never through a
		// symlink at the state file, never blocking on a FIFO.
		f, err := d.OpenFile(StateFile, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, stateMode, owner)
		if err != nil {
			return err
		}
		done, err := updateLocked(ctx, d, owner, f, wait, modify)
		f.Close() // releases the lock
		if done || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: replaced by other writers for %s; giving up", statePath(d), limit)
		}
	}
}

// stateMode is the mode of the state file.
const stateMode = profiles.StateMode

// statePath names the state file of d in messages.
func statePath(d *safefs.Dir) string { return filepath.Join(d.Path(), StateFile) }

// updateLocked does one attempt of update on the open file f. done is
// false when another writer replaced the file before f was locked.
func updateLocked(ctx context.Context, d *safefs.Dir, owner safefs.Owner, f *os.File, wait safefs.Wait, modify func(map[string]json.RawMessage) error) (done bool, err error) {
	path := statePath(d)
	var fst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		return false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if d.Strict() {
		// Root reads and replaces what it locked: never a file with a
		// second name elsewhere, nor a device or FIFO.
		if err := safefs.CheckRegular(path, &fst); err != nil {
			return false, err
		}
	}
	if err := safefs.Lock(ctx, f, safefs.Exclusive, wait); err != nil {
		return false, err
	}
	pst, err := d.Lstat(StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed after we opened it: start over
	}
	if err != nil {
		return false, err
	}
	if pst.Dev != fst.Dev || pst.Ino != fst.Ino {
		return false, nil // replaced after we opened it: start over
	}
	m := map[string]json.RawMessage{}
	if b, err := readRegular(f); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	} else if len(bytes.TrimSpace(bytes.TrimPrefix(b, bom))) > 0 {
		if old, err := parseObject(b); err == nil {
			m = old
		} // a corrupt file is replaced: there is nothing in it to keep
	}
	if err := modify(m); err != nil {
		return false, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, fmt.Errorf("%s: encoding: %w", path, err)
	}
	return true, d.WriteFileAtomic(StateFile, append(data, '\n'), stateMode, owner)
}
