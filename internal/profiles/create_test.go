package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// checkTree verifies a complete profile and returns its port.
func checkTree(t *testing.T, home, name string) int {
	t.Helper()
	dir := MustParse(home, name).Dir()
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{dir, fs.ModeDir | DirMode},
		{filepath.Join(dir, "config.yaml"), ConfigMode},
		{filepath.Join(dir, ".env"), EnvMode},
		{filepath.Join(dir, "SOUL.md"), SOULMode},
	} {
		if got := mode(t, tc.path); got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, got, tc.want)
		}
	}
	for _, sub := range Subdirs() {
		if got, want := mode(t, filepath.Join(dir, sub)), fs.ModeDir|DirMode; got != want {
			t.Errorf("%s/%s: mode %v, want %v", dir, sub, got, want)
		}
	}
	env, err := ReadEnv(EnvPath(MustParse(home, name)))
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(env["API_SERVER_KEY"]) {
		t.Errorf("%s/.env: API_SERVER_KEY = %q (%v), want 64 hex characters", dir, env["API_SERVER_KEY"], err)
	}
	if soul, _ := os.ReadFile(SOULPath(MustParse(home, name))); string(soul) != string(DefaultSOUL(name)) {
		t.Errorf("%s/SOUL.md = %q", dir, soul)
	}
	port, err := Port(MustParse(home, name))
	if err != nil || port <= DefaultGatewayPort {
		t.Errorf("Port(%s) = %d, %v; want a port above %d", name, port, err, DefaultGatewayPort)
	}
	return port
}

// The modes are exact whatever the umask.
func TestCreateModes(t *testing.T) {
	for _, umask := range []int{0o077, 0o000, 0o022} {
		old := syscall.Umask(umask)
		home := t.TempDir()
		err := Create(MustParse(home, "coder"))
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		checkTree(t, home, "coder")
		if got := mode(t, filepath.Join(home, "profiles", ".lock")); got != 0o600 {
			t.Errorf("umask %03o: profiles/.lock mode %v, want 0600", umask, got)
		}
		if got, want := mode(t, filepath.Join(home, "profiles")), fs.ModeDir|DirMode; got != want {
			t.Errorf("umask %03o: profiles/ mode %v, want %v", umask, got, want)
		}
	}
}

// viaParse is what an edge does with a name: Parse it, then call f with
// the Ref; an invalid name is Parse's error.
func viaParse(home, name string, f func(Ref) error) error {
	r, err := Parse(home, name)
	if err != nil {
		return err
	}
	return f(r)
}

