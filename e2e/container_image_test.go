package e2e

// The image as a product (reference-system.md §7.1 items 17, 43-45, and
// what the Dockerfile promises): the build SHA in hermes dump, the seeded
// log directories, the --user guard, the first-boot seeds under
// /opt/hermes/share, EXPOSE and HEALTHCHECK, ownership repair on restart,
// and docker-compose.yml started as it is.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hermes-agent/hermes/internal/testenv"
)

var dumpVersionRE = regexp.MustCompile(`(?m)^version:\s+(.+)$`)

// dumpBracket runs hermes dump in image (docker run --rm) and returns the
// bracket at the end of its version line.
func dumpBracket(t *testing.T, image string) string {
	t.Helper()
	_, r := runContainer(t, containerOpts{Image: image, Args: []string{"dump"}}, dockerTimeout)
	if r.Code != 0 {
		t.Fatalf("docker run %s dump: %s", image, r)
	}
	m := dumpVersionRE.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("hermes dump has no version: line:\n%s", r)
	}
	b := regexp.MustCompile(`\[([^\]]+)\]\s*$`).FindStringSubmatch(m[1])
	if b == nil {
		t.Fatalf("hermes dump version line %q does not end with a [...] bracket", m[1])
	}
	return b[1]
}

// bakedSha reads /opt/hermes/.hermes_build_sha of image the way the
// reference did (docker run --rm --entrypoint cat); "" when there is none.
func bakedSha(t *testing.T, image string) string {
	t.Helper()
	_, r := runContainer(t, containerOpts{Image: image, Entrypoint: "cat", Args: []string{"/opt/hermes/.hermes_build_sha"}}, dockerTimeout)
	if r.Code != 0 {
		return ""
	}
	return strings.TrimSpace(r.Stdout)
}

// TestImageBuildSha (43): hermes dump's version line ends with the first 8
// characters of the baked /opt/hermes/.hermes_build_sha, or [(unknown)]
// when the image knows no commit at all. The commit has three sources in
// our contract (baked file, -ldflags, Go's VCS stamp), so "without" is an
// image with no baked file whose binary was built with none of the other
// two (-buildvcs=false, no -ldflags): script/build.sh always stamps the
// commit by -ldflags, so a `make image` binary is never "unknown" in a git
// checkout.
func TestImageBuildSha(t *testing.T) {
	t.Parallel()
	// The image under test, as the reference checked it.
	t.Run("test image", func(t *testing.T) {
		t.Parallel()
		image := testImage(t)
		sha := bakedSha(t, image)
		got := dumpBracket(t, image)
		if sha == "" {
			t.Logf("%s has no baked commit (built outside a git checkout?)", image)
			if got == "" {
				t.Errorf("empty bracket")
			}
			return
		}
		if got != sha[:8] {
			t.Errorf("dump: [%s], want [%s] (the baked %s)", got, sha[:8], sha)
		}
	})
	noVCS := []string{"-buildvcs=false"}
	t.Run("baked", func(t *testing.T) {
		t.Parallel()
		const sha = "0123456789abcdef0123456789abcdef01234567"
		image := buildVariantImage(t, "baked", noVCS, sha)
		if got := bakedSha(t, image); got != sha {
			t.Fatalf("/opt/hermes/.hermes_build_sha is %q, want %q", got, sha)
		}
		if got := dumpBracket(t, image); got != sha[:8] {
			t.Errorf("dump: [%s], want [%s]", got, sha[:8])
		}
		// The OCI label carries the same commit.
		if got := strings.TrimSpace(mustDocker(t, "image", "inspect", "--format",
			`{{index .Config.Labels "org.opencontainers.image.revision"}}`, image)); got != sha {
			t.Errorf("label org.opencontainers.image.revision is %q, want %q", got, sha)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		image := buildVariantImage(t, "nosha", noVCS, "")
		if got := bakedSha(t, image); got != "" {
			t.Fatalf("/opt/hermes/.hermes_build_sha is %q, want no file", got)
		}
		if got := dumpBracket(t, image); got != "(unknown)" {
			t.Errorf("dump: [%s], want [(unknown)]", got)
		}
	})
}

// TestImageLogDirs (44): after the first boot /opt/data/logs and
// logs/gateways exist and belong to the hermes user, also when HERMES_UID
// and HERMES_GID remap it (the reference's hard-coded 10000 chown: its §8
// item 47).
func TestImageLogDirs(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name  string
		env   map[string]string
		user  string // the hermes uid:gid
		owner string
	}{
		{name: "image default", user: hermesUser, owner: "10000:10000 hermes:hermes"},
		{name: "HERMES_UID remapped", env: map[string]string{"HERMES_UID": "12345", "HERMES_GID": "12346"}, user: "12345:12346", owner: "12345:12346 hermes:hermes"}, // the boot rewrites the hermes lines of /etc/passwd and /etc/group
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startContainer(t, containerOpts{Image: image, Env: tt.env, Args: []string{"sleep", "infinity"}})
			// Ready as the hermes uid of this container (waitReady asks as
			// 10000, which a remapped supervisor does not serve).
			waitFor(t, 30*time.Second, func() error {
				if r := dockerExec(t, c, tt.user, hermesInContainer, "svc", "ready", "--timeout", "2s"); r.Code != 0 {
					return fmt.Errorf("hermes svc ready as %s: %s", tt.user, r)
				}
				return nil
			})
			for _, d := range []string{"/opt/data/logs", "/opt/data/logs/gateways"} {
				if got := statIn(t, c, "%u:%g %U:%G %F", d); got != tt.owner+" directory" {
					t.Errorf("%s: %q, want %q", d, got, tt.owner+" directory")
				}
			}
		})
	}
}

