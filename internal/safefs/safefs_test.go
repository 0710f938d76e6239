package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func base(t *testing.T) (*Dir, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := OpenBase(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir
}

func TestMkdirAllAndOpenFile(t *testing.T) {
	d, dir := base(t)
	sub, err := d.MkdirAll("a/b/c", 0o750, Keep)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if fi, err := os.Stat(filepath.Join(dir, "a/b/c")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("a/b/c: %v, mode %v; want a 0750 directory", err, fi.Mode().Perm())
	}
	f, err := sub.OpenFile("x", os.O_WRONLY|os.O_CREATE, 0o640, Keep)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("hello")
	f.Close()
	if fi, _ := os.Stat(filepath.Join(dir, "a/b/c/x")); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 regardless of the umask", fi.Mode().Perm())
	}
	b, err := sub.ReadFile("x")
	if err != nil || string(b) != "hello" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
}

func TestEscapesRefused(t *testing.T) {
	d, _ := base(t)
	for _, rel := range []string{"../x", "a/../../x", "/etc"} {
		if _, err := d.MkdirAll(rel, 0o755, Keep); !errors.Is(err, ErrEscape) {
			t.Errorf("MkdirAll(%q): %v, want ErrEscape", rel, err)
		}
	}
	for _, name := range []string{"a/b", "..", ".", ""} {
		if _, err := d.OpenFile(name, os.O_RDONLY, 0, Keep); !errors.Is(err, ErrEscape) {
			t.Errorf("OpenFile(%q): %v, want ErrEscape", name, err)
		}
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	d, dir := base(t)
	outside := t.TempDir()
	target := filepath.Join(outside, "secret")
	os.WriteFile(target, []byte("keep"), 0o600)
	// A symlinked directory component.
	os.Symlink(outside, filepath.Join(dir, "link"))
	if _, err := d.Sub("link"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Sub through a symlink: %v, want ErrSymlink", err)
	}
	if _, err := d.MkdirAll("link/new", 0o755, Keep); !errors.Is(err, ErrSymlink) {
		t.Errorf("MkdirAll through a symlink: %v, want ErrSymlink", err)
	}
	// A symlinked file.
	os.Symlink(target, filepath.Join(dir, "file"))
	if _, err := d.OpenFile("file", os.O_WRONLY|os.O_TRUNC, 0, Keep); !errors.Is(err, ErrSymlink) {
		t.Errorf("OpenFile of a symlink: %v, want ErrSymlink", err)
	}
	// WriteFileAtomic replaces the link, never writes through it.
	if err := d.WriteFileAtomic("file", []byte("new"), 0o644, Keep); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, _ := os.Lstat(filepath.Join(dir, "file")); fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("file is still a symlink after WriteFileAtomic")
	}
	// Remove unlinks the link itself.
	os.Symlink(target, filepath.Join(dir, "file2"))
	if err := d.Remove("file2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("Remove of a symlink removed its target: %v", err)
	}
}

func TestChownNeverFollows(t *testing.T) {
	testenv.NeedRoot(t, "chown files")
	d, dir := base(t)
	outside := t.TempDir()
	target := filepath.Join(outside, "shadow")
	os.WriteFile(target, nil, 0o600)
	os.Symlink(target, filepath.Join(dir, "evil"))
	if err := d.Chown("evil", Owner{UID: 4242, GID: 4242}); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Stat(target, &st)
	if st.Uid != 0 {
		t.Errorf("the symlink's target changed owner to %d", st.Uid)
	}
	sub, err := d.MkdirAll("owned/deep", 0o755, Owner{UID: 4242, GID: 4243})
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	f, err := d.OpenFile("created", os.O_WRONLY|os.O_CREATE, 0o640, Owner{UID: 4242, GID: 4243})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, p := range []string{"owned", "owned/deep", "created"} {
		syscall.Lstat(filepath.Join(dir, p), &st)
		if st.Uid != 4242 || st.Gid != 4243 {
			t.Errorf("%s owned by %d:%d, want 4242:4243", p, st.Uid, st.Gid)
		}
	}
}
