package profiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestWriteFileAtomicAsUser: not root, WriteFileAtomic is the process's
// own write (safefs's plain Dir): the mode is the one asked for whatever
// the umask, a symlink at the name is replaced and never written through,
// a symlinked directory on the way is followed (a host user's choice), no
// temporary file is left, and a directory it cannot write names its owner
// and mode.
func TestWriteFileAtomicAsUser(t *testing.T) {
	if testenv.AsUser(t, 4242, 4242) {
		return
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	home := t.TempDir()
	real := filepath.Join(t.TempDir(), "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(home, "linked")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, "linked", FileConfig)
	target := filepath.Join(t.TempDir(), "target")
	writeFile(t, target, "keep\n")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(home, path, []byte("a: 1\n"), ConfigMode); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(real, FileConfig))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != ConfigMode {
		t.Fatalf("%s: %v, %v; want a regular file of mode %04o", path, err, fi.Mode(), ConfigMode)
	}
	if b, _ := os.ReadFile(path); string(b) != "a: 1\n" {
		t.Errorf("%s = %q", path, b)
	}
	entries, _ := os.ReadDir(real)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	closed := filepath.Join(home, "closed")
	if err := os.Mkdir(closed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(closed, 0o555); err != nil {
		t.Fatal(err)
	}
	err = WriteFileAtomic(home, filepath.Join(closed, FileEnv), []byte("X=1\n"), EnvMode)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "is not writable by uid") || !strings.Contains(err.Error(), "mode 0555") {
		t.Errorf("write into a closed directory: %v, want a permission error naming the directory's owner and mode", err)
	}
}
