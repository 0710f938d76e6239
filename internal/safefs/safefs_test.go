package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

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

func TestRemoveAllNeverFollows(t *testing.T) {
	d, dir := base(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o600)
	os.MkdirAll(filepath.Join(dir, "tree/a/b"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree/a/b/f"), nil, 0o600)
	os.Symlink(outside, filepath.Join(dir, "tree/a/link"))
	os.Chmod(filepath.Join(dir, "tree/a"), 0o555) // read-only: root removes it anyway
	if err := d.RemoveAll("tree"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "tree")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tree still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("RemoveAll followed a symlink: %v", err)
	}
	if err := d.RemoveAll("missing"); err != nil {
		t.Errorf("RemoveAll of a missing name: %v", err)
	}
	// A symlink at the name itself is removed, never its target.
	os.Symlink(outside, filepath.Join(dir, "top"))
	if err := d.RemoveAll("top"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("RemoveAll of a symlink removed its target's content: %v", err)
	}
}

func TestChmodNeverFollows(t *testing.T) {
	d, dir := base(t)
	target := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(target, nil, 0o600)
	os.Symlink(target, filepath.Join(dir, "evil"))
	if err := d.Chmod("evil", 0o666); !errors.Is(err, ErrSymlink) {
		t.Errorf("Chmod of a symlink = %v, want ErrSymlink", err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target changed mode to %v", fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600)
	if err := d.Chmod("plain", 0o640); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "plain")); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ path, dir, name string }{
		{"/h/config.yaml", ".", "config.yaml"},
		{"/h/profiles/coder/auth.json", "profiles/coder", "auth.json"},
	}
	for _, tt := range tests {
		dir, name, err := Split("/h", tt.path)
		if err != nil || dir != tt.dir || name != tt.name {
			t.Errorf("Split(/h, %s) = %q, %q, %v; want %q, %q", tt.path, dir, name, err, tt.dir, tt.name)
		}
	}
	for _, p := range []string{"/h", "/etc/passwd", "/h/../etc"} {
		if _, _, err := Split("/h", p); !errors.Is(err, ErrEscape) {
			t.Errorf("Split(/h, %s) = %v, want ErrEscape", p, err)
		}
	}
}

