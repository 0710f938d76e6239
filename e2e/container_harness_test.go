package e2e

// The container-test harness: the image (built once per run, lazily, with
// script/image.sh from hermesBin), containers named after their test and
// always removed, docker exec as the hermes uid by default, and polling
// helpers (no fixed sleeps); readiness is hermes svc ready.
//
// Environment:
//   HERMES_CI=1              a missing or unusable Docker fails the tests
//                            instead of skipping them.
//   HERMES_TEST_IMAGE        use this image instead of building one (it is
//                            not removed at the end).
//   HERMES_TEST_BASE_IMAGE   base image for the per-run build (default: the
//                            local debootstrap image of script/base-image.sh).

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

const (
	// hermesUser is who dockerExec runs as unless a test asks otherwise:
	// the image's runtime uid, so tests exercise what the runtime does.
	hermesUser = "10000:10000"
	// hermesInContainer is the binary's path in the image.
	hermesInContainer = "/opt/hermes/bin/hermes"
	// runLabel marks every container and volume of this test run, so that
	// leftovers of a killed run can be found and removed.
	runLabel = "org.hermes-agent.e2e.run"

	dockerTimeout     = 60 * time.Second
	imageBuildTimeout = 15 * time.Minute
)

// runID tells this test run's containers, volumes and image apart from any
// other run's on the same engine.
var runID = randomHex(4)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// cmdResult is the outcome of a command that ran to completion.
type cmdResult struct {
	Stdout, Stderr string
	Code           int
}

func (r cmdResult) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.Code, indent(r.Stdout), indent(r.Stderr))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// runCommand runs name with args and returns its output and exit code. The
// error is set only when the command could not run or ran out of time; a
// non-zero exit is in Code.
func runCommand(timeout time.Duration, stdin io.Reader, name string, args ...string) (cmdResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s %s: no answer within %v\n%s", name, strings.Join(args, " "), timeout, r)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return r, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return r, nil
}

