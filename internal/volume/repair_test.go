package volume

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestRepair: root-owned entries of the managed trees and files become the
// hermes user's; nothing outside them changes; no symlink or hard link is
// followed (the reference's pitfalls 17 and 18).
func TestRepair(t *testing.T) {
	testenv.NeedRoot(t, "give files to other uids")
	tmp := sharedTempDir(t)
	home := filepath.Join(tmp, "data")
	mkdir(t, home, 0o755, 0, 0)
	// Managed: a profile tree created by "docker exec ... hermes" as root.
	mkdir(t, filepath.Join(home, "profiles", "coder", "sessions"), 0o700, 0, 0)
	mkfile(t, filepath.Join(home, "profiles", "coder", "SOUL.md"), "# coder\n", 0o400, 0, 0)
	mkfile(t, filepath.Join(home, "profiles", "coder", "sessions", "s1.json"), "{}", 0o4640, 0, 0)
	mkfile(t, filepath.Join(home, "profiles", "coder", "mine"), "x", 0o640, hermesUID, 4242) // hermes's: group kept
	mkfile(t, filepath.Join(home, "auth.json"), "{}", 0o600, 0, 0)
	mkfile(t, filepath.Join(home, "platforms", "pairing", "code"), "1", 0o600, 0, 0)
	// Planted: links to files outside the home, as a hostile agent would.
	victim := filepath.Join(tmp, "shadow")
	mkfile(t, victim, "root:*:1::::::\n", 0o640, 0, 42)
	if err := os.Symlink(victim, filepath.Join(home, "profiles", "evil-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(home, ".env")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, filepath.Join(home, "profiles", "coder", "evil-hard")); err != nil {
		t.Fatal(err)
	}
	victimDir := filepath.Join(tmp, "etc")
	mkdir(t, victimDir, 0o700, 0, 0)
	mkfile(t, filepath.Join(victimDir, "passwd"), "x", 0o644, 0, 0)
	if err := os.Symlink(victimDir, filepath.Join(home, "skills")); err != nil {
		t.Fatal(err)
	}
	// Not managed: a person's files elsewhere in the volume.
	mkfile(t, filepath.Join(home, "notes.txt"), "mine", 0o600, 4242, 4242)
	mkdir(t, filepath.Join(home, "custom"), 0o700, 4242, 4242)
	mkfile(t, filepath.Join(home, "custom", "data"), "mine", 0o600, 0, 0)
	mkfile(t, filepath.Join(home, "platforms", "other"), "mine", 0o600, 0, 0)
	if err := unix.Mkfifo(filepath.Join(home, "logs-fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(home, "logs"), 0o755, 0, 0)
	if err := unix.Mkfifo(filepath.Join(home, "logs", "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A socket a previous boot published: neither changed nor counted.
	mkdir(t, filepath.Join(home, "run"), 0o700, hermesUID, hermesGID)
	sock := filepath.Join(home, "run", "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	cfg, logged := rootConfig(t, home)
	rep, err := Repair(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantOwner(t, sock, 0, 0)

	for _, p := range []string{
		"", "profiles", "profiles/coder", "profiles/coder/sessions", "profiles/coder/SOUL.md",
		"profiles/coder/sessions/s1.json", "auth.json", "platforms/pairing", "platforms/pairing/code", "logs",
	} {
		wantOwner(t, filepath.Join(home, p), hermesUID, hermesGID)
	}
	for p, want := range map[string]uint32{
		"profiles/coder/SOUL.md":          0o600, // u+rw added
		"profiles/coder/sessions/s1.json": 0o640, // setuid dropped
		"profiles/coder/sessions":         0o700,
	} {
		if _, _, mode := owner(t, filepath.Join(home, p)); mode != want {
			t.Errorf("%s mode %o, want %o", p, mode, want)
		}
	}
	wantOwner(t, filepath.Join(home, "profiles", "coder", "mine"), hermesUID, 4242)
	// Links: neither the targets nor the links changed.
	if u, g, mode := owner(t, victim); u != 0 || g != 42 || mode != 0o640 {
		t.Errorf("the target of the planted links is now %d:%d %o", u, g, mode)
	}
	wantOwner(t, victimDir, 0, 0)
	wantOwner(t, filepath.Join(victimDir, "passwd"), 0, 0)
	wantOwner(t, filepath.Join(home, "profiles", "evil-link"), 0, 0)
	wantOwner(t, filepath.Join(home, ".env"), 0, 0)
	// Unmanaged entries keep their owners.
	wantOwner(t, filepath.Join(home, "notes.txt"), 4242, 4242)
	wantOwner(t, filepath.Join(home, "custom"), 4242, 4242)
	wantOwner(t, filepath.Join(home, "custom", "data"), 0, 0)
	wantOwner(t, filepath.Join(home, "platforms"), 0, 0)
	wantOwner(t, filepath.Join(home, "platforms", "other"), 0, 0)
	wantOwner(t, filepath.Join(home, "logs-fifo"), 0, 0)
	wantOwner(t, filepath.Join(home, "logs", "pipe"), 0, 0)

	if rep.Changed != 10 || rep.Failed != 0 {
		t.Errorf("report = %+v, want 10 changed, none failed", rep)
	}
	// evil-link, evil-hard, the skills symlink, .env, logs/pipe
	if rep.Skipped != 5 {
		t.Errorf("report = %+v, want 5 skipped", rep)
	}
	if want := []string{".", "logs", "profiles", "platforms/pairing", "auth.json"}; !slices.Equal(rep.Paths, want) {
		t.Errorf("report paths = %q, want %q", rep.Paths, want)
	}
	if s := rep.String(); !strings.Contains(s, "repaired 10 entries (in ., logs, profiles, platforms/pairing, auth.json)") || !strings.Contains(s, "5 left alone") {
		t.Errorf("report line = %q", s)
	}
	if !slices.ContainsFunc(*logged, func(l string) bool { return strings.Contains(l, "evil-hard") && strings.Contains(l, "hard links") }) {
		t.Errorf("no warning about the hard link: %q", *logged)
	}

	// A second Repair finds nothing to do.
	rep, err = Repair(cfg)
	if err != nil || rep.Changed != 0 || rep.Failed != 0 {
		t.Errorf("second Repair = %+v, %v; want nothing changed", rep, err)
	}
}

// A refused chown (NAS, rootless Podman) is counted and warned, not fatal.
func TestRepairRefusedIsCounted(t *testing.T) {
	testenv.NeedRoot(t, "give files to other uids")
	home := filepath.Join(sharedTempDir(t), "data")
	mkdir(t, home, 0o755, hermesUID, hermesGID)
	mkfile(t, filepath.Join(home, "sessions", "a"), "", 0o600, 0, 0)
	mkfile(t, filepath.Join(home, "sessions", "b"), "", 0o600, 0, 0)
	cfg, logged := rootConfig(t, home)
	cfg.sys = refuseChown(allCaps)
	rep, err := Repair(cfg)
	if err != nil {
		t.Fatalf("Repair = %v, want failures counted, not returned", err)
	}
	if rep.Failed != 3 || rep.Changed != 0 {
		t.Errorf("report = %+v, want 3 failed (sessions, a, b)", rep)
	}
	if len(*logged) != 3 || !strings.Contains((*logged)[0], "operation not permitted") {
		t.Errorf("warnings = %q", *logged)
	}
}

// A bind mount below a managed directory keeps its owner, inside and out.
func TestRepairLeavesMountPoints(t *testing.T) {
	testenv.NeedRoot(t, "bind-mount a directory into the home")
	tmp := sharedTempDir(t)
	home := filepath.Join(tmp, "data")
	mkdir(t, filepath.Join(home, "skills", "shared"), 0o755, 0, 0)
	src := filepath.Join(tmp, "host-skills")
	mkdir(t, src, 0o755, 4242, 4242)
	mkfile(t, filepath.Join(src, "skill.md"), "x", 0o644, 4242, 4242)
	err := unix.Mount(src, filepath.Join(home, "skills", "shared"), "", unix.MS_BIND, "")
	testenv.Need(t, err == nil, "bind-mount (CAP_SYS_ADMIN) to have a mount point in the home")
	defer unix.Unmount(filepath.Join(home, "skills", "shared"), unix.MNT_DETACH)
	cfg, _ := rootConfig(t, home)
	rep, err := Repair(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantOwner(t, filepath.Join(home, "skills"), hermesUID, hermesGID)
	wantOwner(t, src, 4242, 4242)
	wantOwner(t, filepath.Join(src, "skill.md"), 4242, 4242)
	if rep.Skipped != 1 {
		t.Errorf("report = %+v, want the mount point skipped", rep)
	}
}

func TestRepairNotRootDoesNothing(t *testing.T) {
	home := t.TempDir()
	rep, err := Repair(Config{Home: home, UID: 1, GID: 1})
	if err != nil || rep.Changed+rep.Failed+rep.Skipped != 0 {
		t.Errorf("Repair as non-root = %+v, %v", rep, err)
	}
	if s := rep.String(); s != "ownership: nothing to repair" {
		t.Errorf("empty report line = %q", s)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:             "/a/b",
		`/with\040space`:   "/with space",
		`/tab\011x\134y`:   "/tab\tx\\y",
		`/trailing\04`:     `/trailing\04`,
		`/not\999octal\\x`: `/not\999octal\\x`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// Root never repairs a HERMES_HOME that is a system directory.
func TestSystemDirectoryIsRefused(t *testing.T) {
	link := filepath.Join(t.TempDir(), "home")
	if err := os.Symlink("/etc", link); err != nil {
		t.Fatal(err)
	}
	for _, home := range []string{"/", "/root", "/opt/", link} {
		cfg := Config{Home: home, UID: hermesUID, GID: hermesGID, Root: true, Env: hostEnv(nil)}
		if err := Preflight(cfg); err == nil || !strings.Contains(err.Error(), "system directory") {
			t.Errorf("Preflight(%s) = %v, want a refusal", home, err)
		}
		if _, err := Repair(cfg); err == nil || !strings.Contains(err.Error(), "system directory") {
			t.Errorf("Repair(%s) = %v, want a refusal", home, err)
		}
	}
}

// TestMountsReadOnFirstQuestion: the mount points below a home are read
// once, when first asked for, and answer as mountinfo says.
func TestMountsReadOnFirstQuestion(t *testing.T) {
	m := &mounts{home: "/"}
	if m.rels != nil {
		t.Fatal("mount points read before the first question")
	}
	if !m.has("proc") {
		t.Errorf(`has("proc") below / = false; /proc is a mount point`)
	}
	if m.has("no/such/mount") {
		t.Error(`has("no/such/mount") = true`)
	}
	if m.rels == nil {
		t.Error("mount points not kept after the first question")
	}
}

// TestListTop: the top of a home, read once, tells which layout entries
// may exist; a home that cannot be read has every name.
func TestListTop(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "platforms", "pairing"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "SOUL.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := safefs.OpenBase(home)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	top := listTop(base)
	for rel, want := range map[string]bool{"SOUL.md": true, "platforms/pairing": true, "platforms": true, "logs": false, "logs/gateways": false, ".env": false} {
		if got := top.may(rel); got != want {
			t.Errorf("may(%q) = %v, want %v", rel, got, want)
		}
	}
	if !present(nil).may("logs") {
		t.Error("an unread home lacks a name")
	}
}
