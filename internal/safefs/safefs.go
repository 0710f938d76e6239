// Package safefs is the one helper through which root writes, renames,
// removes and chowns below a directory that a less privileged user can
// write (CONTRACT §4: HERMES_HOME is owned by the hermes uid). Below the
// base directory of such a strict Dir no symbolic link is ever followed:
// every path component is opened with openat(O_NOFOLLOW|O_DIRECTORY) from
// its parent's descriptor, files are opened with O_NOFOLLOW, and ownership
// changes use AT_SYMLINK_NOFOLLOW. A symlink planted anywhere below the base
// makes the operation fail with an error wrapping ErrSymlink instead of
// acting on the link's target.
//
// The base itself is opened normally: an operator may point HERMES_HOME at a
// symlink, and that choice is not an attack.
//
// The same methods serve a process that works on files of its own uid (the
// gateway as the hermes uid, a host user in their own home): OpenPlain
// opens a plain Dir, on which the calls behave as that process's own
// system calls would. Symlinks are followed (on the way to the Dir, below
// it, and at a name unless the flags say O_NOFOLLOW), nothing is chowned
// (the files are the caller's), and Strict is false, so that a caller
// skips the regular-file checks root needs. The fd-relative code, the
// modes set regardless of the umask and the atomic write are the same in
// both modes.
//
// Lock is the one place in hermes that takes a flock(2): it never blocks in
// the kernel, so a wait is bounded (Wait.Max, and a Budget shared by the
// waits of one boot: RootLockWait and BootLockBudget for root on a file the
// hermes uid can write) and ends at once when its context is done; a lock
// held past the wait is a *LockedError naming the file and, from
// /proc/locks, the pid holding it. A Refusal is root declining to touch a
// managed file (a symlink, a hard link, a device) or skipping a write on a
// held lock, as the one line that the boot prints and counts.
package safefs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSymlink is wrapped when a path component below the base is a symbolic
// link.
var ErrSymlink = errors.New("refusing to follow a symbolic link")

// ErrEscape is wrapped when a relative path is absolute or climbs with "..".
var ErrEscape = errors.New("path leaves its base directory")

// Owner is a uid/gid pair for files and directories that safefs creates. A
// negative id leaves that id unchanged (as with chown(2)).
type Owner struct{ UID, GID int }

// Keep is the Owner that changes nothing.
var Keep = Owner{-1, -1}

func (o Owner) keep() bool { return o.UID < 0 && o.GID < 0 }

// Dir is an open directory. Its methods take single names or relative paths;
// a strict Dir (OpenBase, OpenDir) never follows a symlink below it, a plain
// one (OpenPlain) acts as its caller's own system calls would. A Dir must
// be closed.
type Dir struct {
	fd    int
	path  string
	plain bool
}

// OpenBase opens path, which may itself be (or pass through) a symlink, as
// the trusted base of later operations: a strict Dir.
func OpenBase(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{fd: fd, path: filepath.Clean(path)}, nil
}

// OpenPlain opens the directory path as a plain Dir (see the package doc):
// for a process working on files of its own uid, through the same methods.
func OpenPlain(path string) (*Dir, error) {
	d, err := OpenBase(path)
	if err != nil {
		return nil, err
	}
	d.plain = true
	return d, nil
}

// Strict reports whether d is root's view of a tree another user can
// write (OpenBase, OpenDir): no symlink below it is followed, and a caller
// reads and writes in place only a regular file with one link
// (CheckRegular). It is false for a plain Dir.
func (d *Dir) Strict() bool { return !d.plain }

// nofollow is O_NOFOLLOW for a strict Dir, nothing for a plain one.
func (d *Dir) nofollow() int {
	if d.plain {
		return 0
	}
	return unix.O_NOFOLLOW
}

// chowns reports whether d gives what it creates to own.
func (d *Dir) chowns(own Owner) bool { return !d.plain && !own.keep() }

// Path returns the directory's path as it was reached (for messages).
func (d *Dir) Path() string { return d.path }

// Fd returns the directory's descriptor, valid until Close.
func (d *Dir) Fd() int { return d.fd }

