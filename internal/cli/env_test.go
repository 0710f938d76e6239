package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestEnvTranscript: hermes env as a person uses it; every refusal is one
// line with what to type instead, and leaves .env byte for byte.
func TestEnvTranscript(t *testing.T) {
	home := t.TempDir()
	p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
	os.WriteFile(profiles.SOULPath(profiles.MustParse(home, "default")), profiles.DefaultSOUL("default"), 0o644)
	os.WriteFile(profiles.EnvPath(profiles.MustParse(home, "default")), []byte("# secrets of the default profile\nAPI_SERVER_KEY=0123456789abcdef0123456789abcdef\n"), 0o600)
	envFile := profiles.EnvPath(profiles.MustParse(home, "default"))
	var before string
	keep := func() { b, _ := os.ReadFile(envFile); before = string(b) }
	steps := []cliStep{
		{args: []string{"env"}},
		{args: []string{"env", "list"}},
		{args: []string{"env", "set", "OPENROUTER_API_KEY"}, stdin: strings.NewReader("sk-or-v1-0123456789abcdef\n")},
		{args: []string{"config", "set", "model.api_key_env", "OPENROUTER_API_KEY"}},
		{args: []string{"env", "set", "EXTRA", "-starts with a dash"}},
		{args: []string{"env", "set", "PASTED"}, stdin: tty{strings.NewReader("typed-on-a-terminal\n")}},
		{args: []string{"env", "list"}},
		{args: []string{"env", "get", "OPENROUTER_API_KEY"}, code: 1},
		{args: []string{"env", "get", "OPENROUTER_API_KEY", "--reveal"}},
		{args: []string{"env", "get", "MISSING"}, code: 1},
		{args: []string{"env", "set", "openrouter-api-key", "x"}, code: 1, before: keep},
		{args: []string{"env", "set", "2FA", "x"}, code: 1},
		{args: []string{"env", "set", "EMPTY"}, code: 1},
		{args: []string{"env", "set", "API_SERVER_KEY", "short"}, code: 1},
		{args: []string{"env", "unset", "MISSING"}, code: 1},
		{args: []string{"env", "rotate", "OPENROUTER_API_KEY"}, code: 1},
		{args: []string{"env", "set"}, code: 1},
		{args: []string{"env", "frob"}, code: 1},
		{args: []string{"-p", "ghost", "env", "list"}, code: 1},
		{args: []string{"env", "unset", "EXTRA"}},
		{args: []string{"env", "rotate", "API_SERVER_KEY"}},
		{args: []string{"env", "set", "A", "1"}, code: 1,
			before: func() {
				b, _ := os.ReadFile(envFile)
				os.WriteFile(envFile, append(b, []byte("this line is broken\n")...), 0o600)
				keep()
			}},
	}
	got := p.transcript(t, steps)
	if b, _ := os.ReadFile(envFile); string(b) != before {
		t.Errorf("a refused env command changed .env:\n%s\nwas\n%s", b, before)
	}
	if strings.Contains(got, "sk-or-v1-0123456789abcdef") != true {
		t.Errorf("env get --reveal did not print the value")
	}
	if n := strings.Count(got, "sk-or-v1-0123456789abcdef"); n != 1 {
		t.Errorf("the secret is printed %d times, want once (by get --reveal)", n)
	}
	got = regexp.MustCompile(`\n[0-9a-f]{64}\n`).ReplaceAllString(got, "\nNEW-KEY\n")
	testenv.Golden(t, "env.golden", got)
	if fi, _ := os.Stat(envFile); fi.Mode().Perm() != profiles.EnvMode {
		t.Errorf(".env mode %v", fi.Mode())
	}
}
