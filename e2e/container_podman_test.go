package e2e

// The image under Debian's Podman, rootful and rootless. The image comes
// over from the Docker engine (docker save | podman load) once per run and
// per store, and is removed when the run ends (cleanupPodman). Rootless
// Podman runs as the test user podmanUser (created when missing, with its
// /etc/subuid and /etc/subgid ranges, the vfs storage driver and cgroupfs
// in its ~/.config/containers), through setpriv.
//
// Every container gets lower limits of open files and processes than
// Podman's defaults (podmanUlimits): its defaults, and its --ulimit host,
// ask for 1048576 open files, which root cannot grant without
// CAP_SYS_RESOURCE. Without systemd Podman cannot schedule the image's
// HEALTHCHECK, so the containers run with --no-healthcheck. The rootful
// containers have no network (--network none: nothing is added to the
// host's); requests go through podman exec, or, for the rootless one that
// publishes its gateway through slirp4netns, to 127.0.0.1.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

const (
	// podmanUser is the user of the rootless tests.
	podmanUser = "hermes-podman"
	// podmanUserHome is its home, where its Podman storage lives.
	podmanUserHome = "/var/lib/hermes-podman"
	// podmanSubIDs is how many subordinate ids it gets (the image's
	// hermes uid 10000 must fall inside).
	podmanSubIDs = 65536
)

// podman is one Podman store: rootful (as root) or rootless (as podmanUser).
type podman struct {
	mode  string // "rootful" or "rootless"
	uid   int    // the user Podman runs as
	gid   int
	image string // the test image as this store names it
}

var podmanStores struct {
	mu     sync.Mutex
	stores map[string]*podman
	errs   map[string]error
}

// podmanStore returns the store of mode with the test image loaded,
// setting it up on first use; it skips (fails in CI) when Podman or what
// the mode needs is missing.
func podmanStore(t *testing.T, mode string) *podman {
	t.Helper()
	testenv.NeedProgram(t, "podman", "run the image under Podman (Debian package podman)")
	if mode == "rootless" {
		testenv.NeedProgram(t, "newuidmap", "map a rootless user's ids (Debian package uidmap)")
		testenv.NeedProgram(t, "slirp4netns", "give rootless Podman a network (Debian package slirp4netns)")
		testenv.NeedProgram(t, "setpriv", "run Podman as the rootless user (Debian package util-linux)")
		testenv.NeedProgram(t, "useradd", "create the rootless user (Debian package passwd)")
		testenv.NeedRoot(t, "create the rootless Podman tests' user")
	}
	image := testImage(t)
	podmanStores.mu.Lock()
	defer podmanStores.mu.Unlock()
	if podmanStores.stores == nil {
		podmanStores.stores, podmanStores.errs = map[string]*podman{}, map[string]error{}
	}
	if p, ok := podmanStores.stores[mode]; ok {
		return p
	}
	if err, ok := podmanStores.errs[mode]; ok {
		t.Fatalf("setting up %s Podman: %v", mode, err)
	}
	p := &podman{mode: mode}
	err := p.setUp(t, image)
	if err != nil {
		podmanStores.errs[mode] = err
		t.Fatalf("setting up %s Podman: %v", mode, err)
	}
	podmanStores.stores[mode] = p
	return p
}

// setUp prepares the store (the user and its configuration when rootless)
// and loads image into it.
func (p *podman) setUp(t *testing.T, image string) error {
	if p.mode == "rootless" {
		if err := ensurePodmanUser(); err != nil {
			return err
		}
		u, err := user.Lookup(podmanUser)
		if err != nil {
			return err
		}
		p.uid, _ = strconv.Atoi(u.Uid)
		p.gid, _ = strconv.Atoi(u.Gid)
	}
	start := time.Now()
	save := exec.Command("docker", "save", image)
	load := p.command("load")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	var out, saveErr bytes.Buffer
	load.Stdout, load.Stderr, save.Stderr = &out, &out, &saveErr
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save %s: %w", image, err)
	}
	lerr := load.Run()
	if serr := save.Wait(); serr != nil || lerr != nil {
		return fmt.Errorf("docker save %s | podman load: %v %v\n%s%s", image, serr, lerr, saveErr.String(), out.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "Loaded image: "); ok {
			p.image = strings.TrimSpace(name)
		}
	}
	if p.image == "" {
		return fmt.Errorf("podman load named no image:\n%s", out.String())
	}
	t.Logf("%s Podman: loaded %s as %s in %v", p.mode, image, p.image, time.Since(start).Round(time.Millisecond))
	return nil
}

