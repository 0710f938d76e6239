package e2e

// A throwaway Docker engine in a container of this run (testdata/engine):
// the swarm test's swarm, networks, volumes, secrets and images live in it
// and go with it, so the host's engine never changes its global state
// (no swarm init, no ingress network, no docker_gwbridge). The engine
// image is built once from the local base image and kept, like the base.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	engineImageTag    = "hermes-test-engine:bookworm"
	engineInputsLabel = "org.hermes-agent.e2e.engine.inputs"
)

// engine is a Docker engine running in the container c.
type engine struct {
	c *container
}

// baseImageTag is the local base image the test image is built on.
func baseImageTag() string {
	if b := os.Getenv("HERMES_TEST_BASE_IMAGE"); b != "" {
		return b
	}
	if b := os.Getenv("HERMES_BASE_IMAGE"); b != "" {
		return b
	}
	return "hermes-test-base:bookworm"
}

// engineImage returns the engine image, building it when it is missing or
// was built from other inputs (its Dockerfile, its entrypoint, the base
// image's id).
func engineImage(t *testing.T) string {
	t.Helper()
	base := baseImageTag()
	if strings.HasPrefix(base, "hermes-test-base:") {
		if r, err := runCommand(imageBuildTimeout, nil, filepath.Join(repoRoot, "script", "base-image.sh"), "--tag", base); err != nil || r.Code != 0 {
			t.Fatalf("script/base-image.sh --tag %s: %v %s", base, err, r)
		}
	}
	baseID := strings.TrimSpace(mustDocker(t, "image", "inspect", "--format", "{{.Id}}", base))
	dir := filepath.Join(repoRoot, "e2e", "testdata", "engine")
	h := sha256.New()
	for _, f := range []string{"Dockerfile", "engine-entrypoint.sh"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "base %s\n", baseID)
	inputs := hex.EncodeToString(h.Sum(nil))[:16]
	r := docker(t, dockerTimeout, "image", "inspect", "--format", "{{.Id}} {{ index .Config.Labels \""+engineInputsLabel+"\" }}", engineImageTag)
	old := strings.Fields(r.Stdout)
	if r.Code == 0 && len(old) == 2 && old[1] == inputs {
		return engineImageTag
	}
	start := time.Now()
	cmd := exec.Command("docker", "build", "--force-rm", "--build-arg", "BASE_IMAGE="+base,
		"--label", engineInputsLabel+"="+inputs, "--tag", engineImageTag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the engine image %s (Debian's docker.io on %s): %v\n%s", engineImageTag, base, err, indent(string(out)))
	}
	t.Logf("built the engine image %s in %v", engineImageTag, time.Since(start).Round(time.Millisecond))
	// Drop the image this one replaces, unless something still uses it.
	if r.Code == 0 && len(old) > 0 {
		_, _ = runCommand(dockerTimeout, nil, "docker", "rmi", old[0])
	}
	return engineImageTag
}

// startEngine starts a throwaway engine (removed with its storage when the
// test ends) and loads the given images into it. The container gets every
// capability but CAP_SYS_RESOURCE (which --privileged would ask for, and
// which root lacks on some hosts), no seccomp or AppArmor profile, and a
// private cgroup namespace; its /var/lib/docker is an anonymous volume, so
// that its images sit on a filesystem overlay2 can use.
func startEngine(t *testing.T, images ...string) *engine {
	t.Helper()
	img := engineImage(t)
	c := newContainer(t, false)
	mustDocker(t, "run", "-d", "--name", c.Name, "--label", runLabel+"="+runID,
		"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--security-opt", "systempaths=unconfined", "--cgroupns", "private",
		"--tmpfs", "/run", "--hostname", "engine", img)
	e := &engine{c: c}
	waitFor(t, 60*time.Second, func() error {
		if _, running := inspectExitCode(t, c); !running {
			t.Fatalf("the engine container %s exited:\n%s", c.Name, indent(dockerLogs(t, c)))
		}
		r := e.docker(t, 10*time.Second, nil, "version", "--format", "{{.Server.Version}}")
		if r.Code != 0 {
			return fmt.Errorf("the engine in %s does not answer yet: %s", c.Name, strings.TrimSpace(r.Stderr))
		}
		return nil
	})
	for _, image := range images {
		start := time.Now()
		e.load(t, image)
		t.Logf("loaded %s into the engine in %v", image, time.Since(start).Round(time.Millisecond))
	}
	return e
}

// load copies image from the host's engine into e (docker save | docker load).
func (e *engine) load(t *testing.T, image string) {
	t.Helper()
	save := exec.Command("docker", "save", image)
	load := exec.Command("docker", "exec", "-i", e.c.Name, "docker", "load", "-q")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	var saveErr, loadOut bytes.Buffer
	save.Stderr = &saveErr
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := save.Start(); err != nil {
		t.Fatalf("docker save %s: %v", image, err)
	}
	lerr := load.Run()
	serr := save.Wait()
	if serr != nil || lerr != nil {
		t.Fatalf("docker save %s | docker load: %v %v\n%s%s", image, serr, lerr, saveErr.String(), loadOut.String())
	}
}

// run runs args inside the engine's container (docker exec, -i when stdin
// is set).
func (e *engine) run(t *testing.T, timeout time.Duration, stdin io.Reader, args ...string) cmdResult {
	t.Helper()
	x := []string{"exec"}
	if stdin != nil {
		x = append(x, "-i")
	}
	x = append(x, e.c.Name)
	r, err := runCommand(timeout, stdin, "docker", append(x, args...)...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return r
}

// docker runs a docker command against the engine.
func (e *engine) docker(t *testing.T, timeout time.Duration, stdin io.Reader, args ...string) cmdResult {
	t.Helper()
	return e.run(t, timeout, stdin, append([]string{"docker"}, args...)...)
}

// mustDocker runs a docker command against the engine that must succeed
// and returns its stdout.
func (e *engine) mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	r := e.docker(t, dockerTimeout, nil, args...)
	if r.Code != 0 {
		t.Fatalf("docker %s (in the engine): %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// bash runs a bash script inside the engine's container with args as $1...
func (e *engine) bash(t *testing.T, timeout time.Duration, script string, args ...string) cmdResult {
	t.Helper()
	return e.run(t, timeout, nil, append([]string{"bash", "-c", script, "engine"}, args...)...)
}
