package control

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/safefs"
)

func TestSocketPath(t *testing.T) {
	const rootSock = "/fake/run/hermes/control.sock"
	tests := []struct {
		name     string
		env      map[string]string
		uid      int
		existing bool // rootSock exists
		want     string
	}{
		{"override", map[string]string{"HERMES_CONTROL_SOCKET": "/x/c.sock", "XDG_RUNTIME_DIR": "/run/user/1000"}, 0, true, "/x/c.sock"},
		{"override as a user", map[string]string{"HERMES_CONTROL_SOCKET": "/x/c.sock"}, 1000, false, "/x/c.sock"},
		{"empty override is unset", map[string]string{"HERMES_CONTROL_SOCKET": " "}, 0, false, rootSock},
		{"root", nil, 0, false, rootSock},
		{"root with xdg", map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, 0, false, rootSock},
		{"user and root socket exists", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, true, rootSock},
		{"user with xdg", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, false, "/run/user/1000/hermes/control.sock"},
		{"user with relative xdg", map[string]string{"XDG_RUNTIME_DIR": "run/user"}, 1000, false, "/tmp/hermes-1000/control.sock"},
		{"user with empty xdg", map[string]string{"XDG_RUNTIME_DIR": ""}, 1000, false, "/tmp/hermes-1000/control.sock"},
		{"user alone", nil, 10000, false, "/tmp/hermes-10000/control.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := hostenv.Env{
				Getenv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok },
				Exists: func(p string) bool { return tt.existing && p == rootSock },
			}
			if got := socketPath(env, tt.uid, rootSock); got != tt.want {
				t.Errorf("socketPath(%v, uid %d, exists %v) = %q, want %q", tt.env, tt.uid, tt.existing, got, tt.want)
			}
		})
	}
	env := hostenv.Env{Getenv: func(string) (string, bool) { return "", false }, Exists: func(string) bool { return false }}
	if got := SocketPath(env, 0); got != DefaultSocket {
		t.Errorf("SocketPath(root) = %q, want %q", got, DefaultSocket)
	}
}

func TestListenCreatesDirAndSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "hermes")
	path := filepath.Join(dir, "control.sock")
	ln, err := Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{{dir, fs.ModeDir | 0o755}, {path, fs.ModeSocket | 0o666}} {
		fi, err := os.Lstat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != c.want {
			t.Errorf("mode of %s = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestListenStaleAndLive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "control.sock")

	// A dead supervisor's socket is replaced.
	dead, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	dead.Close()
	ln, err := Listen(path, -1)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()

	// A live one is not.
	if ln2, err := Listen(path, -1); !errors.Is(err, ErrInUse) {
		if ln2 != nil {
			ln2.Close()
		}
		t.Fatalf("Listen over a live socket = %v, want ErrInUse", err)
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Fatalf("the live socket was removed: %v", err)
	} else {
		c.Close()
	}

	// A file that is not a socket is left alone.
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ln3, err := Listen(file, -1); err == nil || !strings.Contains(err.Error(), "not a socket") {
		if ln3 != nil {
			ln3.Close()
		}
		t.Fatalf("Listen over a regular file = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("regular file changed to %q", b)
	}
}

// TestListenSharedDir covers the /tmp/hermes-<uid> case: a directory in a
// world-writable parent that someone else may have planted.
func TestListenSharedDir(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	me := os.Geteuid()
	target := t.TempDir()

	tests := []struct {
		name    string
		prepare func(dir string) error
		owner   int
		wantErr string // "" for success
	}{
		{"fresh", func(string) error { return nil }, me, ""},
		{"existing and ours", func(d string) error { return os.Mkdir(d, 0o700) }, me, ""},
		{"symlink", func(d string) error { return os.Symlink(target, d) }, me, "not a directory"},
		{"a file", func(d string) error { return os.WriteFile(d, nil, 0o600) }, me, "not a directory"},
		{"someone else's", func(d string) error { return os.Mkdir(d, 0o755) }, me + 4242, "owned by uid"},
		{"writable by others", func(d string) error {
			if err := os.Mkdir(d, 0o777); err != nil {
				return err
			}
			return os.Chmod(d, 0o777)
		}, me, "lets others write"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(tmp, "hermes-"+string(rune('a'+i)))
			if err := tt.prepare(dir); err != nil {
				t.Fatal(err)
			}
			ln, err := Listen(filepath.Join(dir, "control.sock"), tt.owner)
			if ln != nil {
				ln.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Listen in %s = %v, want success", tt.name, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Listen in %s = %v, want an error containing %q", tt.name, err, tt.wantErr)
			}
		})
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("Listen wrote through the symlink into %s: %v", target, entries)
	}
}

// TestListenPublishedNoSymlink: the hermes uid owns home/run and may swap
// it for a symlink; the published socket is never created, chmod-ed or
// removed through one (issue 9, item 1).
func TestListenPublishedNoSymlink(t *testing.T) {
	home := t.TempDir()
	outside := t.TempDir()
	victim := filepath.Join(outside, "control.sock")

	// run/ is a symlink at listen time: refused, nothing made outside.
	if err := os.Symlink(outside, filepath.Join(home, "run")); err != nil {
		t.Fatal(err)
	}
	if ln, err := ListenPublished(home); !errors.Is(err, safefs.ErrSymlink) {
		if ln != nil {
			ln.Close()
		}
		t.Fatalf("ListenPublished through a symlinked run/ = %v, want ErrSymlink", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("ListenPublished wrote through the symlink: %v", entries)
	}

	// run/ is swapped for a symlink while the listener runs: Close removes
	// nothing in the link's target, where a file of the same name waits.
	os.Remove(filepath.Join(home, "run"))
	if err := os.Mkdir(filepath.Join(home, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := ListenPublished(home)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ln.Addr().String(), PublishedSocketPath(home); got != want {
		t.Errorf("Addr = %q, want %q", got, want)
	}
	fi, err := os.Lstat(PublishedSocketPath(home))
	if err != nil || fi.Mode()&(fs.ModeType|fs.ModePerm) != fs.ModeSocket|0o666 {
		t.Fatalf("published socket: %v, mode %v; want a 0666 socket", err, fi.Mode())
	}
	if err := os.Rename(filepath.Join(home, "run"), filepath.Join(home, "run.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(home, "run")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if b, err := os.ReadFile(victim); err != nil || string(b) != "root's" {
		t.Errorf("closing the listener removed or changed %s through the swapped run/: %q, %v", victim, b, err)
	}
	if _, err := os.Lstat(filepath.Join(home, "run.old", "control.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket in the directory it was bound in is still there after Close: %v", err)
	}
}

// TestListenInCloseKeepsAnother: a socket that replaced ours by the time
// the listener closes is not ours to remove.
func TestListenInCloseKeepsAnother(t *testing.T) {
	dir := t.TempDir()
	d, err := safefs.OpenBase(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ln, err := ListenIn(d, "c.sock")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.sock")
	os.Remove(path)
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	other.(*net.UnixListener).SetUnlinkOnClose(false)
	defer other.Close()
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed a socket it did not bind: %v", err)
	}
}
