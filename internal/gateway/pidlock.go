package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// PIDFile is the name of the pid lock in a profile's directory.
const PIDFile = profiles.FilePID

// ProcessesFile is the reference's per-profile process table, stale after
// a restart of the container; SweepStale removes it with a stale pid file.
const ProcessesFile = profiles.FileProcesses

// DefaultDrainTimeout is gateway.drain_timeout when config.yaml does not
// set it (CONTRACT §5: below the service's 6 s stop_grace).
const DefaultDrainTimeout = profiles.DefaultDrainTimeout

// ErrRunning is wrapped by LockPID when a live gateway holds the lock.
var ErrRunning = errors.New("the gateway is already running")

// PIDInfo is the content of gateway.pid.
type PIDInfo struct {
	// PID is the holder's pid in its own PID namespace.
	PID int `json:"pid"`
	// Host is the holder's host name (the container's id in Docker).
	Host string `json:"host"`
	// StartTime is when the holder took the lock (RFC 3339).
	StartTime string `json:"start_time"`
	// ProcStart is the holder's start time in clock ticks since boot
	// (field 22 of /proc/<pid>/stat), which tells a live holder from a
	// process that happens to reuse its pid.
	ProcStart uint64 `json:"proc_start,omitempty"`
	// DrainTimeout is how long the holder takes to drain on SIGTERM (a Go
	// duration), which --replace waits before SIGKILL.
	DrainTimeout string `json:"drain_timeout,omitempty"`
}

// PIDLock is a held gateway.pid. Release it when the gateway ends; the
// kernel releases it anyway when the process dies.
type PIDLock struct {
	f    *os.File
	path string
}

// Path returns the lock file's path.
func (l *PIDLock) Path() string { return l.path }

