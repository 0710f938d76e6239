package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// DefaultSocket is the control socket of an init started as root
// (CONTRACT §2).
const DefaultSocket = "/run/hermes/control.sock"

// PublishedSocketPath is where the owner of a HERMES_HOME publishes its
// control socket (CONTRACT §5), so that other containers on the same volume
// reach the one supervisor that runs the gateways.
func PublishedSocketPath(home string) string {
	return filepath.Join(home, profiles.FileControlSocket)
}

// SocketPath is the one resolver of the control socket's path (CONTRACT
// §2), used by init to listen and by clients to connect:
// HERMES_CONTROL_SOCKET if set; else DefaultSocket when uid is root or that
// socket exists (env.Exists decides); else $XDG_RUNTIME_DIR/hermes/control.sock
// when XDG_RUNTIME_DIR is an absolute path; else /tmp/hermes-<uid>/control.sock.
func SocketPath(env hostenv.Env, uid int) string {
	return socketPath(env, uid, DefaultSocket)
}

// socketPath is SocketPath with the root socket's path as a parameter, so
// that tests do not depend on the machine's /run.
func socketPath(env hostenv.Env, uid int, rootSocket string) string {
	if v, ok := env.Getenv("HERMES_CONTROL_SOCKET"); ok && strings.TrimSpace(v) != "" {
		return v
	}
	if uid == 0 || (env.Exists != nil && env.Exists(rootSocket)) {
		return rootSocket
	}
	if v, ok := env.Getenv("XDG_RUNTIME_DIR"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "hermes", "control.sock")
	}
	return filepath.Join("/tmp", "hermes-"+strconv.Itoa(uid), "control.sock")
}

// Listen creates the control socket at path and listens on it.
//
// The socket's directory is created with mode 0755 when missing. When that
// directory lives in a world-writable directory such as /tmp, where anyone
// could have created it first, it must be a real directory (not a symlink),
// owned by owner (the caller's uid; a negative owner means the effective
// uid) and writable by nobody else, or Listen refuses.
//
// From there on it works as ListenIn does, relative to the directory's
// descriptor.
func Listen(path string, owner int) (net.Listener, error) {
	if owner < 0 {
		owner = os.Geteuid()
	}
	dir := filepath.Dir(path)
	if err := prepareDir(dir, owner); err != nil {
		return nil, err
	}
	d, err := safefs.OpenBase(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the socket's directory: %w", err)
	}
	defer d.Close()
	return ListenIn(d, filepath.Base(path))
}

// ListenPublished listens on the socket that the owner of home publishes
// (PublishedSocketPath, CONTRACT §5). home/run belongs to the hermes uid,
// which can swap it for a symlink at any time: run/ is opened without
// following a symlink (safefs), and everything after is ListenIn, relative
// to that descriptor.
func ListenPublished(home string) (net.Listener, error) {
	d, err := safefs.OpenDir(home, filepath.Base(filepath.Dir(PublishedSocketPath(home))))
	if err != nil {
		return nil, fmt.Errorf("opening the directory of %s: %w", PublishedSocketPath(home), err)
	}
	defer d.Close()
	return ListenIn(d, filepath.Base(PublishedSocketPath(home)))
}

// ListenIn creates the control socket name in the open directory d and
// listens on it. Nothing is done by path: the stale socket is checked,
// dialled and removed, the new one bound and made mode 0666 (peer
// credentials, not file modes, decide who may do what) all relative to d's
// descriptor, which the listener keeps; a symlink at name is never
// followed. An existing file at name is removed only when it is a socket
// that nobody answers on (the leftover of a dead supervisor); when a live
// supervisor answers, the error wraps ErrInUse, and any other file is left
// alone. Closing the listener removes the socket relative to the same
// descriptor, and only while name is still the socket it bound.
func ListenIn(d *safefs.Dir, name string) (net.Listener, error) {
	own, err := d.Sub(".")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(own.Path(), name)
	// The kernel resolves /proc/self/fd/N to the directory that was
	// opened, whatever its path has become since.
	at := "/proc/self/fd/" + strconv.Itoa(own.Fd()) + "/" + name
	if err := removeStale(own, name, at, path); err != nil {
		own.Close()
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: at, Net: "unix"})
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	st, err := own.Lstat(name)
	if err == nil && st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		err = fmt.Errorf("%s was replaced by %s", path, modeType(st.Mode))
	}
	if err == nil {
		err = own.Chmod(name, 0o666)
	}
	if err != nil {
		ln.Close()
		own.Close()
		return nil, fmt.Errorf("making %s connectable by everyone: %w", path, err)
	}
	return &socketListener{UnixListener: ln, dir: own, name: name, path: path, dev: st.Dev, ino: st.Ino}, nil
}

// socketListener is a listener on a socket in a directory it holds open:
// Close removes the socket relative to that directory, never by path.
type socketListener struct {
	*net.UnixListener
	dir      *safefs.Dir
	name     string
	path     string
	dev, ino uint64
	once     sync.Once
}

// Addr names the socket by its path, not by the descriptor it was bound
// through.
func (l *socketListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket, when name still is the
// socket this listener bound.
func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if st, serr := l.dir.Lstat(l.name); serr == nil && st.Dev == l.dev && st.Ino == l.ino {
			_ = l.dir.Remove(l.name)
		}
		l.dir.Close()
	})
	return err
}

// prepareDir creates dir (0755) when it is missing and, when its parent is
// world-writable, checks that nobody else controls it.
func prepareDir(dir string, owner int) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	pfi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("checking %s: %w", parent, err)
	}
	shared := pfi.Mode().Perm()&0o002 != 0
	switch err := os.Mkdir(dir, 0o755); {
	case err == nil:
		// Mkdir honours the umask; the directory must be traversable by
		// every client. In a sticky shared parent nobody can swap it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("setting the mode of %s: %w", dir, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if !shared {
		return nil
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking %s: %w", dir, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("refusing to use %s for the control socket: it is not a directory but %s, in the world-writable %s", dir, fi.Mode().Type(), parent)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("checking %s: no ownership information", dir)
	}
	if int(st.Uid) != owner {
		return fmt.Errorf("refusing to use %s for the control socket: it is owned by uid %d, not %d, in the world-writable %s", dir, st.Uid, owner, parent)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing to use %s for the control socket: its mode %s lets others write to it", dir, fi.Mode().Perm())
	}
	return nil
}

// removeStale removes the entry name of d (reached as at, named path in
// messages) when it is a socket nobody answers on.
func removeStale(d *safefs.Dir, name, at, path string) error {
	st, err := d.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return fmt.Errorf("%s exists and is not a socket (%s); refusing to replace it", path, modeType(st.Mode))
	}
	c, err := net.DialTimeout("unix", at, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// EAGAIN (a full backlog) means someone is there; anything else
		// is not ours to decide.
		if errors.Is(err, syscall.EAGAIN) {
			return fmt.Errorf("%w: %s", ErrInUse, path)
		}
		return fmt.Errorf("checking for a live supervisor on %s: %w", path, err)
	}
	// Only the socket that was checked is removed: a name swapped in
	// meanwhile is left alone.
	if now, err := d.Lstat(name); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		return fmt.Errorf("%s changed while hermes checked it; refusing to remove it", path)
	}
	if err := d.Remove(name); err != nil {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}

// modeType turns the file type bits of a stat mode into an fs.FileMode.
func modeType(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	}
	return 0
}
