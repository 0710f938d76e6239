package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// seedConfig is a hand-written config.yaml: its comments, unknown keys and
// their order must survive every config set.
const seedConfig = `# my default profile
gateway:
  port: 8642 # the usual one
  # bind everywhere in the container
  host: 0.0.0.0
telegram:
  token_file: /run/secrets/telegram # not hermes's business
`

func TestConfigTranscript(t *testing.T) {
	home := t.TempDir()
	p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
	cfg := filepath.Join(home, "config.yaml")
	show := func(path string) func() {
		return func() {
			b, _ := os.ReadFile(path)
			t.Logf("%s:\n%s", path, b)
		}
	}
	steps := []cliStep{
		{args: []string{"config"}},
		{args: []string{"config", "get", "gateway.port"}, code: 1},
		{args: []string{"config", "set", "gateway.port", "8650"}},
		{args: []string{"config", "get", "gateway.port"}},
		{args: []string{"config", "get", "gateway.port", "--json"}},
		{args: []string{"config", "set", "gateway.port", "8642"},
			before: func() { os.WriteFile(cfg, []byte(seedConfig), 0o644) }},
		{args: []string{"config", "set", "gateway.port", "abc"}, code: 1},
		{args: []string{"config", "set", "gateway.port", "-5"}, code: 1},
		{args: []string{"config", "set", "gateway.port", "70000"}, code: 1},
		{args: []string{"config", "set", "gateway.drain_timeout", "2"}},
		{args: []string{"config", "set", "gateway.drain_timeout", "10s"}, code: 1},
		{args: []string{"config", "set", "gateway.cors_origins", "https://app.example, http://localhost:3000"}},
		{args: []string{"config", "get", "gateway.cors_origins"}},
		{args: []string{"config", "set", "model.api_key_env", "sk-or-v1-0123"}, code: 1},
		{args: []string{"config", "set", "model.base_url", "https://openrouter.ai/api/v1"}},
		{args: []string{"config", "set", "model.base_url", "http://:9998/v1"}, code: 1},
		{args: []string{"config", "set", "model.api_key_env", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD"}, code: 1},
		{args: []string{"config", "set", "model.name", "-- a dash first"}},
		{args: []string{"config", "get", "model.name", "--json"}},
		{args: []string{"config", "set", "OPENROUTER_API_KEY", "sk-or-test"}, code: 1},
		{args: []string{"config", "set", "model.temperature", "0.3"}, code: 1},
		{args: []string{"config", "set", "gateway.prot", "8650"}, code: 1},
		{args: []string{"config", "get", "gateway.max_concurrent"}, code: 1},
		{args: []string{"config", "get", "gateway"}},
		{args: []string{"config", "get", "--json", "gateway"}},
		{args: []string{"config", "set", "gateway", "x"}, code: 1},
		{args: []string{"config", "set", "gateway.port.x", "1"}, code: 1},
		{args: []string{"config", "get", "telegram.token_file"}},
		{args: []string{"config", "list"}},
		{args: []string{"config", "unset", "gateway.drain_timeout"}},
		{args: []string{"config", "unset", "gateway.drain_timeout"}},
		{args: []string{"config", "unset", "model.temprature"}, code: 1},
		{args: []string{"config", "unset"}, code: 1},
		{args: []string{"config", "list"}, code: 1,
			before: func() {
				b, _ := os.ReadFile(cfg)
				os.WriteFile(cfg, append(b, []byte("OPENROUTER_API_KEY: sk-or-test\nsessions:\n  idle_timeout: forever\n")...), 0o644)
			}},
		{args: []string{"config", "unset", "OPENROUTER_API_KEY"}},
		{args: []string{"config", "unset", "sessions.idle_timeout"}},
		{args: []string{"profile", "create", "coder"}, before: show(cfg)},
		{args: []string{"-p", "coder", "config", "get", "gateway.port"}},
		{args: []string{"-p", "coder", "config", "set", "gateway.port", "8642"}},
		{args: []string{"profile", "use", "coder"}},
		{args: []string{"config", "get", "gateway.port"}},
		{args: []string{"-p", "default", "config", "get", "gateway.port"}},
		{args: []string{"-p", "ghost", "config", "get", "gateway.port"}, code: 1},
		{args: []string{"-p", "Bad", "config", "get", "gateway.port"}, code: 1},
		{args: []string{"-p", "coder", "config", "get", "model.name"}, code: 1},
		{args: []string{"config", "set", "gateway.port"}, code: 1},
		{args: []string{"config", "set", "a", "b", "c"}, code: 1},
		{args: []string{"config", "get"}, code: 1},
		{args: []string{"config", "frob"}, code: 1},
		{args: []string{"config", "get", "x"}, code: 1,
			before: func() {
				os.WriteFile(profiles.ConfigPath(profiles.MustParse(home, "coder")), []byte("gateway: [\n"), 0o640)
			}},
	}
	got := p.transcript(t, steps)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got += "--- $HERMES_HOME/config.yaml after the transcript ---\n" + string(b)
	testenv.Golden(t, "config.golden", got)
}

// config set writes atomically with mode 0640 (whatever the umask and the
// file's mode before), and leaves no temporary file.
func TestConfigSetFile(t *testing.T) {
	home := t.TempDir()
	p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
	cfg := filepath.Join(home, "config.yaml")
	old := syscall.Umask(0o077)
	_, _, code := p.run(nil, "config", "set", "gateway.port", "8650")
	syscall.Umask(old)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	check := func(when string) {
		t.Helper()
		fi, err := os.Stat(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o640); got != want {
			t.Errorf("%s: mode %v, want %v", when, got, want)
		}
		entries, _ := os.ReadDir(home)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp") {
				t.Errorf("%s: temporary file %s left", when, e.Name())
			}
		}
	}
	check("created")
	os.Chmod(cfg, 0o666)
	if _, _, code := p.run(nil, "config", "set", "model.name", "m"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	check("rewritten")
	// A refused value leaves the file as it was.
	before, _ := os.ReadFile(cfg)
	if _, _, code := p.run(nil, "config", "set", "gateway.port", "0"); code != 1 {
		t.Errorf("gateway.port 0: exit %d, want 1", code)
	}
	if after, _ := os.ReadFile(cfg); string(after) != string(before) {
		t.Errorf("a refused set changed the file:\n%s", after)
	}
	// A symlink in place of config.yaml is never written through: the
	// hermes uid's command replaces it, root's refuses it.
	target := filepath.Join(t.TempDir(), "elsewhere.yaml")
	os.WriteFile(target, []byte("a: 1\n"), 0o644)
	os.Remove(cfg)
	os.Symlink(target, cfg)
	stdout, _, code := p.run(nil, "config", "set", "model.provider", "openrouter")
	switch {
	case os.Geteuid() == 0 && (code != 1 || !strings.Contains(stdout, "symbolic link")):
		t.Errorf("config set over a symlinked config.yaml as root: exit %d, %q; want 1 and a refusal naming the link", code, stdout)
	case os.Geteuid() != 0 && code != 0:
		t.Fatalf("exit %d", code)
	}
	if b, _ := os.ReadFile(target); string(b) != "a: 1\n" {
		t.Errorf("config set wrote through a symlink: %q", b)
	}
}

// TestConfigRefusedSetLeavesFile: every refused set leaves config.yaml
// byte for byte as it was.
func TestConfigRefusedSetLeavesFile(t *testing.T) {
	home := t.TempDir()
	p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
	cfg := filepath.Join(home, "config.yaml")
	os.WriteFile(cfg, []byte(seedConfig), 0o640)
	for _, args := range [][]string{
		{"model.base_url", "http://:9998/v1"}, {"OPENROUTER_API_KEY", "sk-or-test"}, {"model.temperature", "0.3"},
		{"gateway.port", "0"}, {"model.api_key_env", "API_SERVER_KEY"}, {"telegram.bot_token", "x"}, {"gateway", "x"},
	} {
		if _, _, code := p.run(nil, append([]string{"config", "set"}, args...)...); code != 1 {
			t.Errorf("config set %q: exit %d, want 1", args, code)
		}
		if b, _ := os.ReadFile(cfg); string(b) != seedConfig {
			t.Errorf("config set %q changed the file:\n%s", args, b)
		}
	}
}