// Release removes gateway.pid (when it is still the locked file) and
// releases the lock. A second Release is a no-op.
func (l *PIDLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	var fst, pst unix.Stat_t
	var err error
	if unix.Fstat(int(l.f.Fd()), &fst) == nil && unix.Lstat(l.path, &pst) == nil && fst.Dev == pst.Dev && fst.Ino == pst.Ino {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// LockPID takes dir/gateway.pid for the calling process (see the package
// doc). A free lock is taken whatever the file says. A held one is an
// error wrapping ErrRunning that names the holder's pid and host, unless
// replace is set: then a holder verified to be a gateway in this PID
// namespace is sent SIGTERM, given its drain time (plus a second) to let
// go, and killed; a holder that cannot be verified (another container on
// the same volume) is never signalled, and LockPID fails saying so.
func LockPID(dir string, replace bool) (*PIDLock, error) {
	return lockPID(dir, replace, DefaultDrainTimeout)
}

// lockPID is LockPID with the drain time to record for a later --replace.
func lockPID(dir string, replace bool, drain time.Duration) (*PIDLock, error) {
	path := filepath.Join(dir, PIDFile)
	signalled := false
	var deadline, killAt time.Time
	// Contention lasts a moment when a sweeper or a stopping gateway holds
	// the lock; grace covers that before the holder is reported.
	grace := time.Now().Add(500 * time.Millisecond)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, profiles.StateMode)
		if err != nil {
			return nil, fmt.Errorf("opening the pid lock: %w", err)
		}
		locked, err := safefs.TryLock(f, safefs.Exclusive)
		if locked {
			if !samePath(f, path) {
				f.Close() // removed or replaced after we opened it
				continue
			}
			l := &PIDLock{f: f, path: path}
			if err := l.write(drain); err != nil {
				l.Release()
				return nil, err
			}
			return l, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		info, _ := readPIDInfo(f)
		f.Close()
		now := time.Now()
		switch {
		case now.Before(grace) && !signalled:
		case !replace:
			return nil, fmt.Errorf("%w: %s is held by %s; stop it first (hermes gateway stop), or pass --replace", ErrRunning, path, describeHolder(info))
		case !signalled:
			if err := verifyHolder(info, path); err != nil {
				return nil, fmt.Errorf("%w: %s is held by %s, which is not a gateway process of this container (%v): another container on the same volume runs this gateway; stop it there", ErrRunning, path, describeHolder(info), err)
			}
			if err := unix.Kill(info.PID, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
				return nil, fmt.Errorf("%w: %s is held by %s, which cannot be stopped: %v", ErrRunning, path, describeHolder(info), err)
			}
			signalled = true
			killAt = now.Add(holderDrain(info) + time.Second)
			deadline = killAt.Add(3 * time.Second)
		case now.After(deadline):
			return nil, fmt.Errorf("%w: %s is still held by %s after SIGTERM and SIGKILL", ErrRunning, path, describeHolder(info))
		case now.After(killAt) && info.PID > 0:
			// Kill only the process that was verified and sent SIGTERM.
			if verifyHolder(info, path) == nil {
				unix.Kill(info.PID, unix.SIGKILL)
			}
			killAt = deadline
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// samePath reports whether the open file f is still the file at path.
func samePath(f *os.File, path string) bool {
	var fst, pst unix.Stat_t
	if unix.Fstat(int(f.Fd()), &fst) != nil || unix.Lstat(path, &pst) != nil {
		return false
	}
	return fst.Dev == pst.Dev && fst.Ino == pst.Ino
}

// write records the calling process in the locked file.
func (l *PIDLock) write(drain time.Duration) error {
	host, _ := os.Hostname()
	info := PIDInfo{
		PID: os.Getpid(), Host: host, StartTime: timestamp(time.Now()),
		DrainTimeout: drain.String(),
	}
	info.ProcStart, _ = procStart(info.PID)
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	fd := int(l.f.Fd())
	if err := unix.Ftruncate(fd, 0); err != nil {
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	if err := l.f.Chmod(profiles.StateMode); err != nil {
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	return nil
}

// readPIDInfo reads a pid file: JSON {"pid", "host", ...} or, as the
// reference also wrote, a bare number.
func readPIDInfo(f *os.File) (PIDInfo, error) {
	var info PIDInfo
	b, err := readRegular(f)
	if err != nil {
		return info, err
	}
	b = bytes.TrimSpace(bytes.TrimPrefix(b, bom))
	if n, err := strconv.Atoi(string(b)); err == nil && n > 0 {
		info.PID = n
		return info, nil
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return PIDInfo{}, fmt.Errorf("not a pid file: %v", err)
	}
	return info, nil
}

// describeHolder names a holder for a message.
func describeHolder(info PIDInfo) string {
	if info.PID <= 0 {
		return "a process that has not recorded its pid"
	}
	s := "pid " + strconv.Itoa(info.PID)
	if info.Host != "" {
		s += " on host " + info.Host
	}
	return s
}

// holderDrain is the drain time the holder recorded, within reason.
func holderDrain(info PIDInfo) time.Duration {
	d, err := time.ParseDuration(info.DrainTimeout)
	if err != nil || d <= 0 {
		return DefaultDrainTimeout
	}
	return min(d, time.Minute)
}

// verifyHolder checks that the holder recorded in info is a live gateway
// process of this PID namespace that holds the lock at path: its pid
// exists here, its start time is the recorded one, its command line is a
// hermes gateway, and (when the kernel shows it) it holds a flock on the
// file. A process in another container is not visible, or is another
// process with the same pid: it fails one of these checks.
func verifyHolder(info PIDInfo, path string) error {
	if info.PID <= 0 {
		return errors.New("the pid file names no pid")
	}
	if info.PID == os.Getpid() {
		return errors.New("the pid file names this very process")
	}
	start, err := procStart(info.PID)
	if err != nil {
		return fmt.Errorf("no process %d here", info.PID)
	}
	if info.ProcStart == 0 || start != info.ProcStart {
		return fmt.Errorf("process %d here started at another time", info.PID)
	}
	if !isGatewayCmdline(info.PID) {
		return fmt.Errorf("process %d here is not a hermes gateway", info.PID)
	}
	if f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
		holders, ok := safefs.LockHolders(f)
		f.Close()
		if ok && !slices.Contains(holders, info.PID) {
			return fmt.Errorf("process %d here does not hold the lock", info.PID)
		}
	}
	return nil
}

// procStart returns field 22 (starttime) of /proc/<pid>/stat.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain
	// anything; the fields after the last ')' start at field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	const starttime = 22 - 3
	if len(fields) <= starttime {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(fields[starttime], 10, 64)
}

// isGatewayCmdline reports whether the process's arguments contain
// "gateway" followed later by "run": hermes [-p P] gateway run ...
func isGatewayCmdline(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i, a := range args {
		if a == "gateway" {
			for _, b := range args[i+1:] {
				if b == "run" {
					return true
				}
			}
		}
	}
	return false
}

// SweepStale removes dir/gateway.pid and dir/processes.json when no live
// process holds gateway.pid's lock, and the temporary files that killed
// writers of gateway_state.json, config.yaml, .env and auth.json left
// behind (older than this process), and returns the paths it removed. It
// is the boot reconciler's, which runs as root: every operation goes
// through safefs from home (no symlink below it is followed; a symlink at
// either name is removed, never its target), and the lock is taken (and
// held while removing) to tell a live holder from a stale file.
func SweepStale(r profiles.Ref) ([]string, error) {
	profile := r.Name()
	d, err := openProfileDir(r)
	if err != nil {
		return nil, fmt.Errorf("sweeping the pid file of %s: %w", profile, err)
	}
	defer d.Close()
	f, err := d.OpenFile(PIDFile, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f = nil // no pid file: processes.json alone is stale
	case errors.Is(err, safefs.ErrSymlink):
		f = nil // a symlink is nobody's lock
	case err != nil:
		return nil, fmt.Errorf("sweeping the pid file of %s: %w", profile, err)
	}
	if f != nil {
		defer f.Close()
		locked, err := safefs.TryLock(f, safefs.Exclusive)
		if err != nil {
			return nil, fmt.Errorf("sweeping %s: locking: %w", filepath.Join(d.Path(), PIDFile), err)
		}
		if !locked {
			return nil, nil // a live gateway holds it
		}
	}
	var removed []string
	for _, name := range []string{PIDFile, ProcessesFile} {
		if _, err := d.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := d.Remove(name); err != nil {
			return removed, fmt.Errorf("sweeping the stale files of %s: %w", profile, err)
		}
		removed = append(removed, filepath.Join(d.Path(), name))
	}
	// The temporaries that an interrupted write of the profile's managed
	// files left (a kill between the write and its rename): older than
	// this process, so that no writer of this boot owns them, and no
	// gateway holds the lock.
	names, err := d.Names()
	if err != nil {
		return removed, fmt.Errorf("sweeping the stale files of %s: %w", profile, err)
	}
	for _, name := range names {
		if !slices.ContainsFunc(sweptTemps, func(f string) bool { return strings.HasPrefix(name, safefs.TempPrefix(f)) }) {
			continue
		}
		st, err := d.Lstat(name)
		if err != nil || !time.Unix(st.Mtim.Unix()).Before(processStart) {
			continue
		}
		if err := d.Remove(name); err != nil {
			return removed, fmt.Errorf("sweeping the stale files of %s: %w", profile, err)
		}
		removed = append(removed, filepath.Join(d.Path(), name))
	}
	return removed, nil
}

// sweptTemps are the files of a profile whose interrupted writes' temporaries
// the boot removes.
var sweptTemps = []string{StateFile, profiles.FileConfig, profiles.FileEnv, profiles.FileAuth}

// processStart is when this process began: a temporary file older than it
// belongs to no writer of this process.
var processStart = time.Now()

// CheckFiles is for a gateway (or a reader of its sessions) that runs as
// root (HERMES_DOCKER_EXEC_AS_ROOT): those open the profile's files by
// path, so it refuses, before anything is opened, a profile directory
// reached through a symlink below home, and a file of the profile that is a
// symlink, a hard link or a special file, with an error that names it and
// wraps the safefs error. Not root, it checks nothing: the files are the
// process's own.
func CheckFiles(r profiles.Ref) error {
	if os.Geteuid() != 0 {
		return nil
	}
	d, err := openProfileDir(r)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	// The files of a profile that a gateway (and the sessions reader) open
	// by path.
	for _, e := range profiles.Layout(profiles.Opened) {
		if e.Scope != profiles.PerProfile {
			continue
		}
		name := e.Path
		st, err := d.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		path := filepath.Join(d.Path(), name)
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &os.PathError{Op: "open", Path: path, Err: safefs.ErrSymlink}
		}
		if err := safefs.CheckRegular(path, &st); err != nil {
			return err
		}
	}
	return nil
}

// openProfileDir opens the directory of profile r under its home through
// safefs; the zero Ref has none (fs.ErrNotExist).
func openProfileDir(r profiles.Ref) (*safefs.Dir, error) {
	if r.IsZero() {
		return nil, fmt.Errorf("no profile: %w", fs.ErrNotExist)
	}
	base, err := safefs.OpenBase(r.Home())
	if err != nil {
		return nil, err
	}
	defer base.Close()
	rel, err := filepath.Rel(r.Home(), r.Dir())
	if err != nil {
		return nil, err
	}
	return base.Sub(rel)
}

// The answers of LockState.
const (
	LockHeld    = "held"    // a live gateway holds gateway.pid
	LockFree    = "free"    // nobody holds it (or there is no pid file)
	LockUnknown = "unknown" // it could not be told (the file cannot be opened)
)

// LockState tells whether a process holds dir/gateway.pid's flock, by
// trying a shared lock without waiting and letting it go at once. A flock
// is released by the kernel when its holder dies, so this is true of a
// live gateway in any container on the same volume, whatever the file
// says. The probe holds the lock for a moment only: a gateway taking the
// lock then retries (LockPID waits out short contention). A missing file,
// a symlink or anything but a regular file is nobody's lock.
func LockState(dir string) string {
	f, err := os.OpenFile(filepath.Join(dir, PIDFile), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ELOOP):
		return LockFree
	case err != nil:
		return LockUnknown
	}
	defer f.Close()
	return probeLock(f)
}

// probeLock is LockState's probe of the open pid file f.
func probeLock(f *os.File) string {
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return LockFree
	}
	locked, err := safefs.TryLock(f, safefs.Shared)
	switch {
	case err != nil:
		return LockUnknown
	case !locked:
		return LockHeld
	}
	safefs.Unlock(f)
	return LockFree
}