// docker runs a docker command; the test fails when it cannot run at all.
func docker(t testing.TB, timeout time.Duration, args ...string) cmdResult {
	t.Helper()
	r, err := runCommand(timeout, nil, "docker", args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return r
}

// mustDocker runs a docker command that must succeed and returns its stdout.
func mustDocker(t testing.TB, args ...string) string {
	t.Helper()
	r := docker(t, dockerTimeout, args...)
	if r.Code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

var dockerCheck struct {
	once    sync.Once
	checked bool
	err     error
}

// dockerProblem says why Docker cannot be used, or nil.
func dockerProblem() error {
	dockerCheck.once.Do(func() {
		dockerCheck.checked = true
		if _, err := exec.LookPath("docker"); err != nil {
			dockerCheck.err = errors.New("docker is not installed (no docker command on PATH)")
			return
		}
		r, err := runCommand(30*time.Second, nil, "docker", "version", "--format", "{{.Server.Version}}")
		switch {
		case err != nil:
			dockerCheck.err = fmt.Errorf("the Docker engine does not answer: %v", err)
		case r.Code != 0:
			dockerCheck.err = fmt.Errorf("the Docker engine is not usable: %s", strings.TrimSpace(r.Stderr))
		}
	})
	return dockerCheck.err
}

// requireDocker skips the test when Docker is missing or unusable, or
// fails it in CI (testenv.Need).
func requireDocker(t *testing.T) {
	t.Helper()
	err := dockerProblem()
	testenv.Need(t, err == nil, fmt.Sprintf("needs a usable Docker engine to run the image: %v", err))
}

var imageState struct {
	once  sync.Once
	image string
	built bool
	err   error
}

// testImage returns the image under test, building it on first use: the
// same script as `make image`, with hermesBin and a per-run tag that is
// removed when the run ends.
func testImage(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	imageState.once.Do(func() {
		if img := os.Getenv("HERMES_TEST_IMAGE"); img != "" {
			imageState.image = img
			return
		}
		tag := "hermes-e2e:" + runID
		args := []string{"--binary", hermesBin, "--tag", tag}
		if base := os.Getenv("HERMES_TEST_BASE_IMAGE"); base != "" {
			args = append(args, "--base", base)
		}
		start := time.Now()
		r, err := runCommand(imageBuildTimeout, nil, filepath.Join(repoRoot, "script", "image.sh"), args...)
		switch {
		case err != nil:
			imageState.err = fmt.Errorf("script/image.sh: %v", err)
			return
		case r.Code != 0:
			imageState.err = fmt.Errorf("script/image.sh %s: %s", strings.Join(args, " "), r)
			return
		}
		imageState.image, imageState.built = tag, true
		t.Logf("built image %s in %v", tag, time.Since(start).Round(time.Millisecond))
	})
	if imageState.err != nil {
		t.Fatalf("building the test image: %v", imageState.err)
	}
	return imageState.image
}

// cleanupContainerRun removes what this run left on the engine: containers
// and volumes whose removal failed in their test's cleanup (a second
// chance), and the images built for the run. TestMain calls it after m.Run.
// A run killed by -timeout runs no cleanup at all; its leftovers carry the
// run label: docker rm -f -v $(docker ps -aq --filter label=org.hermes-agent.e2e.run).
func cleanupContainerRun() {
	if !dockerCheck.checked || dockerCheck.err != nil {
		return
	}
	filter := "label=" + runLabel + "=" + runID
	if r, err := runCommand(dockerTimeout, nil, "docker", "ps", "-aq", "--filter", filter); err == nil && r.Code == 0 {
		if ids := strings.Fields(r.Stdout); len(ids) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: removing %d leftover container(s)\n", len(ids))
			_, _ = runCommand(dockerTimeout, nil, "docker", append([]string{"rm", "-f", "-v"}, ids...)...)
		}
	}
	if r, err := runCommand(dockerTimeout, nil, "docker", "volume", "ls", "-q", "--filter", filter); err == nil && r.Code == 0 {
		if vols := strings.Fields(r.Stdout); len(vols) > 0 {
			_, _ = runCommand(dockerTimeout, nil, "docker", append([]string{"volume", "rm", "-f"}, vols...)...)
		}
	}
	// The derived images first: one of them is built FROM the test image.
	removeExtraImages()
	cleanupPodman()
	if imageState.built {
		if r, err := runCommand(dockerTimeout, nil, "docker", "rmi", imageState.image); err != nil || r.Code != 0 {
			fmt.Fprintf(os.Stderr, "e2e: removing image %s: %v %s\n", imageState.image, err, r.Stderr)
		}
	}
}

// containerFile is a file placed in a container before it starts.
type containerFile struct {
	Path    string // absolute path inside the container
	Content string
	Mode    int64 // permission bits; 0 means 0644. Owned by root.
}

// containerOpts describes a test container.
type containerOpts struct {
	Image      string            // default: testImage(t)
	Env        map[string]string // -e K=V
	User       string            // --user; "" is the image's (root)
	Workdir    string            // -w
	TTY        bool              // -t
	Volume     bool              // a fresh named volume at /opt/data, removed with the container
	Files      []containerFile   // copied in before the start (docker cp)
	Entrypoint string            // --entrypoint
	Args       []string          // the command after the image
	Flags      []string          // more docker create/run flags
}

// container is a test's container; it is removed when the test ends.
type container struct {
	Name   string
	Volume string // the named volume at /opt/data, "" when none
}

var unsafeNameChars = regexp.MustCompile(`[^a-z0-9_.-]+`)

// containerName makes hermes-test-<sanitised test name>-<short random>.
func containerName(t *testing.T) string {
	n := unsafeNameChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	n = strings.Trim(n, "-_.")
	if len(n) > 40 {
		n = strings.TrimRight(n[:40], "-_.")
	}
	return "hermes-test-" + n + "-" + randomHex(3)
}

// newContainer names a container for t and registers its removal (with its
// anonymous volumes and the named volume when there is one); when the test
// failed, its logs and state are written to the test log first. The
// container itself is made by the caller.
func newContainer(t *testing.T, withVolume bool) *container {
	t.Helper()
	c := &container{Name: containerName(t)}
	if withVolume {
		c.Volume = c.Name + "-data"
		mustDocker(t, "volume", "create", "--label", runLabel+"="+runID, c.Volume)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpContainer(t, c)
		}
		r, err := runCommand(dockerTimeout, nil, "docker", "rm", "-f", "-v", c.Name)
		if err != nil {
			t.Errorf("removing container %s: %v", c.Name, err)
		} else if r.Code != 0 && !strings.Contains(r.Stderr, "No such container") {
			t.Errorf("removing container %s: %s", c.Name, r)
		}
		if c.Volume != "" {
			if r, err := runCommand(dockerTimeout, nil, "docker", "volume", "rm", "-f", c.Volume); err != nil || r.Code != 0 {
				t.Errorf("removing volume %s: %v %s", c.Volume, err, r.Stderr)
			}
		}
	})
	return c
}

