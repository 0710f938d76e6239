package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// RotateBytes is the size at which the boot log is rotated before a pass
// appends to it.
const RotateBytes = 256 << 10

// appendBootLog appends data to home/logs/container-boot.log, rotating it
// first when it has reached RotateBytes.
func appendBootLog(ctx context.Context, home string, owner safefs.Owner, wait safefs.Wait, data []byte) error {
	d, err := openLogDir(home, owner)
	if err != nil {
		return err
	}
	defer d.Close()
	name := filepath.Base(BootLog)
	var rotateErr error
	for range 4 {
		f, err := d.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_NONBLOCK, profiles.StateMode, owner)
		if err != nil {
			// As root, a symlink, FIFO or socket planted at the name is
			// replaced (its target is never opened).
			if st, lerr := d.Lstat(name); d.Strict() && lerr == nil && st.Mode&unix.S_IFMT != unix.S_IFREG && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				if rerr := d.Remove(name); rerr == nil {
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
func appendLocked(ctx context.Context, d *safefs.Dir, f *os.File, name string, wait safefs.Wait, data []byte, rotateErr *error) (again bool, err error) {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if d.Strict() && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1) {
		// Not ours to write into: another name of a hard link may be a
		// file outside HERMES_HOME. The name is replaced instead.
		return true, d.Remove(name)
	}
	err = safefs.Lock(ctx, f, safefs.Exclusive, wait)
	if errors.Is(err, safefs.ErrLocked) || ctx.Err() != nil {
		return false, err
	}
	// A filesystem without flock still gets its lines.
	if locked := err == nil; locked {
		defer safefs.Unlock(f)
		cur, err := d.Stat(name)
		if err != nil || cur.Ino != st.Ino || cur.Dev != st.Dev {
			return true, nil // rotated by another pass meanwhile
		}
		if err := unix.Fstat(fd, &st); err != nil {
			return false, err
		}
	}
	if st.Size >= RotateBytes && *rotateErr == nil {
		if err := d.Rename(name, name+".1"); err != nil {
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

// openLogDir opens (creating it 0755 when missing) the directory of the
// boot log: as root strictly, what it creates given to owner; otherwise
// plainly, as the process's own files (a symlink there is followed).
func openLogDir(home string, owner safefs.Owner) (*safefs.Dir, error) {
	open := safefs.OpenBase
	if os.Geteuid() != 0 {
		open = safefs.OpenPlain
	}
	base, err := open(home)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	return base.MkdirAll(filepath.Dir(BootLog), profiles.DirMode, owner)
}