func TestCreateRefuses(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		says string
		is   error
	}{
		{"coder", "already exists", fs.ErrExist},
		{"default", "root profile", ErrInvalidName},
		{"Coder", `try "coder"`, ErrInvalidName},
		{"../x", "not allowed", ErrInvalidName},
		{"root", "reserved", ErrInvalidName},
	} {
		err := viaParse(home, tc.name, Create)
		if err == nil || !strings.Contains(err.Error(), tc.says) || !errors.Is(err, tc.is) {
			t.Errorf("Create(%q) = %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
	// The existing profile is untouched.
	if b, _ := os.ReadFile(SOULPath(MustParse(home, "coder"))); string(b) != string(DefaultSOUL("coder")) {
		t.Error("Create of an existing profile changed its SOUL.md")
	}
}

func TestTwoProfilesTwoPorts(t *testing.T) {
	home := t.TempDir()
	for _, n := range []string{"one", "two", "three"} {
		if err := Create(MustParse(home, n)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]string{DefaultGatewayPort: "default"}
	for _, n := range []string{"one", "two", "three"} {
		p := checkTree(t, home, n)
		if other, dup := seen[p]; dup {
			t.Errorf("%s and %s both have port %d", n, other, p)
		}
		seen[p] = n
	}
	// A deleted profile's port can be given again, but never one in use.
	if err := Delete(MustParse(home, "two")); err != nil {
		t.Fatal(err)
	}
	if err := Create(MustParse(home, "four")); err != nil {
		t.Fatal(err)
	}
	p4 := checkTree(t, home, "four")
	if n := seen[p4]; n != "" && n != "two" {
		t.Errorf("four got port %d of %s", p4, n)
	}
}

// A failed creation removes what it made; nothing that was there before.
func TestCreateCleansUp(t *testing.T) {
	for _, at := range []string{"dirs", "config", "env", "soul"} {
		t.Run("fresh/"+at, func(t *testing.T) {
			home := t.TempDir()
			boom := errors.New("boom")
			err := WithLock(home, func() error {
				return create(MustParse(home, "coder"), func(s string) error {
					if s == at {
						return boom
					}
					return nil
				})
			})
			if !errors.Is(err, boom) {
				t.Fatalf("create = %v, want boom", err)
			}
			if _, err := os.Lstat(MustParse(home, "coder").Dir()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("half-created profile left behind: %v", err)
			}
			if Exists(MustParse(home, "coder")) {
				t.Error("the profile exists")
			}
			// And it can be created afterwards.
			if err := Create(MustParse(home, "coder")); err != nil {
				t.Fatal(err)
			}
			checkTree(t, home, "coder")
		})
		t.Run("existing-dir/"+at, func(t *testing.T) {
			home := t.TempDir()
			dir := MustParse(home, "coder").Dir()
			writeFile(t, filepath.Join(dir, "notes.txt"), "mine")
			writeFile(t, filepath.Join(dir, "skills", "s.md"), "skill")
			err := WithLock(home, func() error {
				return create(MustParse(home, "coder"), func(s string) error {
					if s == at {
						return errors.New("boom")
					}
					return nil
				})
			})
			if err == nil {
				t.Fatal("no error")
			}
			var left []string
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				rel, _ := filepath.Rel(dir, p)
				left = append(left, rel)
				return nil
			})
			sort.Strings(left)
			if got, want := strings.Join(left, " "), ". notes.txt skills skills/s.md"; got != want {
				t.Errorf("left after a failed create: %s, want %s", got, want)
			}
		})
	}
}

// In a directory without SOUL.md (made from the host), Create adds what is
// missing and clobbers nothing.
func TestCreateCompletesAnExistingDirectory(t *testing.T) {
	home := t.TempDir()
	dir := MustParse(home, "coder").Dir()
	writeFile(t, filepath.Join(dir, "config.yaml"), "# my settings\nmodel:\n  name: m\n")
	writeFile(t, filepath.Join(dir, ".env"), "OPENROUTER_API_KEY=sk-1")
	writeFile(t, filepath.Join(dir, "memories", "m.md"), "memory")
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	port := checkTree(t, home, "coder")
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if want := fmt.Sprintf("# my settings\nmodel:\n  name: m\ngateway:\n  port: %d\n", port); string(cfg) != want {
		t.Errorf("config.yaml = %q, want %q", cfg, want)
	}
	env, _ := ReadEnv(filepath.Join(dir, ".env"))
	if env["OPENROUTER_API_KEY"] != "sk-1" || len(env["API_SERVER_KEY"]) != 64 {
		t.Errorf(".env = %v, want the old key kept and API_SERVER_KEY added", env)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "memories", "m.md")); string(b) != "memory" {
		t.Error("memories/m.md changed")
	}

	// A configured port and an existing key are kept as they are.
	home2 := t.TempDir()
	dir2 := MustParse(home2, "kept").Dir()
	writeFile(t, filepath.Join(dir2, "config.yaml"), "gateway:\n  port: 9100\n")
	writeFile(t, filepath.Join(dir2, ".env"), "API_SERVER_KEY=old\n")
	if err := Create(MustParse(home2, "kept")); err != nil {
		t.Fatal(err)
	}
	if p, _ := Port(MustParse(home2, "kept")); p != 9100 {
		t.Errorf("port = %d, want 9100 kept", p)
	}
	if b, _ := os.ReadFile(filepath.Join(dir2, ".env")); string(b) != "API_SERVER_KEY=old\n" {
		t.Errorf(".env = %q, want it untouched", b)
	}

	// A symlink in place of the profile directory is refused, never followed.
	home3 := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(home3, "profiles"), 0o755)
	if err := os.Symlink(outside, MustParse(home3, "evil").Dir()); err != nil {
		t.Fatal(err)
	}
	// The hermes uid's Create finds no directory there; root's does not
	// follow the link at all.
	if err := Create(MustParse(home3, "evil")); err == nil || !strings.Contains(err.Error(), "not a directory") && !errors.Is(err, safefs.ErrSymlink) {
		t.Errorf("Create over a symlink = %v, want a refusal", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Create wrote through a symlink: %v", entries)
	}
}

