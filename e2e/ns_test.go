package e2e

// End-to-end tests of hermes init with the real binary: as PID 1 of a new
// PID namespace (unshare --pid --fork --mount-proc), and the same cases
// outside one, where init is a child subreaper. They need root (unshare,
// and init drops the main command to the hermes uid 10000).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// initMode is how init is started.
type initMode string

const (
	pidNS     initMode = "pidns"     // PID 1 of a new PID namespace
	subreaper initMode = "subreaper" // a plain child process: a child subreaper
)

var modes = []initMode{pidNS, subreaper}

// nsHome is a HERMES_HOME, control socket and services dir for one init.
type nsHome struct {
	dir, home, socket, services string
}

func newNSHome(t *testing.T) nsHome {
	t.Helper()
	testenv.NeedRoot(t, "start init in a PID namespace and drop the main command to uid 10000")
	// Not t.TempDir: its parent is 0700, and the main command runs as
	// uid 10000.
	dir, err := os.MkdirTemp("", "hermes-ns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := nsHome{dir: dir, home: filepath.Join(dir, "home"), socket: filepath.Join(dir, "run", "control.sock"), services: filepath.Join(dir, "services.d")}
	for _, d := range []string{h.home, h.services} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(h.home, 10000, 10000); err != nil {
		t.Fatal(err)
	}
	return h
}

// service writes a services.d file.
func (h nsHome) service(t *testing.T, name, yaml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(h.services, name+".yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// initCmd returns the command that runs hermes init with args as its main
// command in the given mode.
func (h nsHome) initCmd(mode initMode, env []string, args ...string) *exec.Cmd {
	argv := append([]string{hermesBin, "init", "--"}, args...)
	if mode == pidNS {
		argv = append([]string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		// As in the image: hermes first on PATH, nothing root-only on it.
		"PATH="+filepath.Dir(hermesBin)+":/usr/local/bin:/usr/bin:/bin",
		"HERMES_HOME="+h.home,
		"HERMES_CONTROL_SOCKET="+h.socket,
		"HERMES_SERVICES_DIR="+h.services,
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = h.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runInit runs init to completion (bounded) and returns its output and code.
func (h nsHome) runInit(t *testing.T, mode initMode, env []string, args ...string) cmdResult {
	t.Helper()
	cmd := h.initCmd(mode, env, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("init did not exit within 60s\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	return cmdResult{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

// initPID returns the host pid of init: the started process in subreaper
// mode, the namespace's PID 1 (unshare's child) otherwise.
func initPID(t *testing.T, mode initMode, cmd *exec.Cmd) int {
	t.Helper()
	if mode == subreaper {
		return cmd.Process.Pid
	}
	var pid int
	testenv.Eventually(t, 10*time.Second, "PID 1 of the namespace to appear", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return false
		}
		var err error
		pid, err = strconv.Atoi(f[0])
		return err == nil
	})
	return pid
}

// startInit starts cmd (an init that h.initCmd made) with its output in
// the returned buffer. When the test ends it sends it SIGTERM and waits for
// it (SIGKILL after 15 s), then calls last with the output; a nil last
// logs the output of a failed test.
func startInit(t *testing.T, cmd *exec.Cmd, last func(out *lockedBuffer)) *lockedBuffer {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if last != nil {
			last(out)
		} else if t.Failed() {
			t.Logf("init's output:\n%s", out)
		}
	})
	return out
}

// waitReady polls hermes svc ready against the init's socket.
func (h nsHome) waitReady(t *testing.T) {
	t.Helper()
	cmd := exec.Command(hermesBin, "svc", "ready", "--timeout", "20s")
	cmd.Env = append(os.Environ(), "HERMES_CONTROL_SOCKET="+h.socket, "HERMES_HOME="+h.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hermes svc ready: %v\n%s", err, out)
	}
}

func TestInitExitCodes(t *testing.T) {
	tests := []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 42", 42},
		{"kill -INT $$", 130},
		{"kill -KILL $$", 137},
		{"kill -TERM $$", 143},
	}
	for _, mode := range modes {
		for _, tt := range tests {
			t.Run(string(mode)+"/"+tt.script, func(t *testing.T) {
				t.Parallel()
				h := newNSHome(t)
				r := h.runInit(t, mode, nil, "sh", "-c", tt.script)
				if r.Code != tt.want {
					t.Errorf("init exit code = %d, want %d\n%s", r.Code, tt.want, r)
				}
			})
		}
	}
}

func TestInitNotFound(t *testing.T) {
	h := newNSHome(t)
	r := h.runInit(t, subreaper, nil, "/nonexistent/program")
	if r.Code != 127 || !strings.Contains(r.Stderr, "/nonexistent/program") {
		t.Errorf("got code %d, stderr %q; want 127 naming the program", r.Code, r.Stderr)
	}
}

// TestInitForwardsTERM: SIGTERM to init reaches the main command, whose own
// code is returned, and every service got SIGTERM (not the kernel's KILL).
func TestInitForwardsTERM(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newNSHome(t)
			markers := filepath.Join(h.dir, "markers")
			if err := os.MkdirAll(markers, 0o777); err != nil {
				t.Fatal(err)
			}
			os.Chmod(markers, 0o777)
			for i := range 3 {
				h.service(t, fmt.Sprintf("svc%d", i), fmt.Sprintf(
					`argv: ["sh", "-c", "trap 'touch %s/svc%d; exit 0' TERM; echo up; while :; do sleep 0.05; done"]`+"\n", markers, i))
			}
			// The main command says when its trap is set: the TERM must not
			// arrive before it.
			trapped := filepath.Join(markers, "main-trapped")
			cmd := h.initCmd(mode, nil, "sh", "-c", `trap 'exit 7' TERM; touch `+trapped+`; while :; do sleep 0.05; done`)
			var out testenv.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			h.waitReady(t)
			testenv.EventuallyNil(t, 10*time.Second, "the main command to set its trap", func() error {
				if _, err := os.Stat(trapped); err != nil {
					return fmt.Errorf("%v\n%s", err, out.String())
				}
				return nil
			})
			for i := range 3 {
				log := filepath.Join(h.home, "logs", fmt.Sprintf("svc%d", i), "current")
				testenv.Eventually(t, 10*time.Second, fmt.Sprintf("svc%d to set its trap", i), func() bool {
					b, _ := os.ReadFile(log)
					return strings.Contains(string(b), " up\n")
				})
			}
			pid := initPID(t, mode, cmd)
			start := time.Now()
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			took := time.Since(start)
			if got := cmd.ProcessState.ExitCode(); got != 7 {
				t.Errorf("exit code = %d (%v), want the main command's 7\n%s", got, err, out.String())
			}
			if took > 3*time.Second {
				t.Errorf("shutdown took %v, want well under the 8s budget", took)
			}
			for i := range 3 {
				if _, err := os.Stat(filepath.Join(markers, fmt.Sprintf("svc%d", i))); err != nil {
					t.Errorf("svc%d did not get SIGTERM: %v", i, err)
				}
			}
		})
	}
}

// TestInitKillsMainAfterBudget: a main command that ignores SIGTERM is
// killed when HERMES_STOP_GRACE runs out: 137, promptly.
func TestInitKillsMainAfterBudget(t *testing.T) {
	h := newNSHome(t)
	h.service(t, "stubborn", `argv: ["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]`+"\nstop_grace: 30s\n")
	// The main command says when it ignores SIGTERM: a TERM sent before
	// its trap would end it with 143.
	trapped := filepath.Join(h.home, "trapped") // the main command runs as the hermes uid
	cmd := h.initCmd(pidNS, []string{"HERMES_STOP_GRACE=1s"}, "sh", "-c", `trap '' TERM; : > "$0"; while :; do sleep 0.05; done`, trapped)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitReady(t)
	testenv.EventuallyNil(t, 10*time.Second, "the main command to ignore SIGTERM", func() error {
		_, err := os.Stat(trapped)
		return err
	})
	pid := initPID(t, pidNS, cmd)
	start := time.Now()
	syscall.Kill(pid, syscall.SIGTERM)
	cmd.Wait()
	took := time.Since(start)
	if got := cmd.ProcessState.ExitCode(); got != 137 {
		t.Errorf("exit code = %d, want 137 (main killed after the budget)", got)
	}
	if took < 900*time.Millisecond || took > 4*time.Second {
		t.Errorf("shutdown took %v, want about the 1s budget", took)
	}
}

// TestInitReapsOrphans: 1000 orphans made by the main command are reaped
// and no zombie is left.
func TestInitReapsOrphans(t *testing.T) {
	// The main command makes 1000 orphans that exit at once, waits, then
	// counts zombies among its parent's (init's) children.
	script := `i=0; while [ $i -lt 1000 ]; do (sleep 0.2 &); i=$((i+1)); done
sleep 1.5
z=0
for f in /proc/[0-9]*/stat; do
  read -r line < "$f" 2>/dev/null || continue
  rest=${line##*) }
  set -- $rest
  [ "$1" = Z ] && [ "$2" = "$PPID" ] && z=$((z+1))
done
echo zombies=$z`
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newNSHome(t)
			r := h.runInit(t, mode, nil, "sh", "-c", script)
			if r.Code != 0 || !strings.Contains(r.Stdout, "zombies=0") {
				t.Errorf("want exit 0 and zombies=0\n%s", r)
			}
		})
	}
}

