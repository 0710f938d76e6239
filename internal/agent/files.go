package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// stamp identifies one version of a file without reading it: a change of
// content (mtime, size), of file (inode, after an atomic rename) or of
// owner and mode (ctime) makes a new stamp.
type stamp struct {
	exists bool
	errno  syscall.Errno
	ino    uint64
	size   int64
	mtime  int64
	ctime  int64
}

func statStamp(path string) stamp {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		return stamp{errno: errno}
	}
	return stamp{
		exists: true,
		ino:    st.Ino,
		size:   st.Size,
		mtime:  st.Mtim.Nano(),
		ctime:  st.Ctim.Nano(),
	}
}

// watched is a file that is parsed again when it changes on disk: every
// get stats the file (one system call) and calls load only when its stamp
// differs from the last one. The profile's SOUL.md, .env, config.yaml and
// auth.json are watched, so an edit takes effect on the next request
// without a restart. A watched is safe for concurrent use.
type watched[T any] struct {
	path string
	load func(path string) (T, error)

	mu     sync.Mutex
	loaded bool
	stamp  stamp
	val    T
	err    error
}

func newWatched[T any](path string, load func(string) (T, error)) *watched[T] {
	return &watched[T]{path: path, load: load}
}

// get returns the file's parsed value, or the error of loading it; fresh
// is true when this call loaded it (so that a caller logs a failure once
// per version of the file, not once per request).
func (w *watched[T]) get() (val T, fresh bool, err error) {
	s := statStamp(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.loaded && s == w.stamp {
		return w.val, false, w.err
	}
	w.val, w.err = w.load(w.path)
	w.stamp, w.loaded = s, true
	return w.val, true, w.err
}

// readFile reads path; a permission error names the file's owner and mode
// and the uid asking, so that the fix (chown, chmod) is obvious.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return b, err
	}
	return nil, unreadable(path, err)
}

// unreadable explains a permission error reading path.
func unreadable(path string, err error) error {
	return fmt.Errorf("cannot read %s (%s), running as uid %d: %w; make it readable by the gateway's user (chown or chmod it)",
		path, ownerString(path), os.Geteuid(), err)
}

// ownerString describes path's owner and mode for messages.
func ownerString(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "owner and mode unknown: " + err.Error()
	}
	return fmt.Sprintf("owner uid %d gid %d, mode %04o", st.Uid, st.Gid, st.Mode&0o7777)
}
