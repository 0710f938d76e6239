package e2e

// Runtime-core scenarios in containers of the real image (CONTRACT §2-3,
// reference-system.md §7.1 items 5, 7, 8, 17): exit codes, docker stop,
// zombie reaping, docker run -w and -t, and the image's layout.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestImageLayout checks what the Dockerfile promises, without hermes init:
// the user, the paths, their owners and modes, the environment and the
// entrypoint.
func TestImageLayout(t *testing.T) {
	t.Parallel()
	image := testImage(t)

	t.Run("config", func(t *testing.T) {
		t.Parallel()
		var cfg struct {
			Entrypoint []string
			Cmd        []string
			Env        []string
			Volumes    map[string]struct{}
			Labels     map[string]string
		}
		out := mustDocker(t, "image", "inspect", "--format", "{{json .Config}}", image)
		if err := json.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("docker image inspect %s: %v\n%s", image, err, out)
		}
		if got, want := strings.Join(cfg.Entrypoint, " "), "/opt/hermes/bin/hermes init --"; got != want {
			t.Errorf("entrypoint: got %q, want %q", got, want)
		}
		if got, want := strings.Join(cfg.Cmd, " "), "gateway run"; got != want {
			t.Errorf("cmd: got %q, want %q", got, want)
		}
		if _, ok := cfg.Volumes["/opt/data"]; !ok {
			t.Errorf("volumes: got %v, want /opt/data among them", cfg.Volumes)
		}
		env := map[string]string{}
		for _, kv := range cfg.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		for _, kv := range []struct{ key, want string }{
			{"HERMES_HOME", "/opt/data"},
			{"HERMES_DASHBOARD_HOST", "0.0.0.0"},
			{"HERMES_GATEWAY_HOST", "0.0.0.0"},
		} {
			if got := env[kv.key]; got != kv.want {
				t.Errorf("ENV %s: got %q, want %q", kv.key, got, kv.want)
			}
		}
		if got, want := strings.Split(env["PATH"], ":")[0], "/opt/hermes/bin"; got != want {
			t.Errorf("first PATH entry: got %q (PATH=%s), want %q", got, env["PATH"], want)
		}
	})

	t.Run("filesystem", func(t *testing.T) {
		t.Parallel()
		// One container prints one fact per line; the table checks them.
		probe := strings.Join([]string{
			`echo "passwd=$(getent passwd hermes)"`,
			`echo "group=$(getent group hermes)"`,
			`echo "bin=$(stat -c '%u:%g %a %F' /opt/hermes/bin/hermes)"`,
			`echo "home=$(stat -c '%u:%g %a %F' /opt/data)"`,
			`echo "opt=$(stat -c '%u:%g %a' /opt/hermes /opt/hermes/bin | tr '\n' ' ')"`,
			`echo "which=$(command -v hermes)"`,
			`echo "version_exit=$(hermes version >/dev/null 2>&1; echo $?)"`,
			`echo "sha=$(cat /opt/hermes/.hermes_build_sha 2>/dev/null || echo none)"`,
			`echo "tools=$(for c in ps tput script; do command -v $c >/dev/null && printf '%s ' $c; done)"`,
		}, "\n")
		_, r := runContainer(t, containerOpts{Image: image, Entrypoint: "/bin/sh", Args: []string{"-c", probe}}, dockerTimeout)
		if r.Code != 0 {
			t.Fatalf("probe: %s", r)
		}
		facts := map[string]string{}
		for _, line := range strings.Split(r.Stdout, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				facts[k] = strings.TrimSpace(v)
			}
		}
		revision := strings.TrimSpace(mustDocker(t, "image", "inspect", "--format",
			`{{index .Config.Labels "org.opencontainers.image.revision"}}`, image))
		wantSha := revision
		if wantSha == "" {
			wantSha = "none"
		}
		tests := []struct{ fact, want string }{
			{"passwd", "hermes:x:10000:10000:hermes:/opt/data:/bin/sh"},
			{"group", "hermes:x:10000:"},
			{"bin", "0:0 755 regular file"},
			{"home", "10000:10000 755 directory"},
			{"opt", "0:0 755 0:0 755"},
			{"which", "/opt/hermes/bin/hermes"},
			{"version_exit", "0"},
			{"sha", wantSha},
			{"tools", "ps tput script"},
		}
		for _, tt := range tests {
			if got := facts[tt.fact]; got != tt.want {
				t.Errorf("%s: got %q, want %q", tt.fact, got, tt.want)
			}
		}
	})
}

