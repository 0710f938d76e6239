package profiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// tree is HERMES_HOME as this process touches it. As the hermes uid (or a
// host user in their own home) plain file calls are used: the files are its
// own, and a host user may link parts of a home on purpose. As root (a
// command kept as root with HERMES_DOCKER_EXEC_AS_ROOT, or init's
// reconciler) the tree is the hermes uid's to change at any moment, so
// every operation below home goes through safefs: no symlink below home is
// followed (a planted one is an error wrapping safefs.ErrSymlink), a file
// root reads or writes in place must be a regular file with one link
// (safefs.ErrHardLink, safefs.ErrNotRegular), and what root creates keeps
// root's ownership, as CONTRACT §6 says of HERMES_DOCKER_EXEC_AS_ROOT.
type tree struct {
	home string
	root bool
}

func treeOf(home string) tree { return tree{home: home, root: os.Geteuid() == 0} }

// parent opens the directory of path (below home) through safefs and
// returns it with path's last name: as root a strict Dir reached from
// home, otherwise a plain one.
func (t tree) parent(path string) (*safefs.Dir, string, error) {
	if !t.root {
		dir, name := filepath.Split(path)
		if dir == "" {
			dir = "."
		}
		d, err := safefs.OpenPlain(dir)
		return d, name, err
	}
	dir, name, err := safefs.Split(t.home, path)
	if err != nil {
		return nil, "", err
	}
	d, err := safefs.OpenDir(t.home, dir)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// maxFileBytes bounds what root reads of a profile's file.
const maxFileBytes = 1 << 20

// readFile reads path: as root a regular file with one link, reached
// without a symlink, of at most 1 MiB.
func (t tree) readFile(path string) ([]byte, error) {
	if !t.root {
		return os.ReadFile(path)
	}
	d, name, err := t.parent(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, err := d.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := safefs.CheckOpen(f); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err == nil && len(b) > maxFileBytes {
		err = fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	return b, err
}

// exists reports whether path exists (a symlink counts, unfollowed); as
// root, a symlink on the way to it is an error.
func (t tree) exists(path string) (bool, error) {
	if !t.root {
		_, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	d, name, err := t.parent(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer d.Close()
	_, err = d.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// isDir reports whether path is a directory (not a symlink to one).
func (t tree) isDir(path string) bool {
	if !t.root {
		fi, err := os.Lstat(path)
		return err == nil && fi.IsDir()
	}
	d, name, err := t.parent(path)
	if err != nil {
		return false
	}
	defer d.Close()
	st, err := d.Lstat(name)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// dirNames lists the entries of the directory path that are directories
// themselves (never a symlink to one). A missing directory wraps
// fs.ErrNotExist.
func (t tree) dirNames(path string) ([]string, error) {
	if !t.root {
		entries, err := os.ReadDir(path)
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		return names, err
	}
	dir, err := filepath.Rel(t.home, path)
	if err != nil {
		return nil, err
	}
	d, err := safefs.OpenDir(t.home, dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	all, err := d.Names()
	var names []string
	for _, n := range all {
		if st, err := d.Lstat(n); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			names = append(names, n)
		}
	}
	return names, err
}

// mkdir creates the directory path with mode (regardless of the umask);
// an existing one wraps fs.ErrExist.
func (t tree) mkdir(path string, mode os.FileMode) error {
	if !t.root {
		if err := os.Mkdir(path, mode); err != nil {
			return err
		}
		return os.Chmod(path, mode)
	}
	d, name, err := t.parent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Mkdir(name, mode, safefs.Keep)
}

// remove removes the file, symlink or empty directory path.
func (t tree) remove(path string) error {
	if !t.root {
		return os.Remove(path)
	}
	d, name, err := t.parent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.RemoveDir(name)
}

// removeAll removes path and everything below it, never following a
// symlink.
func (t tree) removeAll(path string) error {
	if !t.root {
		return removeTree(path)
	}
	d, name, err := t.parent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.RemoveAll(name)
}

// openFile opens path with flag (O_NOFOLLOW is always added) and, when it
// creates it, mode (as root regardless of the umask).
func (t tree) openFile(path string, flag int, mode os.FileMode) (*os.File, error) {
	if !t.root {
		return os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	}
	d, name, err := t.parent(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, err := d.OpenFile(name, flag, mode, safefs.Keep)
	if err != nil {
		return nil, err
	}
	if err := safefs.CheckOpen(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// writeNew creates path with data and mode, failing if it exists (it never
// clobbers a file, nor follows a symlink there). A partly written file is
// removed.
func (t tree) writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := t.openFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with data and mode (see WriteFileAtomic):
// safefs.WriteFileAtomic in the Dir of path's parent (strict as root,
// plain otherwise), then an fsync of that directory. A permission error
// names the directory's owner and mode (dirError).
func (t tree) writeAtomic(path string, data []byte, mode os.FileMode) error {
	return t.writeAtomicAs(path, data, mode, safefs.Keep)
}

// writeAtomicAs is writeAtomic with the new file given to own (root only:
// a plain Dir never chowns; safefs.Keep keeps the writer's ownership).
func (t tree) writeAtomicAs(path string, data []byte, mode os.FileMode, own safefs.Owner) error {
	d, name, err := t.parent(path)
	if err == nil {
		defer d.Close()
		err = d.WriteFileAtomic(name, data, mode, own)
	}
	if err != nil {
		return dirError(path, filepath.Dir(path), err)
	}
	_ = unix.Fsync(d.Fd())
	return nil
}

// ReadFile reads the file path below home as the profiles' own reads do:
// as root through safefs (no symlink below home followed, a regular file
// with one link, at most 1 MiB), else with a plain read. The agent's
// auth.json writer uses it.
func ReadFile(home, path string) ([]byte, error) { return treeOf(home).readFile(path) }

// OpenFile opens path below home with flag (O_NOFOLLOW always added) and,
// when it creates it, mode: as root through safefs, keeping root's
// ownership. It is for the lock files of a profile's writers.
func OpenFile(home, path string, flag int, mode os.FileMode) (*os.File, error) {
	return treeOf(home).openFile(path, flag, mode)
}

// loadConfig is LoadConfig; as root the file is read through safefs.
func (t tree) loadConfig(path string) (*Config, error) {
	if !t.root {
		return LoadConfig(path)
	}
	data, err := t.readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		c, _ := ParseConfig(nil)
		c.path = path
		return c, nil
	}
	if err != nil {
		return nil, fileError(path, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.path = path
	return c, nil
}

// readEnv is ReadEnv; as root the file is read through safefs.
func (t tree) readEnv(path string) (map[string]string, error) {
	if !t.root {
		return ReadEnv(path)
	}
	data, err := t.readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return map[string]string{}, fileError(path, err)
	}
	m, err := ParseEnv(data)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