// TestImageUserGuard (45): docker run --user with a uid that cannot write
// HERMES_HOME stops before the main command with a message naming
// HERMES_UID/PUID (the reference's --user start skipped its root bootstrap
// and hit EACCES everywhere: its §8 item 35); --user 10000:10000 works.
func TestImageUserGuard(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	t.Run("--user 1000:1000", func(t *testing.T) {
		t.Parallel()
		_, r := runContainer(t, containerOpts{Image: image, User: "1000:1000", Args: []string{"echo", "should_not_reach"}}, dockerTimeout)
		out := r.Stdout + r.Stderr
		if r.Code == 0 || strings.Contains(out, "should_not_reach") || !strings.Contains(out, "HERMES_UID") && !strings.Contains(out, "PUID") {
			t.Errorf("want a non-zero exit, no should_not_reach, and a message naming HERMES_UID or PUID: %s", r)
		}
	})
	t.Run("--user 10000:10000", func(t *testing.T) {
		t.Parallel()
		_, r := runContainer(t, containerOpts{Image: image, User: "10000:10000", Args: []string{"sh", "-c", "echo OK"}}, dockerTimeout)
		if r.Code != 0 || !regexp.MustCompile(`(?m)^OK$`).MatchString(r.Stdout) {
			t.Errorf("want exit 0 and OK: %s", r)
		}
	})
}

// TestImageSeeds: /opt/hermes/share holds the first-boot seeds written by
// the image's own binary (hermes seeds), root-owned and read-only to
// hermes; a first boot copies them into HERMES_HOME (.env with a fresh
// API_SERVER_KEY); a derived image's own seed wins.
func TestImageSeeds(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	seeds := []string{"SOUL.md", "config.yaml", "env.example"}

	t.Run("from the binary", func(t *testing.T) {
		t.Parallel()
		// Compare with what the binary writes now, in the same container.
		script := `set -e
cd /opt/hermes/share
stat -c '%n %u:%g %a' . ` + strings.Join(seeds, " ") + `
d=$(mktemp -d)
hermes seeds --dir "$d" >/dev/null
for f in ` + strings.Join(seeds, " ") + `; do cmp "$f" "$d/$f" && echo "same $f"; done`
		_, r := runContainer(t, containerOpts{Image: image, Entrypoint: "/bin/sh", Env: map[string]string{"HERMES_DOCKER_EXEC_AS_ROOT": "1"}, Args: []string{"-c", script}}, dockerTimeout)
		if r.Code != 0 {
			t.Fatalf("probe: %s", r)
		}
		want := []string{". 0:0 755"}
		for _, f := range seeds {
			want = append(want, f+" 0:0 644", "same "+f)
		}
		for _, w := range want {
			if !strings.Contains(r.Stdout, w+"\n") {
				t.Errorf("probe output lacks %q:\n%s", w, indent(r.Stdout))
			}
		}
	})

	t.Run("first boot", func(t *testing.T) {
		t.Parallel()
		c := startContainer(t, containerOpts{Image: image, Args: []string{"sleep", "infinity"}})
		waitReady(t, c, 30*time.Second)
		for _, f := range []string{"SOUL.md", "config.yaml"} {
			seed, _ := catIn(t, c, "", "/opt/hermes/share/"+f)
			got, _ := catIn(t, c, "", "/opt/data/"+f)
			if got != seed || got == "" {
				t.Errorf("/opt/data/%s differs from the image's seed", f)
			}
		}
		example, _ := catIn(t, c, "", "/opt/hermes/share/env.example")
		env, _ := catIn(t, c, "", "/opt/data/.env")
		if !strings.HasPrefix(env, example) || !regexp.MustCompile(`(?m)^API_SERVER_KEY=[0-9a-f]{64}$`).MatchString(env) {
			t.Errorf(".env is not env.example plus a fresh API_SERVER_KEY:\n%s", indent(env))
		}
	})

	t.Run("derived image", func(t *testing.T) {
		t.Parallel()
		// What `COPY my-SOUL.md /opt/hermes/share/SOUL.md` in a derived
		// image does, without a build: the file is placed before the start.
		const soul = "You are the derived image's agent.\n"
		c := startContainer(t, containerOpts{Image: image, Args: []string{"sleep", "infinity"},
			Files: []containerFile{{Path: "/opt/hermes/share/SOUL.md", Content: soul}}})
		waitReady(t, c, 30*time.Second)
		if got, _ := catIn(t, c, "", "/opt/data/SOUL.md"); got != soul {
			t.Errorf("/opt/data/SOUL.md is %q, want the derived image's seed %q", got, soul)
		}
	})
}

