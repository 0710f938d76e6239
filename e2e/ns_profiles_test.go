package e2e

// End-to-end tests of profiles, gateways and boot reconciliation with the
// real binary: init as PID 1 of its own PID and network namespace (so that
// every test's gateways can bind 127.0.0.1:8642 at once), stopped and booted
// again on the same HERMES_HOME as `docker restart` does. The CLI runs as
// root from the host side, as `docker exec` does, so the privilege drop is
// exercised too. They need root.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// runningInit is an init booted by boot.
type runningInit struct {
	cmd  *exec.Cmd
	pid  int // host pid of the namespace's PID 1
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// boot starts init (main command: a sleep) in new PID and network
// namespaces on h and waits until it reports ready.
func (h nsHome) boot(t *testing.T, socket string, env ...string) *runningInit {
	t.Helper()
	testenv.NeedProgram(t, "ip", "bring up loopback in the test's network namespace (Debian package iproute2)")
	argv := []string{"unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
		"sh", "-c", `ip link set lo up && exec "$@"`, "sh", hermesBin, "init", "--", "sleep", "100000"}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(hermesBin)+":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"HERMES_HOME="+h.home, "HERMES_CONTROL_SOCKET="+socket, "HERMES_SERVICES_DIR="+h.services)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = h.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &runningInit{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
	})
	r.pid = initPID(t, pidNS, cmd)
	ready := exec.Command(hermesBin, "svc", "ready", "--timeout", "30s")
	ready.Env = append(os.Environ(), "HERMES_CONTROL_SOCKET="+socket, "HERMES_HOME="+h.home)
	if out, err := ready.CombinedOutput(); err != nil {
		t.Fatalf("init never got ready: %v\n%s\ninit's output:\n%s", err, out, r.out.String())
	}
	return r
}

// stop sends SIGTERM to PID 1, as docker stop does, and returns its exit
// code.
func (r *runningInit) stop(t *testing.T) int {
	t.Helper()
	syscall.Kill(r.pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("init did not stop within 15s\n%s", r.out.String())
	}
	return r.cmd.ProcessState.ExitCode()
}

