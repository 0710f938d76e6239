package volume

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// refuseChown makes every chown fail as a NAS or rootless Podman does.
func refuseChown(caps uint64) *sysOps {
	return &sysOps{
		fchown: func(int, int, int) error { return unix.EPERM },
		capEff: func() (uint64, error) { return caps, nil },
	}
}

const allCaps = ^uint64(0)

// TestPreflightMessages: when the hermes uid cannot use the home and
// hermes cannot repair it, the boot error names the path, its owner and
// mode, and the fix (golden file).
func TestPreflightMessages(t *testing.T) {
	testenv.NeedRoot(t, "give the home to other uids and check the hermes uid's access")
	type tc struct {
		name  string
		setup func(t *testing.T, tmp string) (home string, sys *sysOps)
	}
	cases := []tc{
		{"home owned by another uid, chown refused", func(t *testing.T, tmp string) (string, *sysOps) {
			home := filepath.Join(tmp, "data")
			mkdir(t, home, 0o700, 4242, 4242)
			return home, refuseChown(allCaps)
		}},
		{"home owned by another uid, root without CAP_CHOWN", func(t *testing.T, tmp string) (string, *sysOps) {
			home := filepath.Join(tmp, "data")
			mkdir(t, home, 0o700, 4242, 4242)
			return home, refuseChown(0)
		}},
		{"managed file owned by root, chown refused", func(t *testing.T, tmp string) (string, *sysOps) {
			home := filepath.Join(tmp, "data")
			mkdir(t, home, 0o755, hermesUID, hermesGID)
			mkfile(t, filepath.Join(home, "config.yaml"), "gateway: {}\n", 0o600, 0, 0)
			return home, refuseChown(allCaps)
		}},
		{"managed directory owned by root, chown refused", func(t *testing.T, tmp string) (string, *sysOps) {
			home := filepath.Join(tmp, "data")
			mkdir(t, home, 0o755, hermesUID, hermesGID)
			mkdir(t, filepath.Join(home, "platforms", "pairing"), 0o755, 0, 0)
			return home, refuseChown(allCaps)
		}},
		{"managed file with two hard links", func(t *testing.T, tmp string) (string, *sysOps) {
			home := filepath.Join(tmp, "data")
			mkdir(t, home, 0o755, hermesUID, hermesGID)
			mkfile(t, filepath.Join(tmp, "elsewhere"), "SECRET=1\n", 0o600, 0, 0)
			if err := os.Link(filepath.Join(tmp, "elsewhere"), filepath.Join(home, ".env")); err != nil {
				t.Fatal(err)
			}
			return home, nil
		}},
		{"parent directory not traversable", func(t *testing.T, tmp string) (string, *sysOps) {
			home := filepath.Join(tmp, "locked", "data")
			mkdir(t, home, 0o755, hermesUID, hermesGID)
			chownMod(t, filepath.Join(tmp, "locked"), 0o700, 0, 0)
			return home, nil
		}},
	}
	var got strings.Builder
	for _, c := range cases {
		tmp := sharedTempDir(t)
		home, sys := c.setup(t, tmp)
		cfg, _ := rootConfig(t, home)
		cfg.sys = sys
		err := Preflight(cfg)
		var ue *UnusableError
		if !errors.As(err, &ue) {
			t.Errorf("%s: Preflight = %v, want an *UnusableError", c.name, err)
			continue
		}
		msg := strings.ReplaceAll(err.Error(), tmp, "$TMP")
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: the message is not one line: %q", c.name, msg)
		}
		got.WriteString("== " + c.name + "\n" + msg + "\n\n")
	}
	got.WriteString("== not root: the process's own access\n" + selfMessage(t) + "\n")
	testenv.Golden(t, "preflight.golden", got.String())
}

// selfMessage runs Preflight in a process of uid 4242 on a home it cannot
// use, and returns its message.
func selfMessage(t *testing.T) string {
	t.Helper()
	tmp := sharedTempDir(t)
	home := filepath.Join(tmp, "data")
	mkdir(t, home, 0o700, 0, 0)
	cmd, _, out := helper(t, "preflight-self", home, &syscall.Credential{Uid: 4242, Gid: 4242})
	line, _ := out.ReadString('\n')
	_ = cmd.Wait()
	return strings.ReplaceAll(strings.TrimSuffix(line, "\n"), tmp, "$TMP")
}