// dumpContainer writes a failed test's container logs and state to its log.
func dumpContainer(t *testing.T, c *container) {
	r, err := runCommand(dockerTimeout, nil, "docker", "logs", "--tail", "60", c.Name)
	if err == nil && r.Code == 0 {
		t.Logf("container %s logs (last 60 lines):\n%s", c.Name, indent(r.Stdout+r.Stderr))
	}
	r, err = runCommand(dockerTimeout, nil, "docker", "inspect", "--format", "{{json .State}}", c.Name)
	if err == nil && r.Code == 0 {
		t.Logf("container %s state: %s", c.Name, strings.TrimSpace(r.Stdout))
	}
}

// containerArgs is the docker create/run command line of opts, after the
// verb and before any -d.
func containerArgs(c *container, image string, opts containerOpts) []string {
	args := []string{"--name", c.Name, "--label", runLabel + "=" + runID}
	keys := make([]string, 0, len(opts.Env))
	for k := range opts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-e", k+"="+opts.Env[k])
	}
	if opts.User != "" {
		args = append(args, "--user", opts.User)
	}
	if opts.Workdir != "" {
		args = append(args, "-w", opts.Workdir)
	}
	if opts.TTY {
		args = append(args, "-t")
	}
	if c.Volume != "" {
		args = append(args, "-v", c.Volume+":/opt/data")
	}
	if opts.Entrypoint != "" {
		args = append(args, "--entrypoint", opts.Entrypoint)
	}
	args = append(args, opts.Flags...)
	args = append(args, image)
	return append(args, opts.Args...)
}

// createContainer makes (docker create) the container of opts and copies
// its files in; it is not started.
func createContainer(t *testing.T, opts containerOpts) *container {
	t.Helper()
	image := opts.Image
	if image == "" {
		image = testImage(t)
	}
	c := newContainer(t, opts.Volume)
	mustDocker(t, append([]string{"create"}, containerArgs(c, image, opts)...)...)
	copyFiles(t, c, opts.Files)
	return c
}

