package gateway

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// The test binary plays the other processes of these tests: TestMain runs
// the role named by HERMES_GATEWAY_TEST_HELPER instead of the tests.
// testWait is the lock wait of the tests' writers: long enough for the
// concurrent writers of the stress tests to take turns.
var testWait = safefs.Wait{Max: 10 * time.Second}

func TestMain(m *testing.M) {
	if role := os.Getenv("HERMES_GATEWAY_TEST_HELPER"); role != "" {
		os.Exit(helper(role))
	}
	os.Exit(m.Run())
}

// helper runs a role with its arguments from the environment, and returns
// the exit code.
func helper(role string) int {
	dir := os.Getenv("HERMES_GATEWAY_TEST_DIR")
	n, _ := strconv.Atoi(os.Getenv("HERMES_GATEWAY_TEST_N"))
	switch role {
	case "desired": // RecordDesired n times on home=dir, profile default
		for i := range n {
			want := []string{DesiredRunning, DesiredStopped}[i%2]
			if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(dir, "default"), State: want, Owner: safefs.Keep, At: time.Unix(int64(i), 0), Wait: testWait}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return 0
	case "runtime": // UpdateRuntime n times on dir, pid = i
		for i := range n {
			err := UpdateRuntime(dir, func(r *Runtime) { r.State, r.PID = StateRunning, i })
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return 0
	case "hold", "hold-ignore-term": // hold dir's pid lock until SIGTERM
		term := make(chan os.Signal, 1)
		if role == "hold-ignore-term" {
			signal.Ignore(syscall.SIGTERM)
		} else {
			signal.Notify(term, syscall.SIGTERM)
		}
		drain, _ := time.ParseDuration(os.Getenv("HERMES_GATEWAY_TEST_DRAIN"))
		l, err := lockPID(dir, false, drain)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("locked")
		<-term
		l.Release()
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper role", role)
	return 2
}

// startHelper starts the test binary in role with dir and extra
// environment; args end up in its command line (a holder that should look
// like a gateway gets "gateway", "run"). The process is killed when the
// test ends.
func startHelper(t *testing.T, role, dir string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = testenv.ChildEnv(append(os.Environ(), "HERMES_GATEWAY_TEST_HELPER="+role, "HERMES_GATEWAY_TEST_DIR="+dir)...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	return cmd
}

// holdLock starts a helper that holds dir's pid lock and returns it once
// the lock is held. The helper is killed when the test ends.
func holdLock(t *testing.T, role, dir string, drain time.Duration, args ...string) *exec.Cmd {
	t.Helper()
	cmd := startHelper(t, role, dir, map[string]string{"HERMES_GATEWAY_TEST_DRAIN": drain.String()}, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder said %q, %v; want locked", line, err)
	}
	return cmd
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// writeFile writes a test fixture.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
