package control_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// savedFixture is a control server over a fake supervisor whose home is a
// fresh directory, owned by the hermes uid as in a container.
func savedFixture(t *testing.T) (home string, sup *controltest.Supervisor, c *control.Client) {
	t.Helper()
	home = t.TempDir()
	uid := fixtureUID()
	if os.Getuid() == 0 {
		if err := os.Chown(home, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	sup = controltest.NewSupervisor(home, uid, uid).Reserve(runtimeNames)
	return home, sup, control.NewClient(controltest.Serve(t, sup, home, controltest.Options{HermesUID: uid, HermesGID: uid}))
}

// TestSaveService: svc add --save writes services.d/NAME.yaml, owned by
// the hermes uid, that the static service file parser reads back as the
// same spec; the status says saved; a spec beyond the hermes uid's rights
// is refused with nothing written; a registration without save and a
// removal take the file away.
func TestSaveService(t *testing.T) {
	home, _, c := savedFixture(t)
	ctx := context.Background()
	uid := fixtureUID()
	spec := supervise.Spec{Name: "web", Argv: []string{"/bin/web", "--port", "8080"}, Env: map[string]string{"A": "1"},
		Restart: supervise.RestartAlways, StopGrace: supervise.Duration(7e9)}
	st, err := c.Save(ctx, spec, true)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Saved {
		t.Errorf("status after Save: saved = false, want true")
	}
	file := control.SavedFile(home, "web")
	if want := filepath.Join(home, profiles.DirServices, "web.yaml"); file != want {
		t.Errorf("SavedFile = %s, want %s", file, want)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := supervise.ParseSpecFile(file, data)
	if err != nil {
		t.Fatalf("the saved file does not parse as a service file: %v\n%s", err, data)
	}
	if got.Name != spec.Name || !slices.Equal(got.Argv, spec.Argv) || got.Env["A"] != "1" || got.Restart != spec.Restart || got.StopGrace != spec.StopGrace {
		t.Errorf("saved spec = %+v, want %+v", got, spec)
	}
	var fi syscall.Stat_t
	if err := syscall.Stat(file, &fi); err != nil {
		t.Fatal(err)
	}
	if int(fi.Uid) != uid || int(fi.Gid) != uid {
		t.Errorf("saved file owned by %d:%d, want the hermes uid %d:%d", fi.Uid, fi.Gid, uid, uid)
	}

	for _, bad := range []struct {
		name string
		spec supervise.Spec
		want string
	}{
		{"as root", supervise.Spec{Name: "rooty", Argv: []string{"/bin/x"}, User: "root"}, "would run as 0:0"},
		{"dir outside the home", supervise.Spec{Name: "out", Argv: []string{"/bin/x"}, Dir: "/etc"}, "outside HERMES_HOME"},
		{"reserved", supervise.Spec{Name: "dashboard", Argv: []string{"/bin/x"}}, "reserved"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := c.Save(ctx, bad.spec, false)
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Save(%s) = %v, want an error saying %q", bad.name, err, bad.want)
			}
			if _, err := os.Lstat(control.SavedFile(home, bad.spec.Name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused save left %s (%v)", control.SavedFile(home, bad.spec.Name), err)
			}
		})
	}

	if st, err = c.Register(ctx, spec, true); err != nil {
		t.Fatal(err)
	}
	if st.Saved {
		t.Errorf("status after a Register without save: saved = true, want false")
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a Register without save kept %s (%v)", file, err)
	}
	if _, err := c.Save(ctx, spec, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("svc rm kept %s (%v)", file, err)
	}
}

// TestLoadSaved: what the boot loads from services.d, and each refusal
// (one line naming the file and why).
func TestLoadSaved(t *testing.T) {
	uid := fixtureUID()
	files := map[string]string{
		"good.yaml":      "argv: [/bin/good]\nenv: {A: \"1\"}\n",
		"hermes.yml":     "argv: [/bin/h]\nuser: hermes\n",
		"rooty.yaml":     "argv: [/bin/x]\nuser: root\n",
		"outside.yaml":   "argv: [/bin/x]\ndir: /etc\n",
		"climb.yaml":     "argv: [/bin/x]\nlog_file: ../../etc/x\n",
		"dashboard.yaml": "argv: [/bin/x]\n",
		"gateway-x.yaml": "argv: [/bin/x]\n",
		"Bad Name.yaml":  "argv: [/bin/x]\n",
		"other.yaml":     "name: notother\nargv: [/bin/x]\n",
		"static.yaml":    "argv: [/bin/mine]\n",
		"typo.yaml":      "argv: [/bin/x]\nrestrat: always\n",
		"huge.yaml":      "argv: [/bin/x]\n" + strings.Repeat("# padding\n", 200_000),
		"notes.txt":      "not a service\n",
	}
	home := t.TempDir()
	dir := filepath.Join(home, profiles.DirServices)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "target.yaml")
	if err := os.WriteFile(outside, []byte("argv: [/bin/x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	specs, refused := control.LoadSaved(control.SavedConfig{
		Home: home, HermesUID: uid, HermesGID: uid, Reserved: runtimeNames,
		Static: func(name string) bool { return name == "static" },
	})
	var names []string
	for _, sp := range specs {
		if !sp.Saved {
			t.Errorf("loaded %s without Saved", sp.Name)
		}
		names = append(names, sp.Name)
	}
	if want := []string{"good", "hermes"}; !slices.Equal(names, want) {
		t.Errorf("loaded %q, want %q", names, want)
	}
	why := map[string]string{}
	for _, r := range refused {
		line := r.String()
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "refusing "+dir+"/") {
			t.Errorf("refusal line %q: want one line starting with refusing %s/", line, dir)
		}
		why[filepath.Base(r.Path)] = line
	}
	for file, want := range map[string]string{
		"rooty.yaml":     "would run as 0:0",
		"outside.yaml":   "dir /etc is outside HERMES_HOME",
		"climb.yaml":     "is outside HERMES_HOME",
		"dashboard.yaml": "reserved",
		"gateway-x.yaml": "reserved",
		"Bad Name.yaml":  "must match",
		"other.yaml":     `names the service "notother"`,
		"static.yaml":    "a static service named static exists",
		"typo.yaml":      "field restrat not found",
		"huge.yaml":      "larger than 1048576 bytes",
		"link.yaml":      "symbolic link",
	} {
		line, ok := why[file]
		switch {
		case !ok:
			t.Errorf("%s was not refused", file)
		case !strings.Contains(line, want) || !strings.Contains(line, "not loaded"):
			t.Errorf("refusal of %s = %q, want it to say %q and that it is not loaded", file, line, want)
		}
	}
	if len(refused) != 11 {
		t.Errorf("%d refusals, want 11 (one per bad file, none for notes.txt): %v", len(refused), refused)
	}

	// No services.d: nothing to load, nothing refused.
	if specs, refused := control.LoadSaved(control.SavedConfig{Home: t.TempDir(), HermesUID: uid, HermesGID: uid}); len(specs)+len(refused) != 0 {
		t.Errorf("LoadSaved of a home without services.d = %v, %v; want nothing", specs, refused)
	}
}