// Close releases the directory descriptor. A second Close is a no-op.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Inside reports whether the clean absolute path p is base or below it,
// component-wise (/opt/data2 is not inside /opt/data). It reads no file:
// a symlink on the way is not resolved. A relative p or base is inside
// nothing.
func Inside(p, base string) bool {
	p, base = filepath.Clean(p), filepath.Clean(base)
	if !filepath.IsAbs(p) || !filepath.IsAbs(base) {
		return false
	}
	if base == "/" || p == base {
		return true
	}
	return strings.HasPrefix(p, base+"/")
}

// split validates rel and returns its components.
func split(rel string) ([]string, error) {
	rel = filepath.ToSlash(rel)
	if strings.HasPrefix(rel, "/") {
		return nil, fmt.Errorf("%q: %w", rel, ErrEscape)
	}
	var parts []string
	for _, p := range strings.Split(rel, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("%q: %w", rel, ErrEscape)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// wrap turns ELOOP/ENOTDIR from an O_NOFOLLOW open into ErrSymlink when the
// entry is indeed a symlink.
func (d *Dir) wrap(op, name string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &os.PathError{Op: op, Path: filepath.Join(d.path, name), Err: ErrSymlink}
		}
	}
	return &os.PathError{Op: op, Path: filepath.Join(d.path, name), Err: err}
}

func (d *Dir) openDir(name string) (*Dir, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|d.nofollow()|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, d.wrap("open", name, err)
	}
	return &Dir{fd: fd, path: filepath.Join(d.path, name), plain: d.plain}, nil
}

// Sub opens the directory rel below d (in a strict Dir without following
// symlinks). rel "" or "." returns a new handle on d itself.
func (d *Dir) Sub(rel string) (*Dir, error) {
	return d.walk(rel, false, 0, Keep)
}

// MkdirAll opens rel below d, creating missing directories with perm
// (regardless of the umask) and, in a strict Dir, giving each directory it
// creates to own. Existing directories are left as they are. A strict Dir
// follows no symlink.
func (d *Dir) MkdirAll(rel string, perm os.FileMode, own Owner) (*Dir, error) {
	return d.walk(rel, true, perm, own)
}

func (d *Dir) walk(rel string, create bool, perm os.FileMode, own Owner) (*Dir, error) {
	parts, err := split(rel)
	if err != nil {
		return nil, err
	}
	cur, err := d.openDir(".")
	if err != nil {
		return nil, err
	}
	cur.path = d.path
	for _, p := range parts {
		next, err := cur.openDir(p)
		if create && errors.Is(err, unix.ENOENT) {
			merr := unix.Mkdirat(cur.fd, p, uint32(perm.Perm()))
			if afterMkdir != nil && merr == nil {
				afterMkdir(cur.fd, p)
			}
			if merr != nil && !errors.Is(merr, unix.EEXIST) {
				cur.Close()
				return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(cur.path, p), Err: merr}
			}
			next, err = cur.openDir(p)
			if merr == nil && err == nil {
				// mkdir(2) applies the umask: set the mode we were asked for,
				// and the owner, on the directory just opened (never
				// following a name another process may have swapped for a
				// symlink since the mkdir).
				if cerr := next.setNew(perm, own, d.chowns(own)); cerr != nil {
					next.Close()
					cur.Close()
					return nil, cerr
				}
			}
		}
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// afterMkdir, when set (tests), is called by MkdirAll right after each
// directory it creates, before it opens it: where another process could
// swap the new name for a symlink.
var afterMkdir func(dirfd int, name string)

// setNew gives the directory d, just created, its mode and, when chown,
// its owner.
func (d *Dir) setNew(perm os.FileMode, own Owner, chown bool) error {
	if err := unix.Fchmod(d.fd, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "chmod", Path: d.path, Err: err}
	}
	if chown {
		if err := unix.Fchown(d.fd, own.UID, own.GID); err != nil {
			return &os.PathError{Op: "chown", Path: d.path, Err: err}
		}
	}
	return nil
}