func TestDelete(t *testing.T) {
	home := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "precious"), "keep me")
	for _, n := range []string{"coder", "other"} {
		if err := Create(MustParse(home, n)); err != nil {
			t.Fatal(err)
		}
	}
	dir := MustParse(home, "coder").Dir()
	// Links out of the tree, and a read-only directory inside it.
	os.Symlink(outside, filepath.Join(dir, "workspace", "link"))
	os.Symlink(filepath.Join(outside, "precious"), filepath.Join(dir, "file-link"))
	writeFile(t, filepath.Join(dir, "sessions", "ro", "s.json"), "{}")
	os.Chmod(filepath.Join(dir, "sessions", "ro"), 0o500)
	writeFile(t, filepath.Join(LogDir(MustParse(home, "coder")), "current"), "log")
	if err := SetActive(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	if err := Delete(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there: %v", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "precious")); err != nil || string(b) != "keep me" {
		t.Errorf("a file outside the profile was touched: %q, %v", b, err)
	}
	if got, _ := Resolve(home, ""); got.Name() != Default {
		t.Errorf("active profile after deleting it = %q, want default", got)
	}
	if _, err := os.Stat(filepath.Join(LogDir(MustParse(home, "coder")), "current")); err != nil {
		t.Errorf("the gateway log was removed: %v", err)
	}
	checkTree(t, home, "other")

	// The sticky profile is left alone when another profile is deleted.
	if err := SetActive(MustParse(home, "other")); err != nil {
		t.Fatal(err)
	}
	if err := Create(MustParse(home, "third")); err != nil {
		t.Fatal(err)
	}
	if err := Delete(MustParse(home, "third")); err != nil {
		t.Fatal(err)
	}
	if got, _ := Resolve(home, ""); got.Name() != "other" {
		t.Errorf("active profile = %q, want other", got)
	}

	for _, tc := range []struct{ name, says string }{
		{"coder", "does not exist"},
		{"never", "does not exist"},
		{"default", "root profile"},
		{"Other", "lower-case"},
		{"..", "not allowed"},
	} {
		if err := viaParse(home, tc.name, Delete); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Delete(%q) = %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "profiles")); err != nil {
		t.Errorf("profiles/ gone: %v", err)
	}
}

const concurrentCreates = 50

// checkDistinct checks n complete profiles p0..p(n-1) with distinct ports.
func checkDistinct(t *testing.T, home string, n int) {
	t.Helper()
	ports := map[int]string{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%d", i)
		p := checkTree(t, home, name)
		if other, dup := ports[p]; dup {
			t.Errorf("%s and %s both have port %d", name, other, p)
		}
		ports[p] = name
	}
	if len(ports) != n {
		t.Errorf("%d distinct ports for %d profiles", len(ports), n)
	}
}

func TestConcurrentCreateGoroutines(t *testing.T) {
	home := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, concurrentCreates)
	for i := 0; i < concurrentCreates; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Create(MustParse(home, fmt.Sprintf("p%d", i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	checkDistinct(t, home, concurrentCreates)
}

// helperEnv marks a re-executed test binary that creates one profile.
const helperEnv = "HERMES_PROFILES_TEST_CREATE"

// TestHelperCreate is not a test: it is the body of the helper processes
// of TestConcurrentCreateProcesses.
func TestHelperCreate(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	home, name, _ := strings.Cut(spec, "|")
	if err := Create(MustParse(home, name)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestConcurrentCreateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 50 processes")
	}
	home := t.TempDir()
	cmds := make([]*exec.Cmd, concurrentCreates)
	outs := make([]*strings.Builder, concurrentCreates)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCreate$", "-test.count=1")
		cmd.Env = testenv.ChildEnv(append(os.Environ(), helperEnv+"="+home+"|"+fmt.Sprintf("p%d", i))...)
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		cmds[i] = cmd
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper p%d: %v\n%s", i, err, outs[i])
		}
	}
	checkDistinct(t, home, concurrentCreates)
}