// TestImageConfig: EXPOSE and HEALTHCHECK as the Dockerfile promises, and
// the health check turning healthy on a running container (the interval
// shortened with --health-interval; the command is the image's).
func TestImageConfig(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	var cfg struct {
		ExposedPorts map[string]struct{}
		Healthcheck  struct{ Test []string }
	}
	out := mustDocker(t, "image", "inspect", "--format", "{{json .Config}}", image)
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("docker image inspect: %v\n%s", err, out)
	}
	var ports []string
	for p := range cfg.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if got, want := strings.Join(ports, " "), "8642/tcp 9119/tcp"; got != want {
		t.Errorf("EXPOSE: %q, want %q", got, want)
	}
	if got, want := strings.Join(cfg.Healthcheck.Test, " "), "CMD "+hermesInContainer+" doctor --quiet"; got != want {
		t.Errorf("HEALTHCHECK: %q, want %q", got, want)
	}

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		c := startContainer(t, containerOpts{Image: image, Flags: []string{"--health-interval", "1s"}})
		waitFor(t, 60*time.Second, func() error {
			st := strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.Health.Status}}", c.Name))
			if st != "healthy" {
				return fmt.Errorf("health %q", st)
			}
			return nil
		})
	})
	t.Run("unhealthy", func(t *testing.T) {
		t.Parallel()
		// A wanted-up service that cannot run fails the doctor.
		c := startContainer(t, containerOpts{Image: image, Flags: []string{"--health-interval", "1s", "--health-retries", "2"},
			Args: []string{"sleep", "infinity"},
			Files: []containerFile{{Path: "/etc/hermes/services.d/broken.yaml", Content: `argv: ["sh", "-c", "exit 78"]
`}}})
		waitFor(t, 60*time.Second, func() error {
			st := strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.Health.Status}}", c.Name))
			if st != "unhealthy" {
				return fmt.Errorf("health %q", st)
			}
			return nil
		})
	})
}

// TestImageRepairsOwnershipOnRestart (17, the volume part): files root
// made in the volume (profiles/<p>/ and cron/, by a docker exec that kept
// root on purpose) belong to the hermes user again after docker restart.
func TestImageRepairsOwnershipOnRestart(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Volume: true, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	mustExec(t, c, "0:0", "sh", "-c", `set -e
mkdir -p /opt/data/profiles/testprof /opt/data/cron
echo persona > /opt/data/profiles/testprof/SOUL.md
echo '{}' > /opt/data/cron/jobs.json
chmod 600 /opt/data/cron/jobs.json`)
	for _, f := range []string{"/opt/data/profiles/testprof", "/opt/data/profiles/testprof/SOUL.md", "/opt/data/cron/jobs.json"} {
		if got := statIn(t, c, "%U", f); got != "root" {
			t.Fatalf("%s owned by %q before the restart, want root", f, got)
		}
	}
	mustDocker(t, "restart", "-t", "10", c.Name)
	waitReady(t, c, 60*time.Second)
	for _, f := range []string{"/opt/data/profiles/testprof", "/opt/data/profiles/testprof/SOUL.md", "/opt/data/cron", "/opt/data/cron/jobs.json"} {
		if got := statIn(t, c, "%U:%G", f); got != "hermes:hermes" {
			t.Errorf("%s owned by %q after the restart, want hermes:hermes", f, got)
		}
	}
}