// ensurePodmanUser creates podmanUser when it is missing, gives it
// subordinate ids when it has none, and writes its Podman configuration:
// the vfs storage driver (no fuse-overlayfs, no kernel overlay in a user
// namespace needed), cgroupfs (no systemd user session) and a file event
// log (no journald).
func ensurePodmanUser() error {
	if _, err := user.Lookup(podmanUser); err != nil {
		out, err := exec.Command("useradd", "--create-home", "--home-dir", podmanUserHome, "--shell", "/usr/sbin/nologin",
			"--comment", "hermes rootless Podman tests", podmanUser).CombinedOutput()
		if err != nil {
			if _, lerr := user.Lookup(podmanUser); lerr != nil {
				return fmt.Errorf("useradd %s: %v\n%s", podmanUser, err, out)
			}
		}
	}
	for _, f := range []struct{ file, flag string }{{"/etc/subuid", "--add-subuids"}, {"/etc/subgid", "--add-subgids"}} {
		b, _ := os.ReadFile(f.file)
		first, has := 100000, false
		for _, l := range strings.Split(string(b), "\n") {
			fields := strings.Split(l, ":")
			if len(fields) != 3 {
				continue
			}
			if fields[0] == podmanUser {
				has = true
			}
			start, _ := strconv.Atoi(fields[1])
			n, _ := strconv.Atoi(fields[2])
			first = max(first, start+n)
		}
		if !has {
			rng := fmt.Sprintf("%d-%d", first, first+podmanSubIDs-1)
			if out, err := exec.Command("usermod", f.flag, rng, podmanUser).CombinedOutput(); err != nil {
				return fmt.Errorf("usermod %s %s %s: %v\n%s", f.flag, rng, podmanUser, err, out)
			}
		}
	}
	u, err := user.Lookup(podmanUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(u.HomeDir, ".config", "containers")
	files := map[string]string{
		"storage.conf":    "[storage]\ndriver = \"vfs\"\n",
		"containers.conf": "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
	}
	for _, d := range []string{filepath.Join(u.HomeDir, ".config"), dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// command is podman with args, as the store's user.
func (p *podman) command(args ...string) *exec.Cmd {
	if p.mode != "rootless" {
		return exec.Command("podman", args...)
	}
	u := strconv.Itoa(p.uid)
	cmd := exec.Command("setpriv", append([]string{"--reuid", u, "--regid", strconv.Itoa(p.gid), "--init-groups", "--", "podman"}, args...)...)
	cmd.Env = []string{"HOME=" + podmanUserHome, "USER=" + podmanUser, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
	cmd.Dir = podmanUserHome
	return cmd
}

// run runs podman with args and returns its result; the test fails when it
// cannot run or runs out of time.
func (p *podman) run(t *testing.T, timeout time.Duration, args ...string) cmdResult {
	t.Helper()
	cmd := p.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	expired := !timer.Stop()
	r := cmdResult{Stdout: stdout.String(), Stderr: podmanNoise(stderr.String()), Code: cmd.ProcessState.ExitCode()}
	if expired {
		t.Fatalf("%s podman %s: no answer within %v\n%s", p.mode, strings.Join(args, " "), timeout, r)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s podman %s: %v", p.mode, strings.Join(args, " "), err)
	}
	return r
}

// podmanNoise drops the lines Podman prints on every command of a host
// without systemd or shared mounts, which say nothing about the test.
func podmanNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "is not a shared mount") || strings.Contains(l, "systemd connection") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// must runs podman with args, which must succeed, and returns stdout.
func (p *podman) must(t *testing.T, args ...string) string {
	t.Helper()
	r := p.run(t, dockerTimeout, args...)
	if r.Code != 0 {
		t.Fatalf("%s podman %s: %s", p.mode, strings.Join(args, " "), r)
	}
	return r.Stdout
}

// podmanUlimits are the open-files and process limits of the test
// containers: at most the test process's own hard limits, which root may
// pass on without CAP_SYS_RESOURCE (Podman's default and its --ulimit host
// ask for 1048576 open files), and at most 32768 processes, the limit
// Podman 4.3 sets on itself and on conmon, which the container may not
// exceed either.
func podmanUlimits(t *testing.T) []string {
	t.Helper()
	var flags []string
	for _, l := range []struct {
		name     string
		resource int
		most     uint64
	}{{"nofile", syscall.RLIMIT_NOFILE, 1 << 20}, {"nproc", 6 /* RLIMIT_NPROC */, 32768}} {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(l.resource, &rl); err != nil {
			t.Fatal(err)
		}
		n := min(rl.Max, l.most)
		flags = append(flags, "--ulimit", fmt.Sprintf("%s=%d:%d", l.name, n, n))
	}
	return flags
}

// podmanContainer is a test's Podman container, removed when the test ends.
type podmanContainer struct {
	p    *podman
	name string
}

// runFlags are the flags of every test container (see the file's doc).
func (p *podman) runFlags(t *testing.T, c *podmanContainer) []string {
	return append([]string{"--name", c.name, "--label", runLabel + "=" + runID, "--no-healthcheck"}, podmanUlimits(t)...)
}

// newPodmanContainer names a container and registers its removal; on
// failure its logs go to the test log first.
func (p *podman) newContainer(t *testing.T) *podmanContainer {
	t.Helper()
	c := &podmanContainer{p: p, name: containerName(t)}
	t.Cleanup(func() {
		if t.Failed() {
			r := p.run(t, dockerTimeout, "logs", "--tail", "60", c.name)
			t.Logf("%s podman container %s logs:\n%s", p.mode, c.name, indent(r.Stdout+r.Stderr))
		}
		if r := p.run(t, dockerTimeout, "rm", "-f", "-v", c.name); r.Code != 0 && !strings.Contains(r.Stderr, "no such container") {
			t.Errorf("podman rm %s: %s", c.name, r)
		}
	})
	return c
}

// start starts a detached container of the test image with flags and args.
func (p *podman) start(t *testing.T, flags []string, args ...string) *podmanContainer {
	t.Helper()
	c := p.newContainer(t)
	run := append([]string{"run", "-d"}, p.runFlags(t, c)...)
	run = append(run, flags...)
	run = append(run, p.image)
	p.must(t, append(run, args...)...)
	return c
}

// exec runs args in c (as root unless flags say otherwise).
func (c *podmanContainer) exec(t *testing.T, flags []string, args ...string) cmdResult {
	t.Helper()
	return c.p.run(t, dockerTimeout, append(append(append([]string{"exec"}, flags...), c.name), args...)...)
}

// mustExec runs args in c, which must succeed, and returns stdout.
func (c *podmanContainer) mustExec(t *testing.T, args ...string) string {
	t.Helper()
	r := c.exec(t, nil, args...)
	if r.Code != 0 {
		t.Fatalf("%s podman exec %s %s: %s", c.p.mode, c.name, strings.Join(args, " "), r)
	}
	return r.Stdout
}

// waitReady waits until c's supervisor reports boot ready.
func (c *podmanContainer) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, 60*time.Second, func() error {
		r := c.exec(t, nil, hermesInContainer, "svc", "ready", "--timeout", "2s")
		if r.Code == 0 {
			return nil
		}
		if st := strings.TrimSpace(c.p.must(t, "inspect", "--format", "{{.State.Status}}", c.name)); st != "running" {
			t.Fatalf("%s podman container %s is %s before it was ready:\n%s", c.p.mode, c.name, st, c.p.run(t, dockerTimeout, "logs", c.name))
		}
		return fmt.Errorf("hermes svc ready: %s", r)
	})
}

// waitGateway waits until profile's gateway in c is running, wanted up,
// and answers its readiness probe on port, through podman exec.
func (c *podmanContainer) waitGateway(t *testing.T, profile string, port int) {
	t.Helper()
	waitFor(t, 30*time.Second, func() error {
		r := c.exec(t, nil, hermesInContainer, "-p", profile, "gateway", "status")
		if r.Code != 0 || !strings.Contains(r.Stdout, "running") {
			return fmt.Errorf("gateway status of %s: %s", profile, r)
		}
		p := c.exec(t, []string{"--user", hermesUser}, "timeout", "10", "bash", "-c", httpProbeScript, "probe", strconv.Itoa(port), "GET", probeReady, "")
		if p.Code != 0 || !strings.Contains(strings.SplitN(p.Stdout, "\n", 2)[0], " 200 ") {
			return fmt.Errorf("%s of %s on port %d: %s", probeReady, profile, port, p)
		}
		return nil
	})
}

// exitCode returns c's exit code once it has stopped.
func (c *podmanContainer) exitCode(t *testing.T) int {
	t.Helper()
	out := strings.TrimSpace(c.p.must(t, "wait", c.name))
	code, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("podman wait %s: %q", c.name, out)
	}
	return code
}

