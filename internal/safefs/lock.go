package safefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The bounds of root's lock waits on files the hermes uid can write (its
// holder may be another container on the same volume, or a process that
// never lets go): each wait at most RootLockWait, all the waits of one boot
// together at most BootLockBudget. Past them root skips the write.
const (
	RootLockWait   = time.Second
	BootLockBudget = 5 * time.Second
)

// Forever is a Wait.Max that waits until the context is done.
const Forever time.Duration = -1

// ErrLocked is wrapped when another process holds a lock longer than the
// wait allows.
var ErrLocked = errors.New("locked by another process")

// Wait bounds one lock wait. The zero Wait tries once and never waits.
type Wait struct {
	// Max is the longest wait: 0 tries once, Forever waits until the
	// context is done.
	Max time.Duration
	// Budget, when not nil, also bounds the wait by what is left of it,
	// and is charged with the time waited.
	Budget *Budget
}

// RootWait is the Wait of root on a hermes-writable file: RootLockWait,
// within budget (nil: no budget).
func RootWait(budget *Budget) Wait { return Wait{Max: RootLockWait, Budget: budget} }

// Budget is the total lock wait of a series of locks (one boot), shared by
// every Wait that names it. It is safe for concurrent use.
type Budget struct {
	mu      sync.Mutex
	left    time.Duration
	skipped uint64
}

// NewBudget returns a budget of total.
func NewBudget(total time.Duration) *Budget { return &Budget{left: total} }

// Left returns what is left of the budget.
func (b *Budget) Left() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

// Skipped returns how many locks ran out of time under this budget.
func (b *Budget) Skipped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.skipped
}

func (b *Budget) charge(d time.Duration, timedOut bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left = max(b.left-d, 0)
	if timedOut {
		b.skipped++
	}
}

// LockedError is the error of a lock that another process held for the
// whole wait. It wraps ErrLocked.
type LockedError struct {
	// Path names the locked file.
	Path string
	// Holder is the pid that /proc/locks shows holding the lock (in this
	// PID namespace), or 0 when it cannot be told (another container).
	Holder int
	// Waited is how long the lock was waited for.
	Waited time.Duration
}

func (e *LockedError) Error() string {
	who := "another process (not visible here: another container on the volume?)"
	if e.Holder > 0 {
		who = "pid " + strconv.Itoa(e.Holder)
	}
	return fmt.Sprintf("%s is locked by %s; waited %s", e.Path, who, e.Waited.Round(time.Millisecond))
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock modes of Lock.
const (
	Exclusive = unix.LOCK_EX
	Shared    = unix.LOCK_SH
)

// Lock is the one place in hermes that takes a flock(2). It locks f (mode
// Exclusive or Shared) and waits as w allows: it polls without ever
// blocking in the kernel, so that ctx ends the wait at once (with ctx's
// error) and w's bounds are exact. A lock still held by another process
// when the wait is over is a *LockedError naming f and, when /proc/locks
// shows it, the holder's pid. Any other error (a filesystem without
// flock: ENOLCK, EOPNOTSUPP, ...) is returned as it is, wrapped in an
// *os.PathError. The lock lives until Unlock, or until every descriptor of
// f's open file is closed.
func Lock(ctx context.Context, f *os.File, mode int, w Wait) error {
	if ctx == nil {
		ctx = context.Background()
	}
	fd := int(f.Fd())
	start := time.Now()
	limit := w.Max
	if w.Budget != nil {
		left := w.Budget.Left()
		if limit < 0 || left < limit {
			limit = left
		}
	}
	var deadline time.Time
	if limit >= 0 {
		deadline = start.Add(limit)
	}
	pause := time.Millisecond
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		err := unix.Flock(fd, mode|unix.LOCK_NB)
		switch {
		case err == nil:
			if w.Budget != nil {
				w.Budget.charge(time.Since(start), false)
			}
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			waited := now.Sub(start)
			if w.Budget != nil {
				w.Budget.charge(waited, true)
			}
			return &LockedError{Path: f.Name(), Holder: LockHolder(f), Waited: waited}
		}
		if err := ctx.Err(); err != nil {
			if w.Budget != nil {
				w.Budget.charge(now.Sub(start), false)
			}
			return err
		}
		d := pause
		if !deadline.IsZero() {
			d = min(d, deadline.Sub(now))
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		pause = min(2*pause, 25*time.Millisecond)
	}
}

// TryLock is Lock without a wait and without a context: it reports whether
// the lock was taken (false when another process holds it) and any other
// error.
func TryLock(f *os.File, mode int) (bool, error) {
	err := Lock(context.Background(), f, mode, Wait{})
	if errors.Is(err, ErrLocked) {
		return false, nil
	}
	return err == nil, err
}

// Unlock releases a lock taken with Lock.
func Unlock(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return nil
}

// procLocks is the kernel's table of file locks.
const procLocks = "/proc/locks"

// LockHolder returns the pid that holds a flock on f's file, as
// /proc/locks shows it, other than this process; 0 when none is visible
// (the holder is in another PID namespace, or there is no /proc).
func LockHolder(f *os.File) int {
	pids, _ := LockHolders(f)
	for _, p := range pids {
		if p != os.Getpid() {
			return p
		}
	}
	return 0
}

// LockHolders returns the pids that /proc/locks shows holding a flock on
// f's file (waiters are not holders). ok is false when that cannot be told:
// no /proc/locks, or no entry for the file (a holder outside this PID
// namespace shows as pid 0 or not at all).
func LockHolders(f *os.File) (pids []int, ok bool) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return nil, false
	}
	lf, err := os.Open(procLocks)
	if err != nil {
		return nil, false
	}
	defer lf.Close()
	pids = parseLocks(lf, st.Dev, st.Ino)
	return pids, len(pids) > 0
}

// parseLocks returns the pids of the FLOCK entries of a /proc/locks table
// on the file dev/ino.
func parseLocks(r interface{ Read([]byte) (int, error) }, dev, ino uint64) []int {
	var pids []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1427 fe:00:762137 0 EOF"; waiters
		// have "->" after the number and shift the fields by one.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		id := strings.Split(fields[5], ":")
		if len(id) != 3 {
			continue
		}
		n, err := strconv.ParseUint(id[2], 10, 64)
		if err != nil || n != ino {
			continue
		}
		maj, err1 := strconv.ParseUint(id[0], 16, 32)
		mnr, err2 := strconv.ParseUint(id[1], 16, 32)
		if err1 != nil || err2 != nil || uint32(maj) != unix.Major(dev) || uint32(mnr) != unix.Minor(dev) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}