// TestContainerExitCode: the container's exit code is the main command's,
// 128+N when it died of signal N (CONTRACT §3 step 7).
func TestContainerExitCode(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name   string
		script string
		want   int
	}{
		{"exit 0", "exit 0", 0},
		{"exit 42", "exit 42", 42},
		{"killed by SIGKILL", "kill -9 $$", 137},
		{"killed by SIGTERM", "kill -TERM $$", 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, r := runContainer(t, containerOpts{Image: image, Args: []string{"sh", "-c", tt.script}}, dockerTimeout)
			if r.Code != tt.want {
				t.Fatalf("docker run %s sh -c %q: got exit code %d, want %d\n%s", image, tt.script, r.Code, tt.want, r)
			}
			if got, running := inspectExitCode(t, c); running || got != tt.want {
				t.Fatalf("docker inspect: got exit code %d (running %v), want %d, not running", got, running, tt.want)
			}
		})
	}
}

// TestContainerStop: docker stop ends the container well inside Docker's
// 10 s, services included, with the main command's exit code.
func TestContainerStop(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	// ticker dies of SIGTERM at once; stubborn ignores it (its whole process
	// group does) and must be killed when its 2 s stop_grace runs out.
	services := []containerFile{
		{Path: "/etc/hermes/services.d/ticker.yaml", Content: `name: ticker
argv: ["sh", "-c", "while :; do echo tick; sleep 1; done", "hermes-e2e-ticker"]
restart: always
`},
		{Path: "/etc/hermes/services.d/stubborn.yaml", Content: `name: stubborn
argv: ["sh", "-c", "trap '' TERM; while :; do sleep 1; done", "hermes-e2e-stubborn"]
restart: on-failure
stop_grace: "2s"
`},
	}
	tests := []struct {
		name     string
		args     []string
		files    []containerFile
		services []string // argv markers seen running before the stop
		want     int
	}{
		{name: "sleep", args: []string{"sleep", "infinity"}, want: 143},
		{name: "main command traps TERM", args: []string{"sh", "-c", "trap 'exit 7' TERM; sleep infinity & wait"}, want: 7},
		{
			name:     "with services",
			args:     []string{"sleep", "infinity"},
			files:    services,
			services: []string{"hermes-e2e-ticker", "hermes-e2e-stubborn"},
			want:     143,
		},
	}
	const maxStop = 5 * time.Second
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startContainer(t, containerOpts{Image: image, Args: tt.args, Files: tt.files})
			waitReady(t, c, 30*time.Second)
			if len(tt.services) > 0 {
				waitFor(t, 15*time.Second, func() error {
					ps := mustExec(t, c, "", "ps", "axo", "args=")
					for _, s := range tt.services {
						if !strings.Contains(ps, s) {
							return fmt.Errorf("service %s is not running; processes:\n%s", s, indent(ps))
						}
					}
					return nil
				})
			}

			elapsed := stopContainer(t, c, 10)
			if elapsed >= maxStop {
				t.Errorf("docker stop -t 10 took %v, want < %v", elapsed.Round(time.Millisecond), maxStop)
			}
			if got := waitExit(t, c, 5*time.Second); got != tt.want {
				t.Errorf("after docker stop: got exit code %d, want %d", got, tt.want)
			}
			t.Logf("docker stop took %v", elapsed.Round(time.Millisecond))
		})
	}
}

// TestContainerNoZombies: orphans of docker exec are reparented to PID 1,
// which must reap them.
func TestContainerNoZombies(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name   string
		script string
	}{
		{"one orphan", "( (sleep 0.1 &) & ); sleep 1"},
		{"twenty orphans", "for i in $(seq 20); do ( (sleep 0.1 &) & ); done; sleep 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startContainer(t, containerOpts{Image: image, Args: []string{"sleep", "infinity"}})
			waitReady(t, c, 30*time.Second)
			mustExec(t, c, "", "sh", "-c", tt.script)
			waitFor(t, 10*time.Second, func() error {
				ps := mustExec(t, c, "", "ps", "axo", "stat=,pid=,ppid=,comm=")
				var zombies []string
				for _, line := range strings.Split(ps, "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "Z") {
						zombies = append(zombies, strings.TrimSpace(line))
					}
				}
				if len(zombies) > 0 {
					return fmt.Errorf("zombies (stat pid ppid comm): %q", zombies)
				}
				return nil
			})
		})
	}
}