// TestDockerCompose: docker-compose.yml validates, and starts as it is (its
// image name overridden by HERMES_IMAGE to the image under test, its host
// ports moved to free ones): the gateway answers /health on the published
// port, the named volume holds the seeded home, and down -v ends it within
// Docker's stop timeout.
func TestDockerCompose(t *testing.T) {
	t.Parallel()
	testenv.NeedProgram(t, "docker-compose", "run the image's compose file (Debian package docker-compose)")
	image := testImage(t)
	project := "hermes-test-compose-" + runID + "-" + randomHex(2)
	// Free host ports now (freePort of ns_chat_test.go), so that parallel
	// runs and a user's own hermes do not collide.
	gatewayPort := strconv.Itoa(freePort(t))
	env := append(os.Environ(), "HERMES_IMAGE="+image,
		"HERMES_GATEWAY_HOST_PORT="+gatewayPort, "HERMES_DASHBOARD_HOST_PORT="+strconv.Itoa(freePort(t)))
	dir := t.TempDir()
	compose := func(timeout time.Duration, args ...string) cmdResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		all := append([]string{"-f", filepath.Join(repoRoot, "docker-compose.yml"), "-p", project}, args...)
		cmd := exec.CommandContext(ctx, "docker-compose", all...)
		cmd.Env = env
		cmd.Dir = dir
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
		if ctx.Err() != nil || err != nil && r.Code < 0 {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, r)
		}
		return r
	}
	if r := compose(dockerTimeout, "config", "-q"); r.Code != 0 {
		t.Fatalf("docker-compose config: %s", r)
	}
	t.Cleanup(func() {
		if t.Failed() {
			r := compose(dockerTimeout, "logs", "--no-color", "--tail", "60")
			t.Logf("docker-compose logs:\n%s", indent(r.Stdout+r.Stderr))
		}
		if r := compose(2*dockerTimeout, "down", "-v", "--remove-orphans"); r.Code != 0 {
			t.Errorf("docker-compose down -v: %s", r)
		}
	})
	if r := compose(2*dockerTimeout, "up", "-d"); r.Code != 0 {
		t.Fatalf("docker-compose up -d: %s", r)
	}
	url := "http://127.0.0.1:" + gatewayPort + "/health"
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, 60*time.Second, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
	if r := compose(dockerTimeout, "exec", "-T", "hermes", "hermes", "svc", "status"); r.Code != 0 || !strings.Contains(r.Stdout, "gateway-default") {
		t.Errorf("docker-compose exec hermes hermes svc status: %s", r)
	}
	if r := compose(dockerTimeout, "exec", "-T", "hermes", "grep", "-c", "^API_SERVER_KEY=", "/opt/data/.env"); r.Code != 0 {
		t.Errorf("the volume's .env has no API_SERVER_KEY: %s", r)
	}
	start := time.Now()
	if r := compose(2*dockerTimeout, "stop"); r.Code != 0 {
		t.Fatalf("docker-compose stop: %s", r)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("docker-compose stop took %v, want well under Docker's 10 s", d.Round(time.Millisecond))
	}
}

// readmeExamples returns the files of the README's "Extending the image"
// example: each fenced block that follows a line
// <!-- example-file: NAME -->, by NAME.
func readmeExamples(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- example-file: ([^ ]+) -->\n```[a-z]*\n(.*?)```\n")
	files := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		files[m[1]] = m[2]
	}
	for _, want := range []string{"Dockerfile", "clock.yaml", "50-motd", "SOUL.md"} {
		if _, ok := files[want]; !ok {
			t.Fatalf("README.md has no example file %s (marked <!-- example-file: %s -->); found %d", want, want, len(files))
		}
	}
	return files
}

