package e2e

// Probes of a running test container that the reference's tests made with
// tools our test base does not have, and helpers shared by the scenario
// files (container_*_test.go):
//
//   - HTTP from inside the container: the reference ran its image's Python
//     (urllib); our base (Debian minbase + procps, ncurses-bin, util-linux)
//     has neither Python nor curl, so probeHTTP speaks HTTP/1.0 through
//     bash's /dev/tcp (Debian's bash is built with network redirections).
//   - Listening sockets: like the reference (the image has no ss or
//     netstat), /proc/net/tcp and /proc/net/tcp6 of the container's network
//     namespace, read with cat.
//   - Processes: procps' ps and pgrep are in the base, as in the reference;
//     /proc/<pid>/environ and cmdline are read as the process's own uid.
//   - Service state: hermes svc status --json (there is no s6-svstat).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// svcStatus is the part of a service's status (CONTRACT §4) the tests read.
type svcStatus struct {
	Name     string `json:"name"`
	Want     string `json:"want"`
	State    string `json:"state"`
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	Reason   string `json:"reason"`
	LastExit *struct {
		Code   *int   `json:"code"`
		Signal string `json:"signal"`
	} `json:"last_exit"`
	UID int `json:"uid"`
}

func (s svcStatus) String() string {
	last := "-"
	if s.LastExit != nil {
		switch {
		case s.LastExit.Code != nil:
			last = "exit " + strconv.Itoa(*s.LastExit.Code)
		case s.LastExit.Signal != "":
			last = s.LastExit.Signal
		}
	}
	return fmt.Sprintf("%s want %s, %s, pid %d, restarts %d, last %s, reason %q", s.Name, s.Want, s.State, s.PID, s.Restarts, last, s.Reason)
}

// svcStatuses returns every service's status in c by name (hermes svc
// status --json as the hermes uid).
func svcStatuses(t *testing.T, c *container) map[string]svcStatus {
	t.Helper()
	out := mustExec(t, c, "", hermesInContainer, "svc", "status", "--json")
	var list []svcStatus
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("hermes svc status --json in %s: %v\n%s", c.Name, err, out)
	}
	m := make(map[string]svcStatus, len(list))
	for _, s := range list {
		m[s.Name] = s
	}
	return m
}

// waitService polls the status of service until ok accepts it and returns
// that status; the test fails with the last status seen after timeout.
func waitService(t *testing.T, c *container, service string, timeout time.Duration, what string, ok func(svcStatus) bool) svcStatus {
	t.Helper()
	var got svcStatus
	waitFor(t, timeout, func() error {
		st, found := svcStatuses(t, c)[service]
		if !found {
			return fmt.Errorf("%s: no service %s in hermes svc status", what, service)
		}
		got = st
		if !ok(st) {
			return fmt.Errorf("%s: %s", what, st)
		}
		return nil
	})
	return got
}

// proc is one line of ps in a container.
type proc struct {
	PID, PPID, UID int
	Args           string
}

// procsIn lists the processes of c (ps, as the hermes uid; the ps process
// itself and the docker exec are left out).
func procsIn(t *testing.T, c *container) []proc {
	t.Helper()
	out := mustExec(t, c, "", "ps", "-eo", "pid=,ppid=,uid=,args=")
	var ps []proc
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		var p proc
		var err1, err2, err3 error
		p.PID, err1 = strconv.Atoi(f[0])
		p.PPID, err2 = strconv.Atoi(f[1])
		p.UID, err3 = strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("ps in %s: unexpected line %q", c.Name, line)
		}
		p.Args = strings.Join(f[3:], " ")
		if p.PPID == 0 && p.PID != 1 || strings.HasPrefix(p.Args, "ps -eo") {
			continue // docker exec'd processes have parent 0
		}
		ps = append(ps, p)
	}
	return ps
}