// TestContainerWorkdir: the main command runs in the directory docker run
// -w gave, or in HERMES_HOME when the hermes uid cannot enter it.
func TestContainerWorkdir(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name    string
		workdir string
		want    string
		// warning is a string the stderr must hold ("" checks nothing).
		warning string
	}{
		{name: "-w /tmp", workdir: "/tmp", want: "/tmp"},
		{name: "image WORKDIR", want: "/opt/data"},
		{name: "-w /root is closed to hermes", workdir: "/root", want: "/opt/data", warning: "/root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, r := runContainer(t, containerOpts{Image: image, Workdir: tt.workdir, Args: []string{"sh", "-c", "pwd"}}, dockerTimeout)
			if r.Code != 0 {
				t.Fatalf("docker run -w %q %s sh -c pwd: %s", tt.workdir, image, r)
			}
			if got := lastLine(r.Stdout); got != tt.want {
				t.Fatalf("docker run -w %q: pwd printed %q, want %q\n%s", tt.workdir, got, tt.want, r)
			}
			if !strings.Contains(r.Stderr, tt.warning) {
				t.Fatalf("docker run -w %q: stderr has no warning naming %q\n%s", tt.workdir, tt.warning, r)
			}
		})
	}
}

// ttyProbe prints MARKER=<columns> when its stdout is a terminal, else
// MARKER=NO_TTY.
const ttyProbe = `if [ -t 1 ]; then echo "MARKER=$(tput cols)"; else echo MARKER=NO_TTY; fi`

var markerRE = regexp.MustCompile(`MARKER=([A-Za-z0-9_]+)`)

// TestContainerTTY: with docker run -t the main command holds the terminal;
// without it, it has none.
func TestContainerTTY(t *testing.T) {
	t.Parallel()
	image := testImage(t)

	t.Run("docker run -t", func(t *testing.T) {
		t.Parallel()
		testenv.NeedProgram(t, "script", "give docker run a terminal (Debian package bsdutils)")
		c := newContainer(t, false)
		cmd := strings.Join([]string{"docker", "run", "--rm", "-t", "--name", c.Name,
			"--label", runLabel + "=" + runID, "-e", "COLUMNS=123", image, "sh", "-c", shellQuote(ttyProbe)}, " ")
		r, err := runCommand(dockerTimeout, nil, "script", "-qec", cmd, "/dev/null")
		if err != nil {
			t.Fatalf("script -qec %q: %v", cmd, err)
		}
		if r.Code != 0 {
			t.Fatalf("script -qec %q: %s", cmd, r)
		}
		m := markerRE.FindAllStringSubmatch(r.Stdout, -1)
		if len(m) == 0 {
			t.Fatalf("no MARKER= line in the output of %q:\n%s", cmd, r)
		}
		got := m[len(m)-1][1]
		if n, err := strconv.Atoi(got); err != nil || n <= 0 {
			t.Fatalf("MARKER=%s: want a column count > 0 (stdout is a terminal)\n%s", got, r)
		}
	})

	t.Run("no -t", func(t *testing.T) {
		t.Parallel()
		_, r := runContainer(t, containerOpts{Image: image, Args: []string{"sh", "-c", ttyProbe}}, dockerTimeout)
		if r.Code != 0 {
			t.Fatalf("docker run %s sh -c probe: %s", image, r)
		}
		m := markerRE.FindAllStringSubmatch(r.Stdout, -1)
		if len(m) == 0 {
			t.Fatalf("no MARKER= line in the output:\n%s", r)
		}
		if got, want := m[len(m)-1][1], "NO_TTY"; got != want {
			t.Fatalf("MARKER: got %q, want %q\n%s", got, want, r)
		}
	})
}

