package volume

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// The test binary also plays other processes, by HERMES_TEST_CHILD:
//
//	preflight-self HOME  Preflight as a non-root process; prints the error
//	own HOME             TryOwn; prints "owned" or the error, then holds the
//	                     lock until stdin is closed
func TestMain(m *testing.M) {
	switch os.Getenv("HERMES_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "preflight-self":
		err := Preflight(Config{Home: os.Args[1], UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(nil)})
		fmt.Println(err)
		os.Exit(0)
	case "own":
		o, err := TryOwn(os.Args[1])
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("owned")
		_, _ = io.Copy(io.Discard, os.Stdin)
		o.Release()
		os.Exit(0)
	}
	os.Exit(2)
}

// hostEnv is an Env outside a container with vars as its environment.
func hostEnv(vars map[string]string) hostenv.Env {
	return hostenv.Env{
		Getenv: func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		},
		Exists:   func(string) bool { return false },
		Getuid:   os.Getuid,
		UserHome: func() (string, error) { return "/nonexistent", nil },
	}
}

// Hermes ids of the tests that run as root.
const (
	hermesUID = 10000
	hermesGID = 10001
)

// rootConfig is the Config of an init running as root for home.
func rootConfig(t *testing.T, home string) (Config, *[]string) {
	t.Helper()
	var logged []string
	return Config{
		Home: home, UID: hermesUID, GID: hermesGID, Root: true,
		Env: hostEnv(nil),
		Log: func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) },
	}, &logged
}

func mkdir(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	chownMod(t, path, mode, uid, gid)
}

func mkfile(t *testing.T, path, content string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	chownMod(t, path, mode, uid, gid)
}

func chownMod(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// owner returns path's uid, gid and permission bits, without following a
// symlink.
func owner(t *testing.T, path string) (uid, gid int, mode uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid), st.Mode & 0o7777
}

func wantOwner(t *testing.T, path string, uid, gid int) {
	t.Helper()
	u, g, _ := owner(t, path)
	if u != uid || g != gid {
		t.Errorf("%s is owned by %d:%d, want %d:%d", path, u, g, uid, gid)
	}
}

// tree lists every entry under dir with owner, mode, size, mtime and, for
// files, content: two equal trees are the same tree.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %s %d:%d %d %d ino %d", strings.TrimPrefix(p, dir), fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano(), st.Ino)
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + fmt.Sprintf("%q", b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// age sets the modification time of everything below dir (dir included,
// no symlink followed) to the epoch, so that a later write shows in tree
// without the test waiting for the clock to move.
func age(t *testing.T, dir string) {
	t.Helper()
	epoch := []unix.Timespec{{}, {}}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, epoch, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sharedTempDir is a temporary directory that every uid can traverse
// (t.TempDir is 0700), for tests with an unprivileged helper process.
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hermes-volume-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// helper starts the test binary as a child playing role with arg. When
// cred is set it runs as that user, from a copy of the binary that the
// user can execute. It returns the child, its stdin and its stdout.
func helper(t *testing.T, role, arg string, cred *syscall.Credential) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		exe = testenv.Executable(t)
	}
	cmd := exec.Command(exe, arg)
	cmd.Env = testenv.ChildEnv(append(os.Environ(), "HERMES_TEST_CHILD="+role)...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, stdin, bufio.NewReader(out)
}