// cleanupPodman removes the images this run loaded into Podman (called by
// cleanupContainerRun); the containers went with their tests.
func cleanupPodman() {
	podmanStores.mu.Lock()
	defer podmanStores.mu.Unlock()
	for _, p := range podmanStores.stores {
		if out, err := p.command("rmi", "-f", p.image).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removing %s from %s Podman: %v\n%s", p.image, p.mode, err, out)
		}
	}
	podmanStores.stores = nil
}

// TestPodman runs the scenarios that matter under Podman, rootful and
// rootless: exit codes, podman stop inside its 10 s with every service,
// logs, the exec drop to the hermes user, a restart that brings back the
// gateways that were running, and what Podman does differently
// (/run/.containerenv, no CAP_AUDIT_WRITE, the user namespace).
func TestPodman(t *testing.T) {
	for _, mode := range []string{"rootful", "rootless"} {
		t.Run(mode, func(t *testing.T) {
			p := podmanStore(t, mode)
			net := []string{"--network", "none"}

			t.Run("exit codes", func(t *testing.T) {
				for _, tt := range []struct {
					script string
					want   int
				}{{"exit 0", 0}, {"exit 42", 42}, {"kill -TERM $$", 143}, {"kill -KILL $$", 137}} {
					c := p.newContainer(t)
					r := p.run(t, dockerTimeout, append(append(append([]string{"run"}, p.runFlags(t, c)...), net...), p.image, "sh", "-c", tt.script)...)
					if r.Code != tt.want {
						t.Errorf("podman run %s sh -c %q: exit code %d, want %d\n%s", p.image, tt.script, r.Code, tt.want, r)
					}
				}
			})

			// HERMES_INIT_VERBOSE: the logs subtest reads the reconciler's
			// routine line.
			c := p.start(t, append([]string{"-e", "HERMES_INIT_VERBOSE=1"}, net...))
			c.waitReady(t)
			c.waitGateway(t, "default", gatewayPort)

			t.Run("podman differs", func(t *testing.T) {
				if r := c.exec(t, nil, "test", "-f", "/run/.containerenv"); r.Code != 0 {
					t.Errorf("no /run/.containerenv: %s", r)
				}
				// hermes knows it is in a container from /run/.containerenv
				// alone (no /.dockerenv): the services get HOME=HERMES_HOME.
				if r := c.exec(t, nil, "test", "-e", "/.dockerenv"); r.Code == 0 {
					t.Errorf("/.dockerenv exists under Podman: this test no longer shows that /run/.containerenv suffices")
				}
				var st struct {
					Service struct{ PID int } `json:"service"`
				}
				if err := json.Unmarshal([]byte(c.mustExec(t, hermesInContainer, "gateway", "status", "--json")), &st); err != nil || st.Service.PID == 0 {
					t.Fatalf("gateway status --json: pid %d (%v)", st.Service.PID, err)
				}
				pid := strconv.Itoa(st.Service.PID)
				r := c.exec(t, []string{"--user", hermesUser}, "sh", "-c", "tr '\\0' '\\n' </proc/"+pid+"/environ")
				if env := "\n" + r.Stdout; r.Code != 0 || !strings.Contains(env, "\nHOME=/opt/data\n") {
					t.Errorf("the gateway (pid %s) has no HOME=/opt/data: hermes did not take Podman's container for one:\n%s", pid, r)
				}
				status := c.mustExec(t, "grep", "^CapEff:", "/proc/1/status")
				caps, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(status, "CapEff:")), 16, 64)
				if err != nil {
					t.Fatalf("CapEff %q: %v", status, err)
				}
				const capAuditWrite = 29
				if caps&(1<<capAuditWrite) != 0 {
					t.Errorf("init has CAP_AUDIT_WRITE (%x): this test no longer shows that hermes does without it", caps)
				}
				// The user namespace (rootless): root and the hermes uid are
				// other ids on the host, and the volume is the hermes uid's
				// inside.
				uidMap := c.mustExec(t, "cat", "/proc/self/uid_map")
				if mode == "rootless" && strings.Fields(uidMap)[1] == "0" {
					t.Errorf("rootless, yet root in the container is root on the host:\n%s", uidMap)
				}
				if owner := strings.TrimSpace(c.mustExec(t, "stat", "-c", "%u:%g", "/opt/data/.env")); owner != hermesUser {
					t.Errorf("/opt/data/.env is owned by %s, want %s", owner, hermesUser)
				}
			})

			t.Run("exec drop and restart", func(t *testing.T) {
				// podman exec as root runs hermes as the hermes user.
				c.mustExec(t, hermesInContainer, "profile", "create", "work")
				if owner := strings.TrimSpace(c.mustExec(t, "stat", "-c", "%u:%g", "/opt/data/profiles/work/SOUL.md")); owner != hermesUser {
					t.Errorf("podman exec hermes profile create wrote files owned by %s, want the hermes user %s", owner, hermesUser)
				}
				if id := strings.TrimSpace(c.mustExec(t, "id", "-u")); id != "0" {
					t.Errorf("podman exec id -u = %s: only hermes commands drop to the hermes user", id)
				}
				c.mustExec(t, hermesInContainer, "-p", "work", "gateway", "start")
				workPort, err := strconv.Atoi(strings.TrimSpace(c.mustExec(t, hermesInContainer, "-p", "work", "config", "get", "gateway.port")))
				if err != nil {
					t.Fatal(err)
				}
				c.waitGateway(t, "work", workPort)

				start := time.Now()
				c.p.must(t, "restart", c.name)
				t.Logf("podman restart took %v", time.Since(start).Round(time.Millisecond))
				c.waitReady(t)
				c.waitGateway(t, "default", gatewayPort)
				c.waitGateway(t, "work", workPort)
			})

			t.Run("logs", func(t *testing.T) {
				r := p.run(t, dockerTimeout, "logs", c.name)
				logs := r.Stdout + r.Stderr
				for _, want := range []string{"hermes init: seeded", "gateway default: gateway running", "gateway work: gateway running", "reconcile: profile=work prior_state=running action=started"} {
					if !strings.Contains(logs, want) {
						t.Errorf("podman logs has no %q:\n%s", want, indent(logs))
					}
				}
			})

			t.Run("stop", func(t *testing.T) {
				start := time.Now()
				p.must(t, "stop", c.name) // Podman's default: SIGTERM, then SIGKILL after 10 s
				elapsed := time.Since(start)
				if elapsed >= 5*time.Second {
					t.Errorf("podman stop took %v, want well inside its 10 s", elapsed.Round(time.Millisecond))
				}
				if code := c.exitCode(t); code != 0 {
					t.Errorf("after podman stop: exit code %d, want 0 (the gateway's intended stop)", code)
				}
				t.Logf("podman stop took %v", elapsed.Round(time.Millisecond))
			})

			if mode == "rootless" {
				t.Run("keep-id with a bind mount", func(t *testing.T) { podmanKeepID(t, p) })
			}
		})
	}
}