// lastLine is the last non-empty line of s, without a carriage return.
func lastLine(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// TestImageFilesFormat: the files that go into or make the image are UTF-8
// without a BOM and LF-only (a CRLF shebang or a BOM breaks a script in the
// container), and every shell script is executable and strict.
func TestImageFilesFormat(t *testing.T) {
	t.Parallel()
	var files []string
	for _, pattern := range []string{"Dockerfile", ".dockerignore", "Makefile", "docker-compose.yml", "script/*", "docker/*", "docker/*/*", "bench/*.sh"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatalf("glob %s: %v", pattern, err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no image files found under %s", repoRoot)
	}
	for _, path := range files {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if fi.IsDir() {
			continue
		}
		rel, _ := filepath.Rel(repoRoot, path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
			t.Errorf("%s: starts with a UTF-8 BOM", rel)
		}
		if bytes.Contains(b, []byte("\r")) {
			t.Errorf("%s: has a carriage return (CRLF line endings?)", rel)
		}
		if strings.HasSuffix(path, ".sh") {
			if fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s: mode %v, want executable", rel, fi.Mode().Perm())
			}
			if !bytes.Contains(b, []byte("\nset -euo pipefail\n")) {
				t.Errorf("%s: no 'set -euo pipefail' line", rel)
			}
		}
	}
}

// TestContainerStopStopsEveryService: docker stop of a container running
// the image's CMD (gateway run, redirected), a second profile's gateway and
// a static service ends well inside Docker's 10 s, and every service was
// stopped by hermes (not killed with the container): both gateways drained
// and recorded gateway_state stopped while keeping desired_state running
// (so that docker start brings them back), and the service ran its SIGTERM
// trap. The files are read from the stopped container with docker cp.
func TestContainerStopStopsEveryService(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Files: []containerFile{{
		Path: "/etc/hermes/services.d/marker.yaml",
		Content: `argv: ["sh", "-c", "trap 'echo term > /opt/data/marker.term; exit 0' TERM; echo trap-set; while :; do sleep 0.1; done"]
restart: always
`,
	}}})
	waitReady(t, c, 30*time.Second)
	mustExec(t, c, "", hermesInContainer, "profile", "create", "second")
	mustExec(t, c, "", hermesInContainer, "-p", "second", "gateway", "start")
	for _, name := range []string{"gateway-default", "gateway-second", "marker"} {
		waitService(t, c, name, 30*time.Second, name+" running", func(s svcStatus) bool { return s.State == "running" })
	}
	// Running is not enough: the marker's shell must have set its trap.
	waitFor(t, 15*time.Second, func() error {
		if log, _ := catIn(t, c, "", "/opt/data/logs/marker/current"); !strings.Contains(log, " trap-set") {
			return fmt.Errorf("the marker service has not set its trap yet")
		}
		return nil
	})
	for _, p := range []string{"/opt/data", "/opt/data/profiles/second"} {
		waitFor(t, 15*time.Second, func() error {
			st, _ := catIn(t, c, "", p+"/gateway_state.json")
			if !strings.Contains(strings.ReplaceAll(st, " ", ""), `"gateway_state":"running"`) {
				return fmt.Errorf("%s/gateway_state.json: %s", p, st)
			}
			return nil
		})
	}

	stopStart := time.Now()
	elapsed := stopContainer(t, c, 10)
	// When the container's init exited, as the engine saw it: tells hermes'
	// shutdown apart from the engine's own latency under load.
	finished, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.FinishedAt}}", c.Name)))
	if err != nil {
		t.Fatalf("docker inspect FinishedAt: %v", err)
	}
	t.Logf("docker stop took %v; the container exited %v after the stop began", elapsed.Round(time.Millisecond), finished.Sub(stopStart).Round(time.Millisecond))
	if elapsed >= 5*time.Second {
		r := docker(t, dockerTimeout, "logs", "-t", "--tail", "40", c.Name)
		t.Errorf("docker stop -t 10 took %v (exited after %v), want < 5s; docker logs -t:\n%s",
			elapsed.Round(time.Millisecond), finished.Sub(stopStart).Round(time.Millisecond), indent(r.Stdout+r.Stderr))
	}
	// gateway run, redirected, ends cleanly on SIGTERM: an intended stop.
	if got := waitExit(t, c, 5*time.Second); got != 0 {
		t.Errorf("exit code %d after docker stop, want 0 (the main command, gateway run, waiting)", got)
	}
	dir := t.TempDir()
	cp := func(path string) string {
		t.Helper()
		dst := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_"))
		mustDocker(t, "cp", c.Name+":"+path, dst)
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, p := range []string{"/opt/data", "/opt/data/profiles/second"} {
		var st struct {
			GatewayState string `json:"gateway_state"`
			DesiredState string `json:"desired_state"`
		}
		raw := cp(p + "/gateway_state.json")
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			t.Fatalf("%s/gateway_state.json: %v\n%s", p, err, raw)
		}
		if st.GatewayState != "stopped" || st.DesiredState != "running" {
			t.Errorf("%s/gateway_state.json after docker stop: gateway_state %q, desired_state %q; want stopped (drained), running (kept)", p, st.GatewayState, st.DesiredState)
		}
	}
	if got := strings.TrimSpace(cp("/opt/data/marker.term")); got != "term" {
		t.Errorf("the marker service's SIGTERM trap did not run (marker.term %q)", got)
	}
}