func formatProcs(ps []proc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%d %d %d %s\n", p.PID, p.PPID, p.UID, p.Args)
	}
	return indent("pid ppid uid args\n" + b.String())
}

// procEnv returns the environment of pid in c, read from /proc as user
// ("" is the hermes uid: the services' own uid may read it).
func procEnv(t *testing.T, c *container, user string, pid int) map[string]string {
	t.Helper()
	r := dockerExec(t, c, user, "cat", fmt.Sprintf("/proc/%d/environ", pid))
	if r.Code != 0 {
		t.Fatalf("reading the environment of pid %d in %s: %s", pid, c.Name, r)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(r.Stdout, "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// procCmdline returns the argv of pid in c.
func procCmdline(t *testing.T, c *container, pid int) []string {
	t.Helper()
	r := dockerExec(t, c, "", "cat", fmt.Sprintf("/proc/%d/cmdline", pid))
	if r.Code != 0 {
		t.Fatalf("reading the command line of pid %d in %s: %s", pid, c.Name, r)
	}
	return strings.Split(strings.TrimSuffix(r.Stdout, "\x00"), "\x00")
}

// listeningPorts returns the TCP ports in LISTEN state (st 0A) in c's
// network namespace, IPv4 and IPv6, from /proc/net/tcp{,6}: the test base
// has no ss or netstat (neither had the reference's image).
func listeningPorts(t *testing.T, c *container) map[int]bool {
	t.Helper()
	r := dockerExec(t, c, "", "cat", "/proc/net/tcp", "/proc/net/tcp6")
	if r.Code != 0 {
		t.Fatalf("reading /proc/net/tcp{,6} in %s: %s", c.Name, r)
	}
	ports := map[int]bool{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		// sl local_address rem_address st ...
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			ports[int(n)] = true
		}
	}
	return ports
}

// httpAnswer is one HTTP answer read inside a container.
type httpAnswer struct {
	Status int
	Header string // the header lines, as sent
	Body   string
}

// errNoAnswer says that nothing answered: connection refused, or no status
// line within the probe's time.
var errNoAnswer = errors.New("no HTTP answer")

// httpProbeScript sends one HTTP/1.0 request from bash (arguments: port,
// method, path, extra header line or "") and copies the raw answer to
// stdout; exit 97 when the connection is refused. HTTP/1.0 with
// Connection: close makes the server send the body as it is (no chunks)
// and close the connection at its end.
const httpProbeScript = `exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 97
{
	printf '%s %s HTTP/1.0\r\n' "$2" "$3"
	printf 'Host: 127.0.0.1:%s\r\nAccept: application/json\r\nConnection: close\r\n' "$1"
	[ -n "$4" ] && printf '%s\r\n' "$4"
	printf '\r\n'
} >&3
cat <&3`

// probeHTTP sends one request to 127.0.0.1:port inside c, as the hermes
// uid, and returns the answer. Any HTTP status is an answer (the
// reference's probe once treated a 401 as "not ready": its §8 item 14);
// errNoAnswer is returned when nothing answered.
//
// The reference probed with its image's Python urllib; our test base has no
// Python and no curl, so the request goes through bash's /dev/tcp.
func probeHTTP(t *testing.T, c *container, port int, method, path, header string) (httpAnswer, error) {
	t.Helper()
	r := dockerExecTimeout(t, c, "", 30*time.Second, "timeout", "10", "bash", "-c", httpProbeScript, "probe",
		strconv.Itoa(port), method, path, header)
	if r.Code == 97 || r.Code == 124 && r.Stdout == "" {
		return httpAnswer{}, fmt.Errorf("%w on 127.0.0.1:%d (%s %s): %s", errNoAnswer, port, method, path, strings.TrimSpace(r.Stderr))
	}
	head, body, _ := strings.Cut(r.Stdout, "\r\n\r\n")
	statusLine, header, _ := strings.Cut(head, "\r\n")
	f := strings.Fields(statusLine)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return httpAnswer{}, fmt.Errorf("%w on 127.0.0.1:%d (%s %s): %q (%s)", errNoAnswer, port, method, path, r.Stdout, r)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return httpAnswer{}, fmt.Errorf("%w: status line %q", errNoAnswer, statusLine)
	}
	return httpAnswer{Status: code, Header: header, Body: body}, nil
}

// waitHTTP polls probeHTTP until something answers (any status), and
// returns that answer; the test fails after timeout.
func waitHTTP(t *testing.T, c *container, timeout time.Duration, port int, method, path string) httpAnswer {
	t.Helper()
	var a httpAnswer
	waitFor(t, timeout, func() error {
		var err error
		a, err = probeHTTP(t, c, port, method, path, "")
		if err != nil {
			if _, running := inspectExitCode(t, c); !running {
				t.Fatalf("container %s exited while waiting for %s %s on port %d", c.Name, method, path, port)
			}
		}
		return err
	})
	return a
}

// catIn returns the content of a file in c, read as user ("" is the hermes
// uid); ok is false when it cannot be read.
func catIn(t *testing.T, c *container, user, path string) (string, bool) {
	t.Helper()
	r := dockerExec(t, c, user, "cat", path)
	return r.Stdout, r.Code == 0
}

// statIn returns `stat -c FORMAT path` in c as root ("" when the path does
// not exist).
func statIn(t *testing.T, c *container, format, path string) string {
	t.Helper()
	r := dockerExec(t, c, "0:0", "stat", "-c", format, path)
	if r.Code != 0 {
		return ""
	}
	return strings.TrimSpace(r.Stdout)
}

var extraImages struct {
	mu   sync.Mutex
	tags []string
}

// buildVariantImage builds an image of this run from the binary made with
// goFlags (go build flags, e.g. -buildvcs=false) and the given baked commit
// ("" bakes none), through script/image.sh like the main test image. It is
// removed when the run ends.
func buildVariantImage(t *testing.T, name string, goFlags []string, gitSha string) string {
	t.Helper()
	requireDocker(t)
	if os.Getenv("HERMES_TEST_IMAGE") != "" {
		t.Skip("skipping: HERMES_TEST_IMAGE is set; this test builds its own image variant")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hermes")
	args := append([]string{"build", "-trimpath"}, goFlags...)
	args = append(args, "-o", bin, "./cmd/hermes")
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	tag := "hermes-e2e-" + name + ":" + runID
	imgArgs := []string{"--binary", bin, "--tag", tag, "--git-sha", gitSha}
	if base := os.Getenv("HERMES_TEST_BASE_IMAGE"); base != "" {
		imgArgs = append(imgArgs, "--base", base)
	}
	extraImages.mu.Lock()
	extraImages.tags = append(extraImages.tags, tag)
	extraImages.mu.Unlock()
	start := time.Now()
	r, err := runCommand(imageBuildTimeout, nil, filepath.Join(repoRoot, "script", "image.sh"), imgArgs...)
	if err != nil {
		t.Fatalf("script/image.sh: %v", err)
	}
	if r.Code != 0 {
		t.Fatalf("script/image.sh %s: %s", strings.Join(imgArgs, " "), r)
	}
	t.Logf("built image %s in %v", tag, time.Since(start).Round(time.Millisecond))
	return tag
}

// removeExtraImages removes the images of buildVariantImage (called by
// cleanupContainerRun).
func removeExtraImages() {
	extraImages.mu.Lock()
	defer extraImages.mu.Unlock()
	for _, tag := range extraImages.tags {
		if r, err := runCommand(dockerTimeout, nil, "docker", "rmi", tag); err != nil || r.Code != 0 && !strings.Contains(r.Stderr, "No such image") {
			fmt.Fprintf(os.Stderr, "e2e: removing image %s: %v %s\n", tag, err, r.Stderr)
		}
	}
	extraImages.tags = nil
}
