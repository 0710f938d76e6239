package safefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrHardLink is wrapped when a regular file that root would write has
// more than one link: another name of it may be a file outside the tree.
var ErrHardLink = errors.New("refusing a file with more than one hard link")

// ErrNotRegular is wrapped when an entry that root would read or write as
// a file is something else (a device, a FIFO, a socket, a directory).
var ErrNotRegular = errors.New("refusing a file that is not a regular file")

// FileError is the error of an entry that root will not read or write as
// a file. It wraps ErrHardLink or ErrNotRegular.
type FileError struct {
	Path string
	// Kind is what the entry is ("a character device", "a FIFO", ...),
	// for ErrNotRegular; Links its link count, for ErrHardLink.
	Kind  string
	Links uint64
	Err   error
}

func (e *FileError) Error() string {
	if e.Err == ErrHardLink {
		return fmt.Sprintf("%s: %v (%d links)", e.Path, e.Err, e.Links)
	}
	return fmt.Sprintf("%s: %v (%s)", e.Path, e.Err, e.Kind)
}

// Unwrap returns ErrHardLink or ErrNotRegular.
func (e *FileError) Unwrap() error { return e.Err }

// CheckRegular returns nil when st describes a regular file with one link,
// else a *FileError naming path.
func CheckRegular(path string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &FileError{Path: path, Kind: kind(st.Mode), Err: ErrNotRegular}
	}
	if st.Nlink > 1 {
		return &FileError{Path: path, Links: uint64(st.Nlink), Err: ErrHardLink}
	}
	return nil
}

// CheckOpen is CheckRegular of the open file f.
func CheckOpen(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return CheckRegular(f.Name(), &st)
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return "a special file"
}

// Refusal is root declining to touch a managed file of a hermes-writable
// tree, or skipping a write whose lock another process held: what the boot
// prints as one line (String) and counts.
type Refusal struct {
	// Path is the file, as reached.
	Path string
	// Why says what the file is that made root refuse it: "it is a
	// symbolic link", "it has 2 hard links", "it is locked by pid 42", ...
	Why string
	// Skipped says what was not done: "not seeded", "not chowned",
	// "bootstrap skipped", ...
	Skipped string
	// Locked is true for a write skipped because of a lock (counted apart
	// from the refusals of files).
	Locked bool
}

// String is the refusal's line: "refusing <path>: <why>; <skipped>".
func (r Refusal) String() string {
	return fmt.Sprintf("refusing %s: %s; %s", r.Path, r.Why, r.Skipped)
}

// Refuse describes err, an error of a safefs operation on path, as a
// Refusal when it is one (a symlink, a hard link, not a regular file, a
// lock held too long); ok is false for any other error.
func Refuse(path string, err error, skipped string) (r Refusal, ok bool) {
	r = Refusal{Path: path, Skipped: skipped}
	var le *LockedError
	var fe *FileError
	var pe *os.PathError
	switch {
	case errors.As(err, &le):
		r.Locked = true
		r.Why = "it " + strings.TrimPrefix(le.Error(), le.Path+" ")
	case errors.Is(err, ErrSymlink):
		r.Why = "it is a symbolic link, which root never follows in HERMES_HOME"
		if errors.As(err, &pe) && filepath.Clean(pe.Path) != filepath.Clean(path) {
			r.Why = fmt.Sprintf("%s on its path is a symbolic link, which root never follows in HERMES_HOME", pe.Path)
		}
	case errors.As(err, &fe) && fe.Err == ErrHardLink:
		r.Why = fmt.Sprintf("it has %d hard links (another name may be a file outside HERMES_HOME)", fe.Links)
	case errors.As(err, &fe):
		r.Why = "it is " + fe.Kind + ", not a regular file"
	default:
		return Refusal{}, false
	}
	return r, true
}

// Describe is Refuse for an lstat result: a Refusal when st is not a
// regular file with one link.
func Describe(path string, st *unix.Stat_t, skipped string) (Refusal, bool) {
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return Refuse(path, &os.PathError{Op: "open", Path: path, Err: ErrSymlink}, skipped)
	}
	if err := CheckRegular(path, st); err != nil {
		return Refuse(path, err, skipped)
	}
	return Refusal{}, false
}