// OpenFile opens the single name in d with flag (O_CLOEXEC is always
// added, and in a strict Dir O_NOFOLLOW). When the call creates the file,
// its mode is set to perm regardless of the umask and, in a strict Dir, it
// is given to own.
func (d *Dir) OpenFile(name string, flag int, perm os.FileMode, own Owner) (*os.File, error) {
	if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("%q: %w", name, ErrEscape)
	}
	flag |= d.nofollow() | unix.O_CLOEXEC
	created := false
	fd, err := -1, error(nil)
	if flag&os.O_CREATE != 0 && flag&os.O_EXCL == 0 {
		// Find out whether this call creates the file, so that only new
		// files are chowned.
		fd, err = unix.Openat(d.fd, name, flag|unix.O_CREAT|unix.O_EXCL, uint32(perm.Perm()))
		if err == nil {
			created = true
		} else if errors.Is(err, unix.EEXIST) {
			fd, err = unix.Openat(d.fd, name, flag&^os.O_CREATE, 0)
		}
	} else {
		fd, err = unix.Openat(d.fd, name, flag, uint32(perm.Perm()))
		created = err == nil && flag&os.O_CREATE != 0
	}
	if err != nil {
		return nil, d.wrap("open", name, err)
	}
	if created {
		if err := unix.Fchmod(fd, uint32(perm.Perm())); err == nil && d.chowns(own) {
			err = unix.Fchown(fd, own.UID, own.GID)
			if err != nil {
				unix.Close(fd)
				return nil, &os.PathError{Op: "chown", Path: filepath.Join(d.path, name), Err: err}
			}
		}
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), nil
}

// ReadFile reads the single name in d (a strict Dir refuses a symlink).
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.OpenFile(name, os.O_RDONLY, 0, Keep)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFileAtomic is the one atomic writer of hermes: it replaces name with
// data by writing a temporary file of its own in d (mode perm regardless of
// the umask; in a strict Dir given to own), fsyncing it and renaming it
// over name. Readers see the old or the new content, never a mix; a
// failure removes the temporary file and leaves name as it was; a symlink
// at name is replaced, never followed, in either mode. The directory is
// not fsynced: a caller that needs the rename itself durable fsyncs d.
func (d *Dir) WriteFileAtomic(name string, data []byte, perm os.FileMode, own Owner) error {
	f, tmp, err := d.createTemp(name, perm, own)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = d.Rename(tmp, name)
	}
	if werr != nil {
		_ = unix.Unlinkat(d.fd, tmp, 0)
	}
	return werr
}

// TempPrefix is how the names of WriteFileAtomic's temporary files for
// name begin: a write interrupted by a kill leaves one behind, which only
// its file's owner can tell stale (gateway.SweepStale).
func TempPrefix(name string) string { return "." + name + ".tmp." }

// createTemp creates a new file beside name, ".<name>.tmp.<pid>.<random>"
// (O_EXCL, so that two writers never share one), with perm and own.
func (d *Dir) createTemp(name string, perm os.FileMode, own Owner) (*os.File, string, error) {
	for try := 0; ; try++ {
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, "", err
		}
		tmp := fmt.Sprintf("%s%d.%s", TempPrefix(name), os.Getpid(), hex.EncodeToString(r[:]))
		f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm, own)
		if errors.Is(err, unix.EEXIST) && try < 10 {
			continue
		}
		return f, tmp, err
	}
}

// Rename renames oldName to newName, both single names in d. The entries
// themselves are renamed, whatever they are; nothing is followed.
func (d *Dir) Rename(oldName, newName string) error {
	if err := unix.Renameat(d.fd, oldName, d.fd, newName); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(d.path, oldName), New: filepath.Join(d.path, newName), Err: err}
	}
	return nil
}

// Remove unlinks the single name in d (a file or a symlink, never its
// target). A missing name is not an error.
func (d *Dir) Remove(name string) error {
	err := unix.Unlinkat(d.fd, name, 0)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// Lstat describes the single name in d without following it.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &os.PathError{Op: "lstat", Path: filepath.Join(d.path, name), Err: err}
	}
	return st, nil
}

// Stat describes the single name in d as OpenFile reaches it: in a strict
// Dir it is Lstat, in a plain one a symlink at name is followed. It tells
// whether the file open on a descriptor is still the one at name.
func (d *Dir) Stat(name string) (unix.Stat_t, error) {
	if !d.plain {
		return d.Lstat(name)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, 0); err != nil {
		return st, &os.PathError{Op: "stat", Path: filepath.Join(d.path, name), Err: err}
	}
	return st, nil
}

