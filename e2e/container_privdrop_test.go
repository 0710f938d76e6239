package e2e

// hermes run by docker exec as root (reference-system.md §7.1 items 33-42
// and the shim's exit 126; CONTRACT §6): the CLI drops to the hermes uid so
// that what it writes stays usable by the services (the reference's
// root-owned auth.json: its §8 item 17), unless HERMES_DOCKER_EXEC_AS_ROOT
// is true in the one truthiness parser's sense (its §8 item 37).

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestContainerExecDrop runs the cases in order in one container: each
// deletes config.yaml as root, then has hermes config set write it anew.
func TestContainerExecDrop(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Args: []string{"sleep", "infinity"}})
	waitReady(t, c, 30*time.Second)

	// configSet removes config.yaml as root, runs hermes config set through
	// docker exec with the given exec flags, and returns the new file's
	// owner (stat %U:%G) and the command's result.
	configSet := func(t *testing.T, flags ...string) (string, cmdResult) {
		t.Helper()
		mustExec(t, c, "0:0", "rm", "-f", "/opt/data/config.yaml")
		args := append([]string{"exec"}, flags...)
		args = append(args, c.Name, "hermes", "config", "set", "model.name", "shim-marker")
		r := docker(t, dockerTimeout, args...)
		if r.Code != 0 {
			t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
		}
		return statIn(t, c, "%U:%G", "/opt/data/config.yaml"), r
	}

	// 33: plain docker exec (root, the engine's default user) drops.
	t.Run("root drops to hermes", func(t *testing.T) {
		if owner, r := configSet(t); owner != "hermes:hermes" {
			t.Errorf("config.yaml written by docker exec as root is %s, want hermes:hermes\n%s", owner, r)
		}
	})
	// 34: already the hermes uid: no second drop, same result.
	t.Run("--user hermes", func(t *testing.T) {
		if owner, r := configSet(t, "--user", "hermes"); owner != "hermes:hermes" {
			t.Errorf("config.yaml written by docker exec --user hermes is %s, want hermes:hermes\n%s", owner, r)
		}
	})
	// 36-40: every false spelling keeps the drop; the ones outside
	// 1 true yes 0 false no draw a warning naming the variable.
	for _, tt := range []struct {
		value string
		warn  bool
	}{
		{"0", false}, {"false", false}, {"no", false}, {"off", true}, {"garbage", true},
	} {
		t.Run("HERMES_DOCKER_EXEC_AS_ROOT="+tt.value, func(t *testing.T) {
			owner, r := configSet(t, "-e", "HERMES_DOCKER_EXEC_AS_ROOT="+tt.value)
			if owner != "hermes:hermes" {
				t.Errorf("config.yaml is %s, want hermes:hermes\n%s", owner, r)
			}
			if got := strings.Contains(r.Stderr, "HERMES_DOCKER_EXEC_AS_ROOT"); got != tt.warn {
				t.Errorf("a warning naming HERMES_DOCKER_EXEC_AS_ROOT on stderr: %v, want %v\n%s", got, tt.warn, r)
			}
		})
	}
	// 42: after root's docker exec writes, every file of the volume (two
	// levels, as the reference looked) is readable by the hermes uid. find
	// is in the test base (findutils), as in the reference's image.
	t.Run("every file readable by hermes", func(t *testing.T) {
		mustExec(t, c, "0:0", "hermes", "profile", "create", "rootmade")
		mustExec(t, c, "0:0", "sh", "-c", "printf 'sk-test' | hermes login --provider openrouter")
		out := mustExec(t, c, "hermes", "find", "/opt/data", "-maxdepth", "2", "-type", "f", "!", "-readable", "-print")
		if strings.TrimSpace(out) != "" {
			t.Errorf("files the hermes uid cannot read:\n%s", indent(out))
		}
		for _, f := range []string{"/opt/data/auth.json", "/opt/data/profiles/rootmade/SOUL.md", "/opt/data/profiles/rootmade/.env"} {
			if got := statIn(t, c, "%U:%G", f); got != "hermes:hermes" {
				t.Errorf("%s made by root's docker exec is owned by %q, want hermes:hermes", f, got)
			}
		}
	})
	// 35 (last: it leaves a root-owned file): a true value keeps root, in
	// any case and with spaces.
	for _, v := range []string{"1", "TRUE", " yes "} {
		t.Run("HERMES_DOCKER_EXEC_AS_ROOT="+v, func(t *testing.T) {
			if owner, r := configSet(t, "-e", "HERMES_DOCKER_EXEC_AS_ROOT="+v); owner != "root:root" {
				t.Errorf("config.yaml with the opt-out is %s, want root:root\n%s", owner, r)
			}
		})
	}
}

// TestContainerExecDropImpossible (the reference shim's exit 126): when
// root cannot become the hermes uid, hermes refuses with exit 126 and two
// lines saying why and what to do, and never runs as root. The container
// runs as the hermes uid without CAP_SETUID/CAP_SETGID in its bounding set,
// so a docker exec --user 0 is root without them (the reference simulated
// a missing s6-setuidgid).
func TestContainerExecDropImpossible(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{
		User:  hermesUser,
		Flags: []string{"--cap-drop", "SETUID", "--cap-drop", "SETGID"},
		Args:  []string{"sleep", "infinity"},
	})
	waitReady(t, c, 30*time.Second)
	before, _ := catIn(t, c, "", "/opt/data/config.yaml")
	r := dockerExec(t, c, "0:0", "hermes", "config", "set", "model.name", "shim-marker")
	if r.Code != 126 {
		t.Fatalf("hermes as root that cannot drop: exit %d, want 126\n%s", r.Code, r)
	}
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "cannot drop root") ||
		!strings.Contains(lines[1], "--user") || !strings.Contains(lines[1], "HERMES_DOCKER_EXEC_AS_ROOT") {
		t.Errorf("want two lines on stderr: why (cannot drop root) and what to do (--user, HERMES_DOCKER_EXEC_AS_ROOT):\n%s", r)
	}
	if strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("stdout is not empty: %s", r)
	}
	if after, _ := catIn(t, c, "", "/opt/data/config.yaml"); after != before {
		t.Errorf("config.yaml changed although hermes refused to run")
	}
}

// TestContainerRootWithoutCapabilities (CONTRACT §2): init started as root
// without the capabilities it needs says which one is missing, and never
// runs the main command (the reference's s6-setuidgid failed with a bare
// "Operation not permitted": its §8 item 34).
func TestContainerRootWithoutCapabilities(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	capRE := regexp.MustCompile(`CAP_(SETUID|SETGID|CHOWN|DAC_OVERRIDE|FOWNER)`)
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"--cap-drop ALL", []string{"--cap-drop", "ALL"}},
		{"--cap-drop SETUID --cap-drop SETGID", []string{"--cap-drop", "SETUID", "--cap-drop", "SETGID"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, r := runContainer(t, containerOpts{Image: image, Flags: tt.flags, Args: []string{"sh", "-c", "echo should_not_reach"}}, dockerTimeout)
			out := r.Stdout + r.Stderr
			if r.Code == 0 || strings.Contains(out, "should_not_reach") || !capRE.MatchString(out) {
				t.Errorf("want a non-zero exit before the main command, with a message naming the missing capability (CAP_...): %s", r)
			}
		})
	}
}
