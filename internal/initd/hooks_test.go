package initd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary is also a hook: with HERMES_TEST_HOOK=1 it plays the
// role named by the part of its file name after the first dash (the tests
// link it into a hook directory as "10-record", "20-sleep", ...). This runs
// before TestMain, so it does not disturb reaper_test.go's children.
func init() {
	if os.Getenv("HERMES_TEST_HOOK") != "1" {
		return
	}
	_, role, _ := strings.Cut(filepath.Base(os.Args[0]), "-")
	os.Exit(hookRole(role))
}

// hookReport is what the "record" role appends to $HOOK_OUT, one JSON line
// per run.
type hookReport struct {
	Name      string   `json:"name"`
	Args      []string `json:"args"`
	Probe     string   `json:"probe"`
	StdinNull bool     `json:"stdin_null"`
	OwnGroup  bool     `json:"own_group"`
	UID       int      `json:"uid"`
}

func hookRole(role string) int {
	out := os.Getenv("HOOK_OUT")
	switch role {
	case "record":
		var null, in unix.Stat_t
		_ = unix.Stat(os.DevNull, &null)
		_ = unix.Fstat(0, &in)
		rep := hookReport{
			Name:      filepath.Base(os.Args[0]),
			Args:      os.Args[1:],
			Probe:     os.Getenv("HOOK_PROBE"),
			StdinNull: in.Rdev == null.Rdev && in.Mode&unix.S_IFMT == unix.S_IFCHR,
			OwnGroup:  unix.Getpgrp() == os.Getpid(),
			UID:       os.Getuid(),
		}
		b, _ := json.Marshal(rep)
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 99
		}
		fmt.Fprintf(f, "%s\n", b)
		f.Close()
		code, _ := strconv.Atoi(os.Getenv("HOOK_EXIT"))
		return code
	case "sleep", "stubborn":
		if role == "stubborn" {
			signal.Ignore(unix.SIGTERM)
		}
		// A grandchild in the same process group, which cancellation must
		// reach too.
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
		if err != nil {
			return 98
		}
		_ = os.WriteFile(out, fmt.Appendf(nil, "%d %d\n", os.Getpid(), p.Pid), 0o644)
		time.Sleep(time.Minute)
		return 0
	}
	return 97
}

// startReaper runs a Reaper for one test and waits for it to stop at the
// end, so that no wait4(-1) loop outlives the test.
func startReaper(t *testing.T) *Reaper {
	t.Helper()
	r := NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// linkHook makes the test binary the hook dir/name.
func linkHook(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Symlink(self(t), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func tempStderr(t *testing.T) (*os.File, func() string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func() string {
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
}

func readReports(t *testing.T, path string) []hookReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []hookReport
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r hookReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("hook report %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestRunHooksOrderArgumentsEnvironment(t *testing.T) {
	r := startReaper(t)
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	for _, n := range []string{"30-record", "10-record", "20-record"} {
		linkHook(t, dir, n)
	}
	writeScript(t, dir, "README", "not a hook\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "15-subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	stderr, readStderr := tempStderr(t)
	args := []string{"gateway", "run", "--flag with space"}
	// GORACE: a race-enabled hook would otherwise sleep 1 s at exit.
	env := []string{"HERMES_TEST_HOOK=1", "HOOK_OUT=" + out, "HOOK_PROBE=probe-value", "GORACE=atexit_sleep_ms=0"}
	if err := RunHooks(context.Background(), r, dir, args, env, os.Stdout, stderr); err != nil {
		t.Fatalf("RunHooks: %v", err)
	}
	reps := readReports(t, out)
	var names []string
	for _, rep := range reps {
		names = append(names, rep.Name)
		if strings.Join(rep.Args, "|") != strings.Join(args, "|") {
			t.Errorf("%s got args %q, want the main command's %q", rep.Name, rep.Args, args)
		}
		if rep.Probe != "probe-value" {
			t.Errorf("%s got HOOK_PROBE=%q, want the given env", rep.Name, rep.Probe)
		}
		if !rep.StdinNull {
			t.Errorf("%s: stdin is not /dev/null", rep.Name)
		}
		if !rep.OwnGroup {
			t.Errorf("%s: not the leader of its own process group", rep.Name)
		}
		if rep.UID != os.Getuid() {
			t.Errorf("%s ran as uid %d, want the caller's %d", rep.Name, rep.UID, os.Getuid())
		}
	}
	if got := strings.Join(names, " "); got != "10-record 20-record 30-record" {
		t.Errorf("hooks ran in order %q, want lexical order", got)
	}
	warn := readStderr()
	if !strings.Contains(warn, "README") || !strings.Contains(warn, "not executable") {
		t.Errorf("no warning for the non-executable README; stderr:\n%s", warn)
	}
}

func TestRunHooksShellScripts(t *testing.T) {
	r := startReaper(t)
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	writeScript(t, dir, "01-first", "#!/bin/sh\necho \"first $# [$1] [$2] $GREETING\" >>\"$OUT\"\n", 0o755)
	writeScript(t, dir, "02-fails", "#!/bin/sh\necho fails >>\"$OUT\"\necho 'hook says why' >&2\nexit 3\n", 0o755)
	writeScript(t, dir, "03-never", "#!/bin/sh\necho never >>\"$OUT\"\n", 0o755)
	stderr, _ := tempStderr(t)
	err := RunHooks(context.Background(), r, dir, []string{"a b", "c"}, []string{"OUT=" + out, "GREETING=hello"}, os.Stdout, stderr)
	var ec ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 3 {
		t.Fatalf("RunHooks = %v, want an ExitCoder with the hook's code 3", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "02-fails")) || !strings.Contains(err.Error(), "status 3") {
		t.Errorf("error %q does not name the hook and its status", err)
	}
	b, _ := os.ReadFile(out)
	if got, want := string(b), "first 2 [a b] [c] hello\nfails\n"; got != want {
		t.Errorf("hooks wrote %q, want %q (and nothing after the failing hook)", got, want)
	}
}

func TestRunHooksExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		script string // "" links the test binary as a "record" hook exiting 42
		mode   os.FileMode
		code   int
		msg    string
	}{
		{"binary-exit", "", 0, 42, "status 42"},
		{"killed", "#!/bin/sh\nkill -KILL $$\n", 0o755, 137, "SIGKILL"},
		{"terminated", "#!/bin/sh\nkill -TERM $$\n", 0o755, 143, "SIGTERM"},
		{"no-interpreter", "#!/nonexistent/interpreter\n", 0o755, 127, "could not be started"},
		{"not-a-program", "just text, no interpreter line\n", 0o755, 126, "could not be started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startReaper(t)
			dir := t.TempDir()
			name := "50-" + tt.name
			if tt.script == "" {
				name = "50-record"
				linkHook(t, dir, name)
			} else {
				writeScript(t, dir, name, tt.script, tt.mode)
			}
			env := []string{"HERMES_TEST_HOOK=1", "HOOK_OUT=" + filepath.Join(t.TempDir(), "out"), "HOOK_EXIT=42"}
			stderr, _ := tempStderr(t)
			err := RunHooks(context.Background(), r, dir, nil, env, os.Stdout, stderr)
			var ec ExitCoder
			if !errors.As(err, &ec) || ec.ExitCode() != tt.code {
				t.Fatalf("RunHooks = %v, want exit code %d", err, tt.code)
			}
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q should name %s and say %q", err, name, tt.msg)
			}
		})
	}
}

func TestRunHooksNoHooks(t *testing.T) {
	r := startReaper(t)
	stderr, readStderr := tempStderr(t)
	if err := RunHooks(context.Background(), r, filepath.Join(t.TempDir(), "missing"), nil, nil, os.Stdout, stderr); err != nil {
		t.Errorf("missing dir: %v, want no hooks and no error", err)
	}
	dir := t.TempDir()
	writeScript(t, dir, "10-off", "#!/bin/sh\nexit 1\n", 0o644)
	if err := RunHooks(context.Background(), r, dir, nil, nil, os.Stdout, stderr); err != nil {
		t.Errorf("only a non-executable file: %v, want it skipped", err)
	}
	if !strings.Contains(readStderr(), "10-off") {
		t.Errorf("no warning naming the skipped 10-off: %q", readStderr())
	}
}

func TestRunHooksAlreadyCancelled(t *testing.T) {
	r := startReaper(t)
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	writeScript(t, dir, "10-x", "#!/bin/sh\necho ran >>\"$OUT\"\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := RunHooks(ctx, r, dir, nil, []string{"OUT=" + out}, os.Stdout, os.Stderr)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RunHooks = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a hook ran after the boot was cancelled")
	}
}

