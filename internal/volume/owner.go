package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// OwnerLockFile is the owner lock of a home, below HERMES_HOME.
const OwnerLockFile = profiles.FileOwnerLock

// ErrNotOwner is wrapped when another process holds the owner lock.
var ErrNotOwner = errors.New("another hermes init owns this HERMES_HOME")

// ErrUnsupported is wrapped when the filesystem of HERMES_HOME does not
// support what the owner needs (flock, or a Unix socket): the caller warns
// and goes on without that feature rather than failing the boot.
var ErrUnsupported = errors.New("not supported by the filesystem of HERMES_HOME")

// UnsupportedError is the error of an operation that the filesystem of
// HERMES_HOME does not support. It wraps ErrUnsupported and the system
// error.
type UnsupportedError struct {
	Op   string // "flock", "listen", ...
	Path string
	Err  error
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s on %s is not supported by its filesystem (%v)", e.Op, e.Path, e.Err)
}

// Unwrap returns ErrUnsupported and the system error.
func (e *UnsupportedError) Unwrap() []error { return []error{ErrUnsupported, e.Err} }

// Unsupported reports whether err is a system error that means "this
// filesystem cannot do that" (ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL), as some
// network and FUSE filesystems answer flock(2) or bind(2) on a Unix socket.
// The wiring uses it for the published control socket too.
func Unsupported(err error) bool {
	if errors.Is(err, ErrUnsupported) {
		return true
	}
	for _, e := range []error{unix.ENOLCK, unix.EOPNOTSUPP, unix.ENOSYS, unix.EINVAL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Owner is a held owner lock. Keep it reachable for as long as the process
// owns the home: the lock lives as long as its descriptor, and the kernel
// releases it when the process dies.
type Owner struct {
	f    *os.File
	path string
}

// Path returns the path of the lock file.
func (o *Owner) Path() string { return o.path }

// Release gives the lock up. The file stays: removing it would let a
// waiter lock a name that a newcomer then creates afresh. Releasing a nil
// or released Owner does nothing.
func (o *Owner) Release() {
	if o == nil || o.f == nil {
		return
	}
	_ = safefs.Unlock(o.f)
	_ = o.f.Close()
	o.f = nil
}

// TryOwn takes the owner lock of home without waiting: an exclusive flock
// on home/run/owner.lock, whose content then says who holds it (pid, host
// name, since when) for the others' messages. It returns an error wrapping
// ErrNotOwner, naming the holder, when another process holds the lock, and
// an *UnsupportedError when the filesystem has no flock. As root, run/ is
// created 0700 and the lock file 0600 through safefs (never following a
// symlink), both owned by the owner of home (which Preflight and Repair
// have made the hermes ids); not root, with plain calls.
func TryOwn(home string) (*Owner, error) {
	path := filepath.Join(home, OwnerLockFile)
	f, err := openOwnerLock(home)
	if err != nil {
		return nil, fmt.Errorf("opening the owner lock %s: %w", path, err)
	}
	if locked, err := safefs.TryLock(f, safefs.Exclusive); !locked {
		defer f.Close()
		if err == nil {
			holder, _ := io.ReadAll(io.LimitReader(f, 512))
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "a process that has not said who it is yet"
			}
			return nil, fmt.Errorf("%w: %s is held by %s", ErrNotOwner, path, who)
		}
		if Unsupported(err) {
			return nil, &UnsupportedError{Op: "flock", Path: path, Err: err}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &Owner{f: f, path: path}, nil
}

// openOwnerLock opens (creating) the lock file, read-write when it can and
// read-only otherwise (a lock needs no write access).
func openOwnerLock(home string) (*os.File, error) {
	if os.Geteuid() != 0 {
		dir := filepath.Join(home, profiles.DirRun)
		if err := os.MkdirAll(dir, runMode); err != nil {
			return nil, err
		}
		p := filepath.Join(home, OwnerLockFile)
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, profiles.LockMode)
		if errors.Is(err, os.ErrPermission) {
			f, err = os.Open(p)
		}
		return f, err
	}
	base, err := safefs.OpenBase(home)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	var st unix.Stat_t
	if err := unix.Fstat(base.Fd(), &st); err != nil {
		return nil, err
	}
	own := safefs.Owner{UID: int(st.Uid), GID: int(st.Gid)}
	run, err := base.MkdirAll(profiles.DirRun, runMode, own)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	name := filepath.Base(OwnerLockFile)
	for range 2 {
		f, err := run.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_NONBLOCK, profiles.LockMode, own)
		if errors.Is(err, safefs.ErrSymlink) {
			// A planted symlink is replaced, its target never opened.
			if err := run.Remove(name); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		var fst unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
			f.Close()
			return nil, err
		}
		if isReg(&fst) && fst.Nlink == 1 {
			return f, nil
		}
		// Root writes who holds the lock into the file: never into
		// something planted there (a FIFO, or a hard link whose other
		// name may be outside HERMES_HOME). Replace the name instead.
		f.Close()
		if err := run.Remove(name); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s keeps being replaced by something that is not a plain file", filepath.Join(run.Path(), name))
}

// WaitOwn takes the owner lock of home, trying again every interval (1 s
// when every <= 0) while another process holds it: a successor takes over
// when the owner goes away. It returns ctx's error when ctx is done first,
// and any error of TryOwn other than ErrNotOwner at once.
func WaitOwn(ctx context.Context, home string, every time.Duration) (*Owner, error) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	return waitOwn(ctx, home, t.C, nil)
}

// waitOwn is WaitOwn with the retries driven by tick; tried, when set, is
// told of every attempt that found the lock held.
func waitOwn(ctx context.Context, home string, tick <-chan time.Time, tried func()) (*Owner, error) {
	for {
		o, err := TryOwn(home)
		if err == nil || !errors.Is(err, ErrNotOwner) {
			return o, err
		}
		if tried != nil {
			tried()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick:
		}
	}
}