// hermes runs the CLI as root from the host side (as docker exec does).
func (h nsHome) hermes(t *testing.T, socket string, env []string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(hermesBin, args...)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+h.home, "HERMES_CONTROL_SOCKET="+socket)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = h.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmdResult{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

func (h nsHome) mustHermes(t *testing.T, socket string, args ...string) string {
	t.Helper()
	r := h.hermes(t, socket, nil, args...)
	if r.Code != 0 {
		t.Fatalf("hermes %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// svcStates returns name → "want/state" from hermes svc status --json.
func (h nsHome) svcStates(t *testing.T, socket string) map[string]string {
	t.Helper()
	var list []struct{ Name, Want, State string }
	if err := json.Unmarshal([]byte(h.mustHermes(t, socket, "svc", "status", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, s := range list {
		m[s.Name] = s.Want + "/" + s.State
	}
	return m
}

func (h nsHome) waitState(t *testing.T, socket, service, want string) {
	t.Helper()
	testenv.EventuallyNil(t, 20*time.Second, service+" to be "+want, func() error {
		if got := h.svcStates(t, socket)[service]; got != want {
			return fmt.Errorf("it is %q", got)
		}
		return nil
	})
}

func (h nsHome) bootLog(t *testing.T) string {
	b, _ := os.ReadFile(filepath.Join(h.home, "logs", "container-boot.log"))
	return string(b)
}

var bootLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) profile=([a-z0-9_-]+) prior_state=([a-z_]+) action=(started|registered|skipped)$`)

// TestRestartLoop is `docker restart` three times on one home: a running
// gateway is running again after every boot, one stopped by `gateway stop`
// stays down, stale pid files are swept, and the boot log gains one line per
// profile per boot.
func TestRestartLoop(t *testing.T) {
	h := newNSHome(t)
	sock := filepath.Join(h.dir, "control.sock")
	init1 := h.boot(t, sock)
	h.mustHermes(t, sock, "profile", "create", "alpha")
	h.mustHermes(t, sock, "profile", "create", "beta")
	h.mustHermes(t, sock, "-p", "alpha", "gateway", "start")
	h.mustHermes(t, sock, "gateway", "start")
	h.mustHermes(t, sock, "gateway", "stop")
	h.waitState(t, sock, "gateway-alpha", "up/running")
	if code := init1.stop(t); code != 143 {
		t.Errorf("init exit code %d, want 143 (the main command's sleep, killed by TERM)", code)
	}
	for boot := 2; boot <= 4; boot++ {
		// A stale pid file from the dead PID namespace, as docker restart leaves.
		beta := filepath.Join(h.home, "profiles", "beta")
		os.WriteFile(filepath.Join(beta, "gateway.pid"), []byte(`{"pid": 1, "host": "old"}`), 0o644)
		os.WriteFile(filepath.Join(beta, "processes.json"), []byte(`[]`), 0o644)
		before := len(strings.Split(strings.TrimSpace(h.bootLog(t)), "\n"))
		r := h.boot(t, sock)
		h.waitState(t, sock, "gateway-alpha", "up/running")
		states := h.svcStates(t, sock)
		if states["gateway-beta"] != "down/stopped" || states["gateway-default"] != "down/stopped" {
			t.Errorf("boot %d: beta %q, default %q; want both down/stopped", boot, states["gateway-beta"], states["gateway-default"])
		}
		for _, f := range []string{"gateway.pid", "processes.json"} {
			if _, err := os.Stat(filepath.Join(beta, f)); err == nil {
				t.Errorf("boot %d: stale %s of beta not swept", boot, f)
			}
		}
		lines := strings.Split(strings.TrimSpace(h.bootLog(t)), "\n")
		if got := len(lines) - before; got != 3 {
			t.Errorf("boot %d: the boot log gained %d lines, want 3 (default, alpha, beta)", boot, got)
		}
		want := map[string]string{"default": "registered", "alpha": "started", "beta": "registered"}
		for _, l := range lines[len(lines)-3:] {
			m := bootLine.FindStringSubmatch(l)
			if m == nil || want[m[2]] != m[4] {
				t.Errorf("boot %d: boot log line %q, want %v", boot, l, want)
			}
		}
		if code := r.stop(t); code != 143 {
			t.Errorf("boot %d: exit code %d, want 143", boot, code)
		}
	}
}

// TestBootRepairsOwnership: files root dropped into profiles/ (docker exec
// as root) belong to the hermes uid after the next boot, and a symlink
// planted there to /etc/shadow is not followed.
func TestBootRepairsOwnership(t *testing.T) {
	h := newNSHome(t)
	sock := filepath.Join(h.dir, "control.sock")
	h.boot(t, sock).stop(t)
	alpha := filepath.Join(h.home, "profiles", "alpha")
	os.MkdirAll(filepath.Join(alpha, "memories"), 0o700)
	os.WriteFile(filepath.Join(alpha, "SOUL.md"), []byte("alpha\n"), 0o600)
	os.WriteFile(filepath.Join(alpha, "memories", "note.md"), []byte("x"), 0o600)
	var shadow syscall.Stat_t
	if err := syscall.Stat("/etc/shadow", &shadow); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/etc/shadow", filepath.Join(alpha, "memories", "evil"))
	h.boot(t, sock).stop(t)
	for _, p := range []string{alpha, filepath.Join(alpha, "SOUL.md"), filepath.Join(alpha, "memories"), filepath.Join(alpha, "memories", "note.md")} {
		var st syscall.Stat_t
		syscall.Lstat(p, &st)
		if st.Uid != 10000 || st.Gid != 10000 {
			t.Errorf("%s owned by %d:%d after the boot, want 10000:10000", p, st.Uid, st.Gid)
		}
	}
	var after syscall.Stat_t
	syscall.Stat("/etc/shadow", &after)
	if after.Uid != shadow.Uid || after.Gid != shadow.Gid || after.Mode != shadow.Mode {
		t.Fatalf("/etc/shadow changed: %d:%d %o -> %d:%d %o", shadow.Uid, shadow.Gid, shadow.Mode, after.Uid, after.Gid, after.Mode)
	}
}

// TestExecDropOwnership: hermes config set run as root (docker exec)
// leaves config.yaml owned by the hermes uid; HERMES_DOCKER_EXEC_AS_ROOT=1
// keeps root; every other spelling still drops.
func TestExecDropOwnership(t *testing.T) {
	h := newNSHome(t)
	sock := filepath.Join(h.dir, "control.sock")
	r := h.boot(t, sock)
	defer r.stop(t)
	cfg := filepath.Join(h.home, "config.yaml")
	tests := []struct {
		env     []string
		wantUID uint32
	}{
		{nil, 10000},
		{[]string{"HERMES_DOCKER_EXEC_AS_ROOT=1"}, 0},
		{[]string{"HERMES_DOCKER_EXEC_AS_ROOT=0"}, 10000},
		{[]string{"HERMES_DOCKER_EXEC_AS_ROOT=false"}, 10000},
		{[]string{"HERMES_DOCKER_EXEC_AS_ROOT=no"}, 10000},
		{[]string{"HERMES_DOCKER_EXEC_AS_ROOT=off"}, 10000},
		{[]string{"HERMES_DOCKER_EXEC_AS_ROOT=garbage"}, 10000},
	}
	for i, tt := range tests {
		os.Remove(cfg)
		res := h.hermes(t, sock, tt.env, "config", "set", "model.name", fmt.Sprint("marker-", i))
		if res.Code != 0 {
			t.Fatalf("%v: %s", tt.env, res)
		}
		var st syscall.Stat_t
		syscall.Stat(cfg, &st)
		if st.Uid != tt.wantUID {
			t.Errorf("%v: config.yaml owned by uid %d, want %d", tt.env, st.Uid, tt.wantUID)
		}
	}
	// No file under the home is left unreadable by the hermes uid.
	os.Remove(cfg)
	h.mustHermes(t, sock, "config", "set", "model.name", "marker")
	cmd := exec.Command("setpriv", "--reuid", "10000", "--regid", "10000", "--clear-groups", "find", h.home, "-maxdepth", "2", "-type", "f", "!", "-readable", "-print")
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("files unreadable by the hermes uid: %s %v", out, err)
	}
}

// TestTwoInitsOneHome: a second init on the same home starts no gateway,
// logs action=skipped, and its CLI reaches the owner's supervisor; when the
// owner goes away, the second one takes over and starts the gateways.
func TestTwoInitsOneHome(t *testing.T) {
	h := newNSHome(t)
	sockA, sockB := filepath.Join(h.dir, "a.sock"), filepath.Join(h.dir, "b.sock")
	a := h.boot(t, sockA)
	h.mustHermes(t, sockA, "gateway", "start")
	h.waitState(t, sockA, "gateway-default", "up/running")
	b := h.boot(t, sockB)
	defer b.stop(t)
	if !strings.Contains(h.bootLog(t), "profile=default prior_state=running action=skipped") {
		t.Errorf("the second init's boot log lacks action=skipped:\n%s", h.bootLog(t))
	}
	for name := range h.svcStates(t, sockB) {
		if strings.HasPrefix(name, "gateway-") {
			t.Errorf("the second init has its own %s: a non-owner must never run duplicate gateways", name)
		}
	}
	// gateway restart from the second container reaches the first's supervisor.
	out := h.mustHermes(t, sockB, "gateway", "restart")
	if !strings.Contains(out, "gateway-default running") {
		t.Errorf("gateway restart through the second init: %q", out)
	}
	var list []struct {
		Name     string
		Restarts int
		PID      int
	}
	json.Unmarshal([]byte(h.mustHermes(t, sockA, "svc", "status", "--json")), &list)
	h.waitState(t, sockA, "gateway-default", "up/running")
	// The owner goes away: the second init takes over and starts the
	// gateway that was running.
	a.stop(t)
	h.waitState(t, sockB, "gateway-default", "up/running")
	health := h.mustHermes(t, sockB, "svc", "ready", "--json")
	if !strings.Contains(health, `"owner": true`) && !strings.Contains(health, `"owner":true`) {
		t.Errorf("after the take-over, health = %s, want owner true", health)
	}
}

// TestUnusableHomeStopsBoot: a home owned by another uid with mode 0700,
// where chown is refused (a user namespace without that uid: as on rootless
// Podman or a NAS), stops the boot with a message naming the path, owner,
// mode and the fix.
func TestUnusableHomeStopsBoot(t *testing.T) {
	h := newNSHome(t)
	os.Chown(h.home, 12345, 12345)
	os.Chmod(h.home, 0o700)
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc", hermesBin, "init", "--", "true")
	cmd.Env = append(os.Environ(), "HERMES_HOME="+h.home, "HERMES_CONTROL_SOCKET="+filepath.Join(h.dir, "c.sock"), "HERMES_SERVICES_DIR="+h.services)
	out, _ := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	if code != 1 {
		t.Errorf("exit code %d, want 1\n%s", code, out)
	}
	for _, want := range []string{h.home, "0700", "HERMES_UID"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("preflight message lacks %q:\n%s", want, out)
		}
	}
}

// TestConcurrentProfiles: fifty profiles created and then deleted at once
// leave distinct ports, a supervisor table that matches the profiles, and
// no half-made tree.
func TestConcurrentProfiles(t *testing.T) {
	h := newNSHome(t)
	sock := filepath.Join(h.dir, "control.sock")
	r := h.boot(t, sock)
	defer r.stop(t)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := h.hermes(t, sock, nil, "profile", "create", fmt.Sprintf("p%02d", i)); res.Code != 0 || res.Stderr != "" {
				errs <- res.String()
			}
		}()
	}
	wg.Wait()
	ports := map[string]string{}
	for i := range 50 {
		p := fmt.Sprintf("p%02d", i)
		b, err := os.ReadFile(filepath.Join(h.home, "profiles", p, "config.yaml"))
		port := regexp.MustCompile(`port: (\d+)`).FindStringSubmatch(string(b))
		if err != nil || port == nil {
			t.Fatalf("%s has no port: %v", p, err)
		}
		if other, dup := ports[port[1]]; dup {
			t.Errorf("%s and %s share port %s", p, other, port[1])
		}
		ports[port[1]] = p
	}
	for i := 0; i < 50; i += 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := h.hermes(t, sock, nil, "profile", "delete", "-y", fmt.Sprintf("p%02d", i)); res.Code != 0 {
				errs <- res.String()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	states := h.svcStates(t, sock)
	for i := range 50 {
		p := fmt.Sprintf("p%02d", i)
		_, slot := states["gateway-"+p]
		_, err := os.Stat(filepath.Join(h.home, "profiles", p, "SOUL.md"))
		if want := i%2 == 1; slot != want || (err == nil) != want {
			t.Errorf("%s: slot %v, SOUL.md %v; want both %v", p, slot, err == nil, want)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(h.home, "profiles"))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), "p") {
			t.Errorf("unexpected entry in profiles/: %s", e.Name())
		}
	}
}