// Chown changes the owner of the single name in d; a symlink itself is
// changed, never its target.
func (d *Dir) Chown(name string, own Owner) error {
	if err := unix.Fchownat(d.fd, name, own.UID, own.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// Names lists the entries of d, unsorted, without "." and "..".
func (d *Dir) Names() ([]string, error) {
	h, err := d.openDir(".")
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(h.fd), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// OpenDir opens base as OpenBase does and then the directory rel below it,
// never following a symlink below base.
func OpenDir(base, rel string) (*Dir, error) {
	b, err := OpenBase(base)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Sub(rel)
}

// Split splits path, which must lie below base (lexically), into the
// directory below base that holds it and its last name, for OpenDir and the
// methods of Dir.
func Split(base, path string) (dir, name string, err error) {
	rel, err := filepath.Rel(filepath.Clean(base), filepath.Clean(path))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", fmt.Errorf("%s is not below %s: %w", path, base, ErrEscape)
	}
	dir, name = filepath.Split(rel)
	return filepath.Clean(dir), name, nil
}

// maxRemoveDepth bounds RemoveAll's descent, so that a hostile tree cannot
// exhaust descriptors.
const maxRemoveDepth = 256

// RemoveAll removes the single name in d and, when it is a directory,
// everything below it. Nothing is followed: a symlink anywhere in the tree
// is removed, never its target, and a directory swapped for a symlink
// while RemoveAll works is not entered. A missing name is not an error.
func (d *Dir) RemoveAll(name string) error {
	return d.removeAll(name, 0)
}

func (d *Dir) removeAll(name string, depth int) error {
	if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return fmt.Errorf("%q: %w", name, ErrEscape)
	}
	err := unix.Unlinkat(d.fd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	if depth >= maxRemoveDepth {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: errors.New("deeper than 256 directories")}
	}
	// Never into a symlink, in either mode: only a directory is descended.
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return d.wrap("open", name, err)
	}
	sub := &Dir{fd: fd, path: filepath.Join(d.path, name), plain: d.plain}
	names, err := sub.Names()
	if err == nil {
		for _, n := range names {
			if err = sub.removeAll(n, depth+1); err != nil {
				break
			}
		}
	}
	sub.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// Chmod changes the mode of the single name in d, which must not be a
// symlink (the mode of a symlink's target is never changed).
func (d *Dir) Chmod(name string, perm os.FileMode) error {
	st, err := d.Lstat(name)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &os.PathError{Op: "chmod", Path: filepath.Join(d.path, name), Err: ErrSymlink}
	}
	// fchmodat(2) has no working AT_SYMLINK_NOFOLLOW on Linux; a symlink
	// swapped in after the lstat is caught by opening the name with
	// O_PATH|O_NOFOLLOW and changing that descriptor's inode through
	// /proc, which never follows it.
	fd, err := unix.Openat(d.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return d.wrap("chmod", name, err)
	}
	defer unix.Close(fd)
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return &os.PathError{Op: "chmod", Path: filepath.Join(d.path, name), Err: err}
	}
	if fst.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &os.PathError{Op: "chmod", Path: filepath.Join(d.path, name), Err: ErrSymlink}
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), uint32(perm.Perm()), 0); err != nil {
		return &os.PathError{Op: "chmod", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// Mkdir creates the directory name in d with perm (regardless of the
// umask), given to own. An existing name is an error wrapping
// fs.ErrExist, whatever it is.
func (d *Dir) Mkdir(name string, perm os.FileMode, own Owner) error {
	if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return fmt.Errorf("%q: %w", name, ErrEscape)
	}
	if err := unix.Mkdirat(d.fd, name, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "mkdir", Path: filepath.Join(d.path, name), Err: err}
	}
	sub, err := d.openDir(name)
	if err != nil {
		return err
	}
	defer sub.Close()
	return sub.setNew(perm, own, d.chowns(own))
}

// RemoveDir removes the single name in d, a file, a symlink or an empty
// directory. A missing name is not an error.
func (d *Dir) RemoveDir(name string) error {
	err := unix.Unlinkat(d.fd, name, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		err = unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}