func TestPreflightCreatesHome(t *testing.T) {
	testenv.NeedRoot(t, "create the home for the hermes uid")
	home := filepath.Join(sharedTempDir(t), "a", "b", "data")
	cfg, _ := rootConfig(t, home)
	if err := Preflight(cfg); err != nil {
		t.Fatal(err)
	}
	wantOwner(t, home, hermesUID, hermesGID)
	if _, _, mode := owner(t, home); mode != 0o755 {
		t.Errorf("new home mode %o, want 0755", mode)
	}
}

func TestPreflightRepairsWhatTheHermesUIDCannotUse(t *testing.T) {
	testenv.NeedRoot(t, "give files to other uids")
	home := filepath.Join(sharedTempDir(t), "data")
	mkdir(t, home, 0o500, 4242, 4242)
	mkfile(t, filepath.Join(home, "config.yaml"), "x: 1\n", 0o400, 0, 0)
	mkdir(t, filepath.Join(home, "sessions"), 0o700, 0, 0)
	cfg, logged := rootConfig(t, home)
	if err := Preflight(cfg); err != nil {
		t.Fatal(err)
	}
	for p, wantMode := range map[string]uint32{home: 0o700, filepath.Join(home, "config.yaml"): 0o600, filepath.Join(home, "sessions"): 0o700} {
		wantOwner(t, p, hermesUID, hermesGID)
		if _, _, mode := owner(t, p); mode != wantMode {
			t.Errorf("%s mode %o, want %o", p, mode, wantMode)
		}
	}
	if len(*logged) != 3 || !strings.Contains((*logged)[0], "gave "+home) {
		t.Errorf("log = %q, want one line per repaired entry", *logged)
	}
}

// A home the hermes uid can already use keeps its owner (a group given by
// --group-add, or open modes): Preflight changes only what is unusable.
func TestPreflightLeavesUsableEntriesAlone(t *testing.T) {
	testenv.NeedRoot(t, "give files to other uids")
	home := filepath.Join(sharedTempDir(t), "data")
	mkdir(t, home, 0o770, 4242, 5555)
	mkfile(t, filepath.Join(home, "SOUL.md"), "x", 0o666, 4242, 4242)
	outside := filepath.Join(sharedTempDir(t), "secret")
	mkdir(t, outside, 0o700, 0, 0)
	if err := os.Symlink(outside, filepath.Join(home, "profiles")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := rootConfig(t, home)
	cfg.Groups = []int{5555}
	if err := Preflight(cfg); err != nil {
		t.Fatal(err)
	}
	wantOwner(t, home, 4242, 5555)
	wantOwner(t, filepath.Join(home, "SOUL.md"), 4242, 4242)
	wantOwner(t, outside, 0, 0)
}

func TestPreflightReadOnlyVolume(t *testing.T) {
	testenv.NeedRoot(t, "mount a read-only tmpfs")
	home := filepath.Join(sharedTempDir(t), "data")
	mkdir(t, home, 0o755, hermesUID, hermesGID)
	err := unix.Mount("tmpfs", home, "tmpfs", unix.MS_RDONLY, "mode=0755,uid=10000")
	testenv.Need(t, err == nil, "mount a tmpfs (CAP_SYS_ADMIN) to have a read-only filesystem")
	defer unix.Unmount(home, unix.MNT_DETACH)
	cfg, _ := rootConfig(t, home)
	err = Preflight(cfg)
	if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), home) {
		t.Errorf("Preflight = %v, want a read-only error naming %s", err, home)
	}
}

// Not root, Preflight only checks: a usable home passes, in host mode too.
func TestPreflightNotRoot(t *testing.T) {
	home := filepath.Join(t.TempDir(), "data")
	cfg := Config{Home: home, UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(nil)}
	if err := Preflight(cfg); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(home)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("host-mode home: %v, mode %v, want a new 0700 directory", err, fi.Mode().Perm())
	}
}