// copyFiles places files in a container (created or running) with one
// docker cp of a tar stream: no bind mount, so a remote engine works too.
func copyFiles(t *testing.T, c *container, files []containerFile) {
	t.Helper()
	if len(files) == 0 {
		return
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") {
			t.Fatalf("container file %q: want an absolute path", f.Path)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     strings.TrimPrefix(f.Path, "/"),
			Mode:     mode,
			Size:     int64(len(f.Content)),
			ModTime:  time.Now(),
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header for %s: %v", f.Path, err)
		}
		if _, err := io.WriteString(tw, f.Content); err != nil {
			t.Fatalf("tar content for %s: %v", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	r, err := runCommand(dockerTimeout, &buf, "docker", "cp", "-", c.Name+":/")
	if err != nil {
		t.Fatalf("copying files into %s: %v", c.Name, err)
	}
	if r.Code != 0 {
		t.Fatalf("copying files into %s: docker cp: %s", c.Name, r)
	}
}

// startContainer starts a detached container (docker run -d, or create +
// cp + start when it has files) and returns it; it is always removed when
// the test ends. Use waitReady before talking to its supervisor.
func startContainer(t *testing.T, opts containerOpts) *container {
	t.Helper()
	if len(opts.Files) == 0 {
		image := opts.Image
		if image == "" {
			image = testImage(t)
		}
		c := newContainer(t, opts.Volume)
		mustDocker(t, append([]string{"run", "-d"}, containerArgs(c, image, opts)...)...)
		return c
	}
	c := createContainer(t, opts)
	mustDocker(t, "start", c.Name)
	return c
}

// runContainer runs a container in the foreground (docker run, or create +
// cp + start -a when it has files) and returns its output and docker's exit
// code, which is the container's. The container is kept until the test
// ends, for inspection.
func runContainer(t *testing.T, opts containerOpts, timeout time.Duration) (*container, cmdResult) {
	t.Helper()
	var c *container
	var args []string
	if len(opts.Files) == 0 {
		image := opts.Image
		if image == "" {
			image = testImage(t)
		}
		c = newContainer(t, opts.Volume)
		args = append([]string{"run"}, containerArgs(c, image, opts)...)
	} else {
		c = createContainer(t, opts)
		args = []string{"start", "-a", c.Name}
	}
	return c, docker(t, timeout, args...)
}

// dockerExec runs args in c as user ("" means the hermes uid 10000:10000;
// pass "root" or "0:0" to run as root) and returns the result; a non-zero
// exit is the caller's to judge.
func dockerExec(t *testing.T, c *container, user string, args ...string) cmdResult {
	t.Helper()
	return dockerExecTimeout(t, c, user, dockerTimeout, args...)
}

func dockerExecTimeout(t *testing.T, c *container, user string, timeout time.Duration, args ...string) cmdResult {
	t.Helper()
	if user == "" {
		user = hermesUser
	}
	return docker(t, timeout, append([]string{"exec", "--user", user, c.Name}, args...)...)
}

// mustExec is dockerExec for commands that must succeed; it returns stdout.
func mustExec(t *testing.T, c *container, user string, args ...string) string {
	t.Helper()
	r := dockerExec(t, c, user, args...)
	if r.Code != 0 {
		t.Fatalf("docker exec %s %s: %s", c.Name, strings.Join(args, " "), r)
	}
	return r.Stdout
}

// waitFor polls cond until it returns nil and fails the test with cond's
// last error when timeout passes first (testenv.EventuallyNil).
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	testenv.EventuallyNil(t, timeout, "the condition (its last error says what is missing)", cond)
}

// dockerLogs returns the container's output so far (stdout, then stderr).
func dockerLogs(t *testing.T, c *container) string {
	t.Helper()
	r := docker(t, dockerTimeout, "logs", c.Name)
	if r.Code != 0 {
		t.Fatalf("docker logs %s: %s", c.Name, r)
	}
	return r.Stdout + r.Stderr
}

// inspectExitCode returns the container's exit code and whether it is
// still running.
func inspectExitCode(t *testing.T, c *container) (code int, running bool) {
	t.Helper()
	out := strings.Fields(mustDocker(t, "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", c.Name))
	if len(out) != 2 {
		t.Fatalf("docker inspect %s: unexpected state %q", c.Name, out)
	}
	code, err := strconv.Atoi(out[1])
	if err != nil {
		t.Fatalf("docker inspect %s: exit code %q: %v", c.Name, out[1], err)
	}
	return code, out[0] == "true"
}

// waitExit waits (docker wait) for the container to exit and returns its
// exit code; the test fails when it is still running after timeout.
func waitExit(t *testing.T, c *container, timeout time.Duration) int {
	t.Helper()
	r, err := runCommand(timeout, nil, "docker", "wait", c.Name)
	if err != nil {
		t.Fatalf("container %s did not exit within %v", c.Name, timeout)
	}
	if r.Code != 0 {
		t.Fatalf("docker wait %s: %s", c.Name, r)
	}
	code, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if err != nil {
		t.Fatalf("docker wait %s: exit code %q: %v", c.Name, r.Stdout, err)
	}
	return code
}

// stopContainer runs docker stop -t grace and returns how long it took.
func stopContainer(t *testing.T, c *container, grace int) time.Duration {
	t.Helper()
	start := time.Now()
	r := docker(t, time.Duration(grace)*time.Second+30*time.Second, "stop", "-t", strconv.Itoa(grace), c.Name)
	elapsed := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("docker stop %s: %s", c.Name, r)
	}
	return elapsed
}

// waitReady waits until the container's supervisor reports boot ready
// (hermes svc ready, run as the hermes uid: exit 0 ready, 1 not yet, 3 no
// supervisor answering yet). It fails the test at once when the container
// exits first.
func waitReady(t *testing.T, c *container, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		r := dockerExecTimeout(t, c, "", 30*time.Second, hermesInContainer, "svc", "ready", "--timeout", "2s")
		if r.Code == 0 {
			return nil
		}
		if code, running := inspectExitCode(t, c); !running {
			t.Fatalf("container %s exited with code %d before it was ready\nlogs:\n%s", c.Name, code, indent(dockerLogs(t, c)))
		}
		return fmt.Errorf("hermes svc ready in %s: %s", c.Name, r)
	})
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
