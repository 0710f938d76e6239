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
	"syscall"
	"time"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// DefaultSocket is the control socket of an init started as root
// (CONTRACT §2).
const DefaultSocket = "/run/hermes/control.sock"

// PublishedSocketPath is where the owner of a HERMES_HOME publishes its
// control socket (CONTRACT §5), so that other containers on the same volume
// reach the one supervisor that runs the gateways.
func PublishedSocketPath(home string) string {
	return filepath.Join(home, "run", "control.sock")
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
// An existing file at path is removed only when it is a socket that nobody
// answers on (the leftover of a dead supervisor); when a live supervisor
// answers, the error wraps ErrInUse, and any other file is left alone.
//
// The socket is made mode 0666: peer credentials, not file modes, decide
// who may do what.
func Listen(path string, owner int) (net.Listener, error) {
	if owner < 0 {
		owner = os.Geteuid()
	}
	if err := prepareDir(filepath.Dir(path), owner); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("making %s connectable by everyone: %w", path, err)
	}
	return ln, nil
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

// removeStale removes path when it is a socket nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket (%s); refusing to replace it", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
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
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}