// TestImageDerived: the README's derived-image example, built FROM the
// image under test (classic builder, no registry) and run: its service
// runs as the hermes uid and logs, its boot hook ran as root with the main
// command's arguments, its SOUL.md seeded the first boot.
func TestImageDerived(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	files := readmeExamples(t)
	dir := t.TempDir()
	for name, content := range files {
		if name == "Dockerfile" {
			content = strings.Replace(content, "FROM hermes:dev", "FROM "+image, 1)
			if !strings.Contains(content, "FROM "+image) {
				t.Fatalf("the README's Dockerfile does not start FROM hermes:dev:\n%s", content)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tag := "hermes-e2e-derived:" + runID
	extraImages.mu.Lock()
	extraImages.tags = append(extraImages.tags, tag)
	extraImages.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), imageBuildTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, "docker", "build", "--force-rm", "-t", tag, dir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build of the README's example: %v\n%s", err, out)
	}

	c := startContainer(t, containerOpts{Image: tag, Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)
	st := waitService(t, c, "clock", 15*time.Second, "clock runs", func(s svcStatus) bool { return s.State == "running" })
	if st.UID != 10000 || st.Want != "up" {
		t.Errorf("clock: %s (uid %d); want up, running as 10000", st, st.UID)
	}
	waitFor(t, 10*time.Second, func() error {
		log, _ := catIn(t, c, "", "/opt/data/logs/clock/current")
		if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+Z \S`).MatchString(log) {
			return fmt.Errorf("logs/clock/current has no timestamped line:\n%s", indent(log))
		}
		return nil
	})
	if env := procEnv(t, c, "", st.PID); env["TZ"] != "UTC" {
		t.Errorf("clock's TZ=%q, want UTC (env of its spec)", env["TZ"])
	}
	if motd, _ := catIn(t, c, "", "/etc/motd"); strings.TrimSpace(motd) != "hermes container for: sleep infinity" {
		t.Errorf("/etc/motd is %q, want the hook's line with the main command's arguments", motd)
	}
	if got := statIn(t, c, "%U", "/etc/motd"); got != "root" {
		t.Errorf("/etc/motd owned by %q, want root (hooks run as root)", got)
	}
	if soul, _ := catIn(t, c, "", "/opt/data/SOUL.md"); soul != files["SOUL.md"] {
		t.Errorf("/opt/data/SOUL.md is %q, want the example's %q", soul, files["SOUL.md"])
	}
}

// TestComposeFile reads docker-compose.yml statically (the reference's item
// 18 checked its compose file the same way): it runs the image make image
// makes and builds nothing, keeps /opt/data in a named volume, publishes the
// gateway and the dashboard, never passes --insecure nor sets
// HERMES_DASHBOARD_INSECURE (the examples of the dashboard's variables are
// comments), and leaves the entrypoint and command to the image.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]map[string]any `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := f.Services["hermes"]
	if !ok || len(f.Services) != 1 {
		t.Fatalf("want one service, hermes; got %v", f.Services)
	}
	if got := svc["image"]; got != "${HERMES_IMAGE:-hermes:dev}" {
		t.Errorf("image: %v, want hermes:dev (overridable by HERMES_IMAGE)", got)
	}
	for _, k := range []string{"build", "command", "entrypoint", "user"} {
		if _, ok := svc[k]; ok {
			t.Errorf("the service sets %s: the image's own must be used", k)
		}
	}
	vols := fmt.Sprint(svc["volumes"])
	if !strings.Contains(vols, "hermes-data:/opt/data") {
		t.Errorf("volumes %s: want the named volume hermes-data at /opt/data", vols)
	}
	if _, ok := f.Volumes["hermes-data"]; !ok {
		t.Errorf("no top-level named volume hermes-data")
	}
	ports := fmt.Sprint(svc["ports"])
	for _, p := range []string{":8642", ":9119"} {
		if !strings.Contains(ports, p) {
			t.Errorf("ports %s: want the container's %s published", ports, p)
		}
	}
	env, _ := svc["environment"].(map[string]any)
	for k, v := range env {
		if strings.HasPrefix(k, "HERMES_DASHBOARD_INSECURE") || strings.Contains(fmt.Sprint(v), "--insecure") {
			t.Errorf("environment sets %s=%v: the gate's opt-out must stay a comment", k, v)
		}
	}
	if strings.Contains(fmt.Sprint(svc), "--insecure") {
		t.Errorf("the service passes --insecure")
	}
	// The dashboard's variables are there for a person to uncomment.
	for _, v := range []string{"HERMES_DASHBOARD_BASIC_AUTH_USERNAME", "HERMES_DASHBOARD_OAUTH_CLIENT_ID", "HERMES_DASHBOARD_PUBLIC_URL", "HERMES_DASHBOARD_INSECURE"} {
		if !regexp.MustCompile(`(?m)^\s*# ` + v + `:`).Match(raw) {
			t.Errorf("docker-compose.yml has no commented example of %s", v)
		}
	}
}