// podmanKeepID: rootless with --userns=keep-id, the home a bind mount of
// the user's own directory: the container runs as the user's uid, which
// owns what hermes writes there; the gateway answers on a port published
// on 127.0.0.1 through slirp4netns.
func podmanKeepID(t *testing.T, p *podman) {
	dir, err := os.MkdirTemp(podmanUserHome, "bind-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, p.uid, p.gid); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ids := fmt.Sprintf("%d:%d", p.uid, p.gid)
	c := p.start(t, []string{"--userns=keep-id", "-v", dir + ":/opt/data", "-p", fmt.Sprintf("127.0.0.1:%d:%d", port, gatewayPort),
		"-e", "HERMES_UID=" + strconv.Itoa(p.uid), "-e", "HERMES_GID=" + strconv.Itoa(p.gid)})
	c.waitReady(t)
	if id := strings.TrimSpace(c.mustExec(t, "id", "-u")); id != strconv.Itoa(p.uid) {
		t.Errorf("under keep-id, podman exec runs as uid %s, want the user's %d", id, p.uid)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, probeReady)
	waitFor(t, 30*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
		}
		return nil
	})
	for _, name := range []string{".env", "config.yaml", "SOUL.md", "logs"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, name), &st); err != nil {
			t.Errorf("the bind mount has no %s: %v", name, err)
			continue
		}
		if got := fmt.Sprintf("%d:%d", st.Uid, st.Gid); got != ids {
			t.Errorf("%s in the bind mount is owned by %s on the host, want the user's %s", name, got, ids)
		}
	}
	r := p.run(t, dockerTimeout, "logs", c.name)
	if logs := r.Stdout + r.Stderr; strings.Contains(logs, "warning: running as uid") {
		t.Errorf("with HERMES_UID set to the keep-id uid, init still warns:\n%s", indent(logs))
	}
	start := time.Now()
	p.must(t, "stop", c.name)
	if elapsed := time.Since(start); elapsed >= 5*time.Second {
		t.Errorf("podman stop took %v, want well inside its 10 s", elapsed.Round(time.Millisecond))
	}
	if code := c.exitCode(t); code != 0 {
		t.Errorf("after podman stop: exit code %d, want 0", code)
	}
}
