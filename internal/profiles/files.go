package profiles

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// WithLock runs fn holding the exclusive flock on home/profiles/.lock
// (created with mode 0600 when missing, with profiles/ itself). Create,
// Delete, EnsurePort and every caller of AllocatePort hold it, so that two
// of them (in any process) never hand out the same port. As root neither
// profiles/ nor the lock is reached through a symlink.
func WithLock(home string, fn func() error) error {
	t := treeOf(home)
	dir := filepath.Join(home, DirProfiles)
	if err := os.MkdirAll(home, DirMode); err != nil {
		return fmt.Errorf("creating %s: %w", home, err)
	}
	if err := t.mkdir(dir, DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(home, FileProfilesLock)
	f, err := t.openFile(path, os.O_RDWR|os.O_CREATE, LockMode)
	if err != nil {
		return fmt.Errorf("opening the profiles lock %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm() != LockMode {
		if err := f.Chmod(LockMode); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	if err := safefs.Lock(context.Background(), f, safefs.Exclusive, lockWait()); err != nil {
		return fmt.Errorf("locking %s: %w", path, err)
	}
	defer safefs.Unlock(f)
	return fn()
}

// rootCommandWait bounds the wait of a command run as root for a lock the
// hermes uid can hold: a few concurrent commands take their turns, a
// holder that never lets go costs 10 s and an error naming it.
const rootCommandWait = 10 * time.Second

// lockWait is how long a lock of a profile's files is waited for: as long
// as it takes as the hermes uid (the holders are hermes commands, which
// finish), rootCommandWait as root.
func lockWait() safefs.Wait {
	if os.Geteuid() == 0 {
		return safefs.Wait{Max: rootCommandWait}
	}
	return safefs.Wait{Max: safefs.Forever}
}

// WriteFileAtomic replaces path with data and mode: a temporary file in the
// same directory, chmod (the umask does not matter), fsync, rename, fsync of
// the directory. A reader sees the old or the new content, never a mix; a
// failure leaves the old file as it was. A symlink at path is replaced,
// never followed. path must be below home: as root the temporary file and
// the rename are done through safefs, so that no symlink below home is
// followed (an error wrapping safefs.ErrSymlink), and the file keeps
// root's ownership.
func WriteFileAtomic(home, path string, data []byte, mode os.FileMode) error {
	return treeOf(home).writeAtomic(path, data, mode)
}

// WriteConfig writes c to path (below home) atomically (temporary file and
// rename in the same directory, as WriteFileAtomic) with mode 0640,
// creating the file if missing.
func WriteConfig(home, path string, c *Config) error {
	b, err := c.Bytes()
	if err != nil {
		return err
	}
	return WriteFileAtomic(home, path, b, ConfigMode)
}

// setConfigKey sets one key of the config.yaml at path and writes it back.
func setConfigKey(home, path, key, value string) error {
	c, err := treeOf(home).loadConfig(path)
	if err != nil {
		return err
	}
	if err := c.Set(key, value); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteConfig(home, path, c)
}

// dirError explains a failure to create a file in dir; for a permission
// error it names the directory's owner and mode, and who is asking.
func dirError(path, dir string, err error) error {
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	owner := ""
	if fi, serr := os.Stat(dir); serr == nil {
		owner = ownerString(fi)
	}
	return fmt.Errorf("cannot write %s: the directory %s (%s) is not writable by uid %d: %w; chown or chmod it",
		path, filepath.Clean(dir), owner, os.Getuid(), fs.ErrPermission)
}

// ownerString describes a file's owner and mode for messages.
func ownerString(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("owner uid %d gid %d, mode %04o", st.Uid, st.Gid, fi.Mode().Perm())
	}
	return fmt.Sprintf("mode %04o", fi.Mode().Perm())
}