// TestInitMainCommandEnvironment: the main command runs as the hermes uid
// with the full environment, HERMES_HOME, the preserved working directory,
// an empty signal mask and default dispositions; HOME is HERMES_HOME in a
// container and left alone outside one (this machine may be either).
func TestInitMainCommandEnvironment(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newNSHome(t)
			wd := filepath.Join(h.dir, "work dir")
			os.MkdirAll(wd, 0o755)
			cmd := h.initCmd(mode, []string{"FOO=bar baz", "HOME=/root/keep"}, "sh", "-c",
				`echo "pwd=$(pwd)"; echo "foo=$FOO"; echo "home=$HOME"; echo "hermes_home=$HERMES_HOME"; echo "sock=$HERMES_CONTROL_SOCKET"; echo "uid=$(id -u):$(id -g)"; exec grep -E '^Sig(Blk|Ign)' /proc/self/status`)
			cmd.Dir = wd
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			wantHome := "/root/keep"
			if hostenv.OS().InContainer() {
				wantHome = h.home
			}
			for _, want := range []string{
				"pwd=" + wd, "foo=bar baz", "home=" + wantHome, "hermes_home=" + h.home,
				"sock=" + h.socket, "uid=10000:10000",
				"SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestInitUnenterableWorkdir: when the hermes uid cannot enter the working
// directory, the main command starts in HERMES_HOME with a warning.
func TestInitUnenterableWorkdir(t *testing.T) {
	h := newNSHome(t)
	wd := filepath.Join(h.dir, "private")
	os.MkdirAll(wd, 0o700)
	cmd := h.initCmd(subreaper, nil, "sh", "-c", `echo "pwd=$(pwd)"`)
	cmd.Dir = wd
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pwd="+h.home) || !strings.Contains(string(out), "cannot enter") {
		t.Errorf("want pwd=%s and a warning:\n%s", h.home, out)
	}
}

// TestInitTTY: under a terminal (script gives a pty), the main command is
// the terminal's foreground process group and tput works.
func TestInitTTY(t *testing.T) {
	testenv.NeedProgram(t, "script", "give init a pseudo-terminal (Debian package bsdutils)")
	testenv.NeedProgram(t, "tput", "probe the terminal (Debian package ncurses-bin)")
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newNSHome(t)
			inner := h.initCmd(mode, nil, "sh", "-c",
				`stty cols 123; if [ -t 1 ]; then echo "MARKER=$(tput cols)"; else echo MARKER=NO_TTY; fi; set -- $(ps -o pgid=,tpgid= -p $$); echo "PGID=$1 TPGID=$2"`)
			quoted := make([]string, len(inner.Args))
			for i, a := range inner.Args {
				quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
			}
			cmd := exec.Command("script", "-qec", strings.Join(quoted, " "), "/dev/null")
			cmd.Env, cmd.Dir = inner.Env, inner.Dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			text := strings.ReplaceAll(string(out), "\r", "")
			if !strings.Contains(text, "MARKER=123") {
				t.Errorf("want MARKER=123 (a terminal in the main command):\n%s", text)
			}
			sc := bufio.NewScanner(strings.NewReader(text))
			for sc.Scan() {
				var pgid, tpgid int
				if n, _ := fmt.Sscanf(sc.Text(), "PGID=%d TPGID=%d", &pgid, &tpgid); n == 2 && pgid != tpgid {
					t.Errorf("main command's group %d is not the terminal's foreground group %d", pgid, tpgid)
				}
			}
		})
	}
}