// TestRunHooksCancellation: SIGTERM during boot reaches the running hook's
// whole process group, and RunHooks returns promptly (after the SIGKILL
// grace for a hook that ignores SIGTERM).
func TestRunHooksCancellation(t *testing.T) {
	for _, tt := range []struct {
		role string
		max  time.Duration
	}{
		{"sleep", time.Second},
		{"stubborn", hookTermGrace + hookKillWait + time.Second},
	} {
		t.Run(tt.role, func(t *testing.T) {
			r := startReaper(t)
			dir := t.TempDir()
			out := filepath.Join(t.TempDir(), "out")
			linkHook(t, dir, "10-"+tt.role)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				errc <- RunHooks(ctx, r, dir, nil, []string{"HERMES_TEST_HOOK=1", "HOOK_OUT=" + out}, os.Stdout, os.Stderr)
			}()
			var pids []int
			deadline := time.Now().Add(10 * time.Second)
			for len(pids) < 2 {
				if time.Now().After(deadline) {
					t.Fatal("the hook never reported its pid")
				}
				time.Sleep(10 * time.Millisecond)
				b, _ := os.ReadFile(out)
				if !strings.HasSuffix(string(b), "\n") {
					continue
				}
				for _, f := range strings.Fields(string(b)) {
					p, _ := strconv.Atoi(f)
					pids = append(pids, p)
				}
			}
			start := time.Now()
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("RunHooks = %v, want an error wrapping context.Canceled", err)
				}
				if d := time.Since(start); d > tt.max {
					t.Errorf("RunHooks returned %s after the cancellation, want within %s", d, tt.max)
				}
			case <-time.After(tt.max + 5*time.Second):
				t.Fatal("RunHooks did not return after the cancellation")
			}
			for _, p := range pids {
				waitGone(t, p)
			}
		})
	}
}

// waitGone waits until pid no longer runs (gone or a zombie awaiting its
// new parent).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := unix.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d of the cancelled hook's group is still running", pid)
}

// TestHasHooks: only a missing or empty directory has no hooks; any entry
// may be one.
func TestHasHooks(t *testing.T) {
	dir := t.TempDir()
	if HasHooks(filepath.Join(dir, "missing")) {
		t.Error("a missing directory has hooks")
	}
	if HasHooks(dir) {
		t.Error("an empty directory has hooks")
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !HasHooks(dir) {
		t.Error("a directory with an entry has none")
	}
}