// TestPlainDir: a plain Dir acts as its caller's own calls would: symlinks
// are followed on the way and at a name (unless the flags say O_NOFOLLOW),
// Stat follows where Lstat does not, nothing is chowned, and Strict says
// so; modes are still set regardless of the umask, and WriteFileAtomic
// still replaces a symlink rather than writing through it.
func TestPlainDir(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "linked"))
	d, err := OpenPlain(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Strict() {
		t.Errorf("a plain Dir says it is strict")
	}
	if strict, _ := OpenBase(dir); !strict.Strict() {
		t.Errorf("OpenBase's Dir says it is plain")
	} else {
		strict.Close()
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	sub, err := d.MkdirAll("linked/a", 0o755, Owner{UID: 4242, GID: 4242})
	if err != nil {
		t.Fatalf("MkdirAll through a symlink in a plain Dir: %v", err)
	}
	defer sub.Close()
	if sub.Strict() {
		t.Errorf("a Dir below a plain one says it is strict")
	}
	f, err := sub.OpenFile("f", os.O_WRONLY|os.O_CREATE, 0o644, Owner{UID: 4242, GID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for p, want := range map[string]os.FileMode{"a": 0o755, "a/f": 0o644} {
		fi, err := os.Stat(filepath.Join(outside, p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v; want %04o regardless of the umask", p, err, fi.Mode().Perm(), want)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
			t.Errorf("%s was given to uid %d: a plain Dir chowns nothing", p, st.Uid)
		}
	}

	target := filepath.Join(outside, "target")
	os.WriteFile(target, []byte("old"), 0o600)
	os.Symlink(target, filepath.Join(dir, "file"))
	f, err = d.OpenFile("file", os.O_WRONLY|os.O_APPEND, 0, Keep)
	if err != nil {
		t.Fatalf("OpenFile of a symlink in a plain Dir: %v", err)
	}
	f.WriteString("+")
	f.Close()
	if b, _ := os.ReadFile(target); string(b) != "old+" {
		t.Errorf("the symlink's target holds %q, want old+", b)
	}
	if _, err := d.OpenFile("file", os.O_RDONLY|syscall.O_NOFOLLOW, 0, Keep); !errors.Is(err, ErrSymlink) {
		t.Errorf("OpenFile with O_NOFOLLOW of a symlink: %v, want ErrSymlink", err)
	}
	lst, _ := d.Lstat("file")
	st, _ := d.Stat("file")
	if lst.Mode&syscall.S_IFMT != syscall.S_IFLNK || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Errorf("Lstat/Stat of a symlink: %o/%o, want the link, then its target", lst.Mode, st.Mode)
	}
	if err := d.WriteFileAtomic("file", []byte("new"), 0o640, Keep); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "old+" {
		t.Errorf("WriteFileAtomic wrote through the symlink: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "file")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
		t.Errorf("file after WriteFileAtomic: %v, %v; want a regular 0640 file", err, fi.Mode())
	}
}

// TestWriteFileAtomicConcurrent: writers of one name in one process never
// share a temporary file: every write lands whole, the last one wins, and
// no temporary file is left.
func TestWriteFileAtomicConcurrent(t *testing.T) {
	d, dir := base(t)
	const writers = 8
	want := map[string]bool{}
	done := make(chan error, writers)
	for i := range writers {
		data := strings.Repeat(string(rune('a'+i)), 64<<10)
		want[data] = true
		go func() { done <- d.WriteFileAtomic("x", []byte(data), 0o644, Keep) }()
	}
	for range writers {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "x"))
	if !want[string(b)] {
		t.Errorf("x holds %d bytes that no single writer wrote", len(b))
	}
	names, _ := d.Names()
	if len(names) != 1 {
		t.Errorf("the directory holds %q, want x alone", names)
	}
}

// TestMkdirAllSwappedForSymlink: a directory MkdirAll has just made,
// swapped for a symlink before MkdirAll opens it (another process racing
// it), is refused, and the symlink's target keeps its mode: the mode is
// set on the directory opened, never by name.
func TestMkdirAllSwappedForSymlink(t *testing.T) {
	d, dir := base(t)
	target := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	afterMkdir = func(dirfd int, name string) {
		if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil {
			t.Error(err)
		}
		if err := unix.Symlinkat(target, dirfd, name); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { afterMkdir = nil })
	if sub, err := d.MkdirAll("new", 0o777, Keep); err == nil {
		sub.Close()
		t.Errorf("MkdirAll through a swapped symlink succeeded")
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target: %v, mode %v; want 0600 untouched", err, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(filepath.Join(dir, "new")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("new: %v %v, want the symlink left as it is", fi, err)
	}
}

// TestMkdirAllInAFreshDirectory: an entry that another process puts in a
// directory MkdirAll has just made, before MkdirAll goes on below it, is met
// as it is: a directory is opened and keeps its mode, a symlink is refused
// and not followed.
func TestMkdirAllInAFreshDirectory(t *testing.T) {
	elsewhere := t.TempDir() // where a planted symlink points
	for _, tt := range []struct {
		name    string
		plant   func(dirfd int) error
		wantErr error
		// plantedMode is a/b's mode afterwards (0: not checked).
		plantedMode os.FileMode
	}{
		{"nothing planted", func(int) error { return nil }, nil, 0o755},
		{"a directory planted", func(fd int) error { return unix.Mkdirat(fd, "b", 0o700) }, nil, 0o700},
		{"a symlink planted", func(fd int) error { return unix.Symlinkat(elsewhere, fd, "b") }, ErrSymlink, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, dir := base(t)
			afterMkdir = func(dirfd int, name string) {
				if name != "a" {
					return
				}
				// Plant b in a through a descriptor of its own: a's fd is
				// the one MkdirAll goes on with.
				fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
				if err != nil {
					t.Error(err)
					return
				}
				defer unix.Close(fd)
				if err := tt.plant(fd); err != nil {
					t.Error(err)
				}
			}
			t.Cleanup(func() { afterMkdir = nil })
			sub, err := d.MkdirAll("a/b/c", 0o755, Keep)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("MkdirAll = %v, want %v", err, tt.wantErr)
				}
				if _, err := os.Lstat(filepath.Join(elsewhere, "c")); err == nil {
					t.Error("c was made through the symlink")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sub.Close()
			for rel, want := range map[string]os.FileMode{"a": 0o755, "a/b/c": 0o755} {
				if fi, err := os.Lstat(filepath.Join(dir, rel)); err != nil || !fi.IsDir() || fi.Mode().Perm() != want {
					t.Errorf("%s: %v %v, want a directory of mode %v", rel, fi, err, want)
				}
			}
			if fi, err := os.Lstat(filepath.Join(dir, "a/b")); err != nil || fi.Mode().Perm() != tt.plantedMode {
				t.Errorf("a/b: %v %v, want mode %v", fi, err, tt.plantedMode)
			}
		})
	}
}

// TestInside: a path is inside a base when it is the base or below it,
// component by component and as written.
func TestInside(t *testing.T) {
	tests := []struct {
		p, base string
		want    bool
	}{
		{"/opt/data", "/opt/data", true},
		{"/opt/data/x", "/opt/data", true},
		{"/opt/data/x/y", "/opt/data/", true},
		{"/opt/data/run/x/..", "/opt/data/", true},
		{"/opt/data/..run", "/opt/data", true},
		{"/opt/data2", "/opt/data", false},
		{"/opt/data2/x", "/opt/data", false},
		{"/opt/database/run", "/opt/data", false},
		{"/opt/dat", "/opt/data", false},
		{"/opt", "/opt/data", false},
		{"/run/hermes", "/opt/data", false},
		{"/opt/data/../etc", "/opt/data", false},
		{"/anything", "/", true},
		{"relative", "/opt/data", false},
		{"/opt/data", "relative", false},
	}
	for _, tt := range tests {
		if got := Inside(tt.p, tt.base); got != tt.want {
			t.Errorf("Inside(%q, %q) = %v, want %v", tt.p, tt.base, got, tt.want)
		}
	}
}