// TestInitServicesAndSvc: services from HERMES_SERVICES_DIR run as the
// hermes uid, their output reaches the container's stdout raw and their log
// file with timestamps, and hermes svc works from the main command.
func TestInitServicesAndSvc(t *testing.T) {
	h := newNSHome(t)
	h.service(t, "greeter", `argv: ["sh", "-c", "echo hello from $(id -u); while :; do sleep 0.05; done"]`+"\n")
	r := h.runInit(t, pidNS, nil, "sh", "-c",
		`hermes svc ready --timeout 10s && for i in $(seq 100); do grep -q hello "$HERMES_HOME/logs/greeter/current" 2>/dev/null && break; sleep 0.05; done; hermes svc status`)
	if r.Code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	if !strings.Contains(r.Stdout, "hello from 10000\n") {
		t.Errorf("the service's line did not reach stdout raw:\n%s", r)
	}
	if !strings.Contains(r.Stdout, "greeter") || !strings.Contains(r.Stdout, "running") {
		t.Errorf("hermes svc status does not show greeter running:\n%s", r)
	}
	b, err := os.ReadFile(filepath.Join(h.home, "logs", "greeter", "current"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z", strings.SplitN(line, " ", 2)[0]); err != nil || !strings.HasSuffix(line, " hello from 10000") {
		t.Errorf("log line %q: want '<ISO-8601 UTC> hello from 10000' (%v)", line, err)
	}
	fi, err := os.Stat(filepath.Join(h.home, "logs", "greeter", "current"))
	if err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 10000 || fi.Mode().Perm() != 0o640 {
			t.Errorf("log file owner %d mode %v, want 10000 and 0640", st.Uid, fi.Mode().Perm())
		}
	}
}

