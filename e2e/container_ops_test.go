package e2e

// What an operator hits on day one (issue 13), in the image: services
// saved with svc add --save across docker restart, and the refusals of bad
// saved files; the hermes user remapped with PUID/PGID, reached by docker
// exec -u hermes; and a quiet boot on an existing volume (issue 12).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/supervise"
)

// TestContainerSavedServices: a service added with --save comes back after
// docker restart, saved; one added without does not; bad saved files are
// each one refusing line and the boot goes on; a static service of the
// same name wins; svc rm removes the file, and the service stays gone.
func TestContainerSavedServices(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{
		Volume: true, Args: []string{"sleep", "infinity"},
		Files: []containerFile{{Path: "/etc/hermes/services.d/static.yaml", Content: "argv: [sleep, \"1001\"]\n"}},
	})
	waitReady(t, c, 60*time.Second)

	mustExec(t, c, "hermes", "hermes", "svc", "add", "--save", "keeper", "--env", "A=1", "--", "sleep", "1002")
	mustExec(t, c, "hermes", "hermes", "svc", "add", "passing", "--", "sleep", "1003")
	if owner := statIn(t, c, "%U:%G %a", "/opt/data/services.d/keeper.yaml"); owner != "hermes:hermes 644" {
		t.Errorf("services.d/keeper.yaml is %q, want hermes:hermes 644", owner)
	}
	if r := dockerExec(t, c, "hermes", "hermes", "svc", "add", "--save", "rooty", "--user", "root", "--", "sleep", "1"); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "✗") {
		t.Errorf("svc add --save --user root: %s; want a ✗ refusal", r)
	}
	// Bad files, as the hermes user could write them.
	bad := map[string]string{
		"asroot.yaml":    "argv: [sleep, \"1\"]\nuser: root\n",
		"outside.yaml":   "argv: [sleep, \"1\"]\ndir: /etc\n",
		"dashboard.yaml": "argv: [sleep, \"1\"]\n",
		"Bad_Name.yaml":  "argv: [sleep, \"1\"]\n",
		"static.yaml":    "argv: [sleep, \"1\"]\n",
	}
	for name, body := range bad {
		mustExec(t, c, "hermes", "sh", "-c", "cat > /opt/data/services.d/"+name+" <<'EOF'\n"+body+"EOF\n")
	}
	mustExec(t, c, "hermes", "ln", "-s", "/etc/hermes/services.d/static.yaml", "/opt/data/services.d/link.yaml")
	mustExec(t, c, "hermes", "sh", "-c", "{ echo 'argv: [sleep, \"1\"]'; head -c 2097152 /dev/zero | tr '\\0' '#'; echo; } > /opt/data/services.d/huge.yaml")

	mustDocker(t, "restart", "-t", "10", c.Name)
	waitReady(t, c, 60*time.Second)

	status := func() map[string]supervise.Status {
		var list []supervise.Status
		if err := json.Unmarshal([]byte(mustExec(t, c, "hermes", "hermes", "svc", "status", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		m := map[string]supervise.Status{}
		for _, st := range list {
			m[st.Name] = st
		}
		return m
	}
	var got map[string]supervise.Status
	waitFor(t, 30*time.Second, func() error {
		got = status()
		if got["keeper"].State != supervise.Running {
			return errString("keeper not running yet")
		}
		return nil
	})
	if st := got["keeper"]; !st.Saved {
		t.Errorf("keeper after restart: %+v, want saved", st)
	}
	if raw := mustExec(t, c, "hermes", "hermes", "svc", "status", "keeper", "--json"); !strings.Contains(raw, `"saved": true`) {
		t.Errorf("svc status keeper --json lacks \"saved\": true:\n%s", raw)
	}
	if _, ok := got["passing"]; ok {
		t.Errorf("a service added without --save survived the restart")
	}
	if st, ok := got["static"]; !ok || st.Saved {
		t.Errorf("static = %+v, want the static service", st)
	}
	for _, n := range []string{"asroot", "outside", "Bad_Name", "link", "huge"} {
		if _, ok := got[n]; ok {
			t.Errorf("the bad saved file %s.yaml was loaded", n)
		}
	}
	logs := dockerLogs(t, c)
	for file, why := range map[string]string{
		"asroot.yaml":    "would run as 0:0",
		"outside.yaml":   "dir /etc is outside HERMES_HOME",
		"dashboard.yaml": "reserved",
		"Bad_Name.yaml":  "must match",
		"static.yaml":    "a static service named static exists",
		"link.yaml":      "symbolic link",
		"huge.yaml":      "larger than 1048576 bytes",
	} {
		want := "refusing /opt/data/services.d/" + file + ": "
		i := strings.LastIndex(logs, want)
		if i < 0 {
			t.Errorf("docker logs lack %q:\n%s", want, indent(logs))
			continue
		}
		if line, _, _ := strings.Cut(logs[i:], "\n"); !strings.Contains(line, why) {
			t.Errorf("refusal of %s = %q, want it to say %q", file, line, why)
		}
	}

	mustExec(t, c, "hermes", "hermes", "svc", "rm", "keeper")
	if r := dockerExec(t, c, "0:0", "test", "-e", "/opt/data/services.d/keeper.yaml"); r.Code == 0 {
		t.Errorf("svc rm keeper left services.d/keeper.yaml")
	}
	mustDocker(t, "restart", "-t", "10", c.Name)
	waitReady(t, c, 60*time.Second)
	if _, ok := status()["keeper"]; ok {
		t.Errorf("keeper came back after svc rm and a restart")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestContainerRemappedUser: with -e PUID=1000 -e PGID=1000 the hermes
// lines of /etc/passwd and /etc/group say 1000, so that docker exec -u
// hermes is the user the services run as: hermes config set works and the
// volume is writable. A bind-mounted /etc/passwd is one line and the boot
// goes on; PUID=0 and the uid of another user of the image are refused.
func TestContainerRemappedUser(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Volume: true, Env: map[string]string{"PUID": "1000", "PGID": "1000"}, Args: []string{"sleep", "infinity"}})
	waitFor(t, 60*time.Second, func() error {
		if r := dockerExec(t, c, "1000:1000", hermesInContainer, "svc", "ready", "--timeout", "2s"); r.Code != 0 {
			return errString(r.String())
		}
		return nil
	})
	if id := strings.TrimSpace(mustExec(t, c, "hermes", "id", "-u")) + ":" + strings.TrimSpace(mustExec(t, c, "hermes", "id", "-g")); id != "1000:1000" {
		t.Errorf("docker exec -u hermes runs as %s, want 1000:1000", id)
	}
	if out := mustExec(t, c, "hermes", "hermes", "config", "set", "model.name", "remapped"); !strings.Contains(out, "✓") {
		t.Errorf("hermes config set as -u hermes: %q", out)
	}
	mustExec(t, c, "hermes", "touch", "/opt/data/x")
	if owner := statIn(t, c, "%u:%g", "/opt/data/x"); owner != "1000:1000" {
		t.Errorf("/opt/data/x made by -u hermes is %s, want 1000:1000", owner)
	}
	if got := mustExec(t, c, "0:0", "grep", "^hermes:", "/etc/passwd", "/etc/group"); !strings.Contains(got, "/etc/passwd:hermes:x:1000:1000:") || !strings.Contains(got, "/etc/group:hermes:x:1000:") {
		t.Errorf("hermes lines after the remap:\n%s", got)
	}
	if logs := dockerLogs(t, c); !strings.Contains(logs, "hermes init: the hermes user is now 1000:1000") {
		t.Errorf("docker logs do not say the hermes user was remapped:\n%s", indent(logs))
	}
	// The same container restarted: nothing left to rewrite, nothing said.
	mustDocker(t, "restart", "-t", "10", c.Name)
	waitFor(t, 60*time.Second, func() error {
		if r := dockerExec(t, c, "hermes", hermesInContainer, "svc", "ready", "--timeout", "2s"); r.Code != 0 {
			return errString(r.String())
		}
		return nil
	})
	if n := strings.Count(dockerLogs(t, c), "the hermes user is now"); n != 1 {
		t.Errorf("the remap line appears %d times after a restart, want 1 (the first boot's)", n)
	}

	t.Run("bind-mounted passwd", func(t *testing.T) {
		t.Parallel()
		passwd := filepath.Join(t.TempDir(), "passwd")
		body := mustDocker(t, "run", "--rm", "--entrypoint", "cat", testImage(t), "/etc/passwd")
		if err := os.WriteFile(passwd, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		r := docker(t, dockerTimeout, "run", "--rm", "-e", "PUID=1000", "-e", "PGID=1000", "-v", passwd+":/etc/passwd", testImage(t), "version")
		if r.Code != 0 || !strings.Contains(r.Stdout, "hermes ") {
			t.Fatalf("with a bind-mounted /etc/passwd: %s; want the boot to go on", r)
		}
		if n := strings.Count(r.Stderr, "/etc/passwd not rewritten"); n != 1 || !strings.Contains(r.Stderr, "bind-mounted") {
			t.Errorf("stderr = %q, want one line saying the bind-mounted /etc/passwd was not rewritten", r.Stderr)
		}
	})
	t.Run("read-only /etc", func(t *testing.T) {
		t.Parallel()
		r := docker(t, dockerTimeout, "run", "--rm", "--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp", "-e", "PUID=1000", "-e", "PGID=1000", testImage(t), "version")
		if r.Code != 0 || !strings.Contains(r.Stdout, "hermes ") {
			t.Fatalf("with a read-only /etc: %s; want the boot to go on", r)
		}
		if n := strings.Count(r.Stderr, "not rewritten"); n != 1 || !strings.Contains(r.Stderr, "/etc is read-only") {
			t.Errorf("stderr = %q, want one line saying the read-only /etc was not rewritten", r.Stderr)
		}
	})
	for _, bad := range []struct{ puid, want string }{
		{"0", "PUID=\"0\": invalid user or group id"},
		{"2147483647", "invalid user or group id"},
		{"65534", `PUID=65534 is the uid of the user "nobody"`},
	} {
		t.Run("PUID="+bad.puid, func(t *testing.T) {
			t.Parallel()
			r := docker(t, dockerTimeout, "run", "--rm", "-e", "PUID="+bad.puid, testImage(t), "version")
			if r.Code != 1 || !strings.Contains(r.Stderr, bad.want) {
				t.Errorf("PUID=%s: %s; want exit 1 saying %q", bad.puid, r, bad.want)
			}
		})
	}
}

// TestContainerQuietBoot (issue 12): on an existing volume docker run --rm
// IMAGE version prints one line in all; HERMES_INIT_VERBOSE=1 adds the
// routine boot lines; the first boot's seeding prints either way.
func TestContainerQuietBoot(t *testing.T) {
	t.Parallel()
	vol := containerName(t) + "-data"
	mustDocker(t, "volume", "create", "--label", runLabel+"="+runID, vol)
	t.Cleanup(func() { docker(t, dockerTimeout, "volume", "rm", "-f", vol) })
	run := func(env ...string) cmdResult {
		args := []string{"run", "--rm", "-v", vol + ":/opt/data"}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		r := docker(t, dockerTimeout, append(args, testImage(t), "version")...)
		if r.Code != 0 {
			t.Fatalf("docker run version: %s", r)
		}
		return r
	}
	if r := run(); !strings.Contains(r.Stderr, "seeded") {
		t.Errorf("first boot: %s; want the seeding said", r)
	}
	r := run()
	if all := strings.TrimSpace(r.Stdout + r.Stderr); strings.Count(all, "\n") != 0 || !strings.HasPrefix(all, "hermes ") {
		t.Errorf("docker run --rm IMAGE version on an existing volume printed:\n%s\nwant one line", indent(r.Stdout+r.Stderr))
	}
	if r := run("HERMES_INIT_VERBOSE=1"); !strings.Contains(r.Stdout, "reconcile: profile=default") {
		t.Errorf("HERMES_INIT_VERBOSE=1: %s; want the routine reconcile line", r)
	}
}
