package profiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClone: --clone copies config.yaml (with its own port), SOUL.md and
// .env (with a fresh key, without the legacy port); --clone-all also the
// rest of the directory but the gateway's runtime files and the logs;
// --description is kept.
func TestClone(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "src")); err != nil {
		t.Fatal(err)
	}
	srcDir := MustParse(home, "src").Dir()
	c, _ := LoadProfileConfig(MustParse(home, "src"))
	c.Set(KeyModelName, "openai/gpt-4o-mini")
	WriteConfig(home, ConfigPath(MustParse(home, "src")), c)
	writeFile(t, SOULPath(MustParse(home, "src")), "You are a pirate.\n")
	EnvSet(MustParse(home, "src"), "OPENROUTER_API_KEY", "sk-or-test")
	EnvSet(MustParse(home, "src"), legacyPortVar, "9999")
	writeFile(t, filepath.Join(srcDir, FileSessions), "sqlite bytes")
	writeFile(t, filepath.Join(srcDir, "memories", "m.md"), "remember")
	writeFile(t, filepath.Join(srcDir, FileGatewayState), "{}")
	writeFile(t, filepath.Join(srcDir, FilePID), "1")
	os.Symlink("/etc/passwd", filepath.Join(srcDir, "workspace", "link"))
	srcEnv, _ := ReadEnv(EnvPath(MustParse(home, "src")))
	srcPort, _ := Port(MustParse(home, "src"))

	if err := Clone(MustParse(home, "copy"), CreateOptions{From: "src", Description: "a copy of src"}); err != nil {
		t.Fatal(err)
	}
	if err := Clone(MustParse(home, "full"), CreateOptions{From: "src", All: true}); err != nil {
		t.Fatal(err)
	}
	ports := map[int]string{srcPort: "src"}
	for _, name := range []string{"copy", "full"} {
		dir := MustParse(home, name).Dir()
		env, _ := ReadEnv(EnvPath(MustParse(home, name)))
		if env["OPENROUTER_API_KEY"] != "sk-or-test" || env[APIKeyVar] == srcEnv[APIKeyVar] || CheckAPIKey(env[APIKeyVar]) != nil {
			t.Errorf("%s: .env %v", name, env)
		}
		if _, ok := env[legacyPortVar]; ok {
			t.Errorf("%s: the legacy port was copied", name)
		}
		cc, _ := LoadProfileConfig(MustParse(home, name))
		if m, _ := cc.Model(); m.Name != "openai/gpt-4o-mini" {
			t.Errorf("%s: model %q", name, m.Name)
		}
		p, err := Port(MustParse(home, name))
		if err != nil || ports[p] != "" {
			t.Errorf("%s: port %d (%v), already %s's", name, p, err, ports[p])
		}
		ports[p] = name
		if b, _ := os.ReadFile(SOULPath(MustParse(home, name))); string(b) != "You are a pirate.\n" {
			t.Errorf("%s: SOUL.md %q", name, b)
		}
		if mode(t, EnvPath(MustParse(home, name))) != EnvMode || mode(t, ConfigPath(MustParse(home, name))) != ConfigMode {
			t.Errorf("%s: modes", name)
		}
		for _, runtime := range []string{FileGatewayState, FilePID, "workspace/link"} {
			if _, err := os.Lstat(filepath.Join(dir, runtime)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %s copied", name, runtime)
			}
		}
	}
	if Description(MustParse(home, "copy")) != "a copy of src" || Description(MustParse(home, "full")) != "" {
		t.Errorf("descriptions %q %q", Description(MustParse(home, "copy")), Description(MustParse(home, "full")))
	}
	if _, err := os.Stat(filepath.Join(MustParse(home, "copy").Dir(), FileSessions)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--clone copied the sessions")
	}
	for rel, want := range map[string]string{FileSessions: "sqlite bytes", "memories/m.md": "remember"} {
		if b, _ := os.ReadFile(filepath.Join(MustParse(home, "full").Dir(), rel)); string(b) != want {
			t.Errorf("full: %s = %q", rel, b)
		}
	}
}

// TestCloneRefusals: each refused before anything is made.
func TestCloneRefusals(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "src")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, EnvPath(MustParse(home, "src")), "API_SERVER_KEY=0123456789abcdef\nbroken line\n")
	for _, tc := range []struct {
		name string
		o    CreateOptions
		says string
	}{
		{"x", CreateOptions{From: "nosuch"}, "cannot clone profile nosuch: it does not exist"},
		{"x", CreateOptions{From: "src"}, "line 2"},
		{"x", CreateOptions{From: "x"}, "cloned from itself"},
		{"x", CreateOptions{All: true}, "needs a profile to copy from"},
		{"x", CreateOptions{Description: "two\nlines"}, "one line"},
		{"default", CreateOptions{From: "src"}, "choose another name"},
		{"src", CreateOptions{}, "already exists"},
	} {
		err := Clone(MustParse(home, tc.name), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s %+v: %v, want an error saying %q", tc.name, tc.o, err, tc.says)
		}
		if tc.name == "x" {
			if _, err := os.Stat(MustParse(home, "x").Dir()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%+v: left %s behind", tc.o, MustParse(home, "x").Dir())
			}
		}
	}
}

// TestCloneFromDefault: the root's own entries are not copied.
func TestCloneFromDefault(t *testing.T) {
	home := t.TempDir()
	writeFile(t, SOULPath(MustParse(home, Default)), string(DefaultSOUL(Default)))
	writeFile(t, EnvPath(MustParse(home, Default)), "API_SERVER_KEY=0123456789abcdef0\n")
	writeFile(t, filepath.Join(home, FileActiveProfile), "default\n")
	if err := Create(MustParse(home, "other")); err != nil {
		t.Fatal(err)
	}
	if err := Clone(MustParse(home, "copy"), CreateOptions{From: Default, All: true}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{DirProfiles, FileActiveProfile} {
		if _, err := os.Lstat(filepath.Join(MustParse(home, "copy").Dir(), rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s copied from the root", rel)
		}
	}
}

func TestDeleteDefault(t *testing.T) {
	err := Delete(MustParse(t.TempDir(), Default))
	if err == nil || strings.Contains(err.Error(), "choose another name") || !strings.Contains(err.Error(), "cannot be deleted") {
		t.Errorf("Delete(default) = %v", err)
	}
}