// TestInitHostMode: a non-root user with no configuration at all (no
// HERMES_HOME, no socket variable) outside a container gets a working init
// and svc. This machine may itself be a container, so the test runs in a
// mount namespace whose root is an overlay of / with the container markers
// whited out.
func TestInitHostMode(t *testing.T) {
	testenv.NeedRoot(t, "make a mount namespace and run init as an unprivileged uid")
	testenv.NeedProgram(t, "setpriv", "switch to an unprivileged uid (Debian package util-linux)")
	testenv.NeedProgram(t, "unshare", "make a mount namespace (Debian package util-linux)")
	dir, err := os.MkdirTemp("", "hermes-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	home := filepath.Join(dir, "user")
	os.Mkdir(home, 0o755)
	os.Chown(home, 12345, 12345)
	ov := filepath.Join(dir, "ov")
	os.Mkdir(ov, 0o755)
	script := `set -e
ov=$1; home=$2; hermes=$3
mount -t tmpfs tmpfs "$ov"
mkdir -p "$ov/upper" "$ov/work" "$ov/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$ov/upper,workdir=$ov/work" "$ov/root"
rm -f "$ov/root/.dockerenv" "$ov/root/run/.containerenv"
mount --rbind /proc "$ov/root/proc"
mount --rbind /dev "$ov/root/dev"
mount -t tmpfs tmpfs "$ov/root/run"
cd "$ov/root$home"
exec chroot "$ov/root" setpriv --reuid 12345 --regid 12345 --clear-groups \
  env -i PATH="$(dirname "$hermes"):/usr/bin:/bin" HOME="$home" sh -c 'cd "$HOME" && exec "$0" init -- sh -c "hermes svc ready --timeout 10s && echo uid=\$(id -u) sock=\$HERMES_CONTROL_SOCKET home=\$HERMES_HOME && hermes svc status"' "$hermes"`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", ov, home, hermesBin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"uid=12345", "sock=/tmp/hermes-12345/control.sock", "home=" + filepath.Join(home, ".hermes")} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
