package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// RotateBytes is the size at which the boot log is rotated before a pass
// appends to it.
const RotateBytes = 256 << 10

// logDir is the logs directory as the boot log's writer sees it: safefs as
// root, plain calls otherwise.
type logDir interface {
	// open opens name for appending, creating it (0644, owned as set up).
	open(name string) (*os.File, error)
	lstat(name string) (unix.Stat_t, error)
	rename(oldName, newName string) error
	remove(name string) error
	// strict is true for root: a file that is not a regular file with one
	// link is replaced, never written into.
	strict() bool
	close()
}

// appendBootLog appends data to home/logs/container-boot.log, rotating it
// first when it has reached RotateBytes.
func appendBootLog(ctx context.Context, home string, owner safefs.Owner, wait safefs.Wait, data []byte) error {
	d, err := openLogDir(home, owner)
	if err != nil {
		return err
	}
	defer d.close()
	name := filepath.Base(BootLog)
	var rotateErr error
	for range 4 {
		f, err := d.open(name)
		if err != nil {
			// As root, a symlink, FIFO or socket planted at the name is
			// replaced (its target is never opened).
			if st, lerr := d.lstat(name); d.strict() && lerr == nil && st.Mode&unix.S_IFMT != unix.S_IFREG && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				if rerr := d.remove(name); rerr == nil {
					continue
				}
			}
			return err
		}
		again, err := appendLocked(ctx, d, f, name, wait, data, &rotateErr)
		f.Close()
		if !again {
			if err == nil {
				err = rotateErr
			}
			return err
		}
	}
	return errors.New("the boot log keeps being replaced while hermes appends to it")
}

// appendLocked appends to the open boot log under its flock, waiting for
// it as wait allows; again is true when the caller must open the file
// afresh (it was rotated or replaced). A lock that another process holds
// past the wait is an error wrapping safefs.ErrLocked, and nothing is
// written.
func appendLocked(ctx context.Context, d logDir, f *os.File, name string, wait safefs.Wait, data []byte, rotateErr *error) (again bool, err error) {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if d.strict() && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1) {
		// Not ours to write into: another name of a hard link may be a
		// file outside HERMES_HOME. The name is replaced instead.
		return true, d.remove(name)
	}
	err = safefs.Lock(ctx, f, safefs.Exclusive, wait)
	if errors.Is(err, safefs.ErrLocked) || ctx.Err() != nil {
		return false, err
	}
	// A filesystem without flock still gets its lines.
	if locked := err == nil; locked {
		defer safefs.Unlock(f)
		cur, err := d.lstat(name)
		if err != nil || cur.Ino != st.Ino || cur.Dev != st.Dev {
			return true, nil // rotated by another pass meanwhile
		}
		if err := unix.Fstat(fd, &st); err != nil {
			return false, err
		}
	}
	if st.Size >= RotateBytes && *rotateErr == nil {
		if err := d.rename(name, name+".1"); err != nil {
			*rotateErr = fmt.Errorf("rotating: %w", err)
		} else {
			return true, nil
		}
	}
	if _, err := f.Write(data); err != nil {
		return false, err
	}
	return false, nil
}

func openLogDir(home string, owner safefs.Owner) (logDir, error) {
	if os.Geteuid() != 0 {
		dir := filepath.Join(home, filepath.Dir(BootLog))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return plainLogDir(dir), nil
	}
	base, err := safefs.OpenBase(home)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	d, err := base.MkdirAll(filepath.Dir(BootLog), 0o755, owner)
	if err != nil {
		return nil, err
	}
	return safeLogDir{d: d, owner: owner}, nil
}

type safeLogDir struct {
	d     *safefs.Dir
	owner safefs.Owner
}

func (s safeLogDir) open(name string) (*os.File, error) {
	return s.d.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_NONBLOCK, 0o644, s.owner)
}
func (s safeLogDir) lstat(name string) (unix.Stat_t, error) { return s.d.Lstat(name) }
func (s safeLogDir) rename(o, n string) error               { return s.d.Rename(o, n) }
func (s safeLogDir) remove(name string) error               { return s.d.Remove(name) }
func (s safeLogDir) strict() bool                           { return true }
func (s safeLogDir) close()                                 { s.d.Close() }

type plainLogDir string

func (p plainLogDir) path(name string) string { return filepath.Join(string(p), name) }
func (p plainLogDir) open(name string) (*os.File, error) {
	return os.OpenFile(p.path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}
func (p plainLogDir) lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Stat(p.path(name), &st) // the user's own files: a symlink is followed
	if err != nil {
		return st, &os.PathError{Op: "stat", Path: p.path(name), Err: err}
	}
	return st, nil
}
func (p plainLogDir) rename(o, n string) error { return os.Rename(p.path(o), p.path(n)) }
func (p plainLogDir) remove(name string) error { return os.Remove(p.path(name)) }
func (p plainLogDir) strict() bool             { return false }
func (p plainLogDir) close()                   {}
