package cli

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/agent"
)

// ttyReader is standard input that says it is a terminal.
type ttyReader struct{ io.Reader }

func (ttyReader) IsTerminal() bool { return true }

func TestLogin(t *testing.T) {
	const seed = `{"version": 1, "portal": {"token": "t"}, "providers": {"nous": {"access_token": "tok"}, "openrouter": {"api_key": "old", "org": "o"}}}`
	tests := []struct {
		name     string
		args     []string
		stdin    io.Reader
		seed     string
		code     int
		out      []string // parts of stdout
		first    string   // the first line of stdout, when set
		stderr   string   // a part of stderr
		wantKeys map[string]string
	}{
		{name: "piped key", args: []string{"login", "--provider", "openrouter"}, stdin: strings.NewReader("sk-or-v1-abc\n"), seed: seed,
			out:      []string{"✓ stored the key for provider 'openrouter' in $HERMES_HOME/auth.json", "config set model.provider openrouter"},
			wantKeys: map[string]string{"openrouter": "sk-or-v1-abc", "nous": "tok"}},
		{name: "new file, crlf", args: []string{"login", "--provider=groq"}, stdin: strings.NewReader("gsk_1\r\n"),
			out: []string{"✓ stored the key for provider 'groq'"}, wantKeys: map[string]string{"groq": "gsk_1"}},
		{name: "no trailing newline", args: []string{"login", "--provider", "groq"}, stdin: strings.NewReader("gsk_2"),
			out: []string{"✓"}, wantKeys: map[string]string{"groq": "gsk_2"}},
		{name: "terminal", args: []string{"login", "--provider", "groq"}, stdin: ttyReader{strings.NewReader("gsk_tty\n")},
			out: []string{"✓"}, stderr: "API key for provider 'groq' (input hidden): ", wantKeys: map[string]string{"groq": "gsk_tty"}},
		{name: "empty", args: []string{"login", "--provider", "groq"}, stdin: strings.NewReader(""), code: 1, out: []string{"✗ no key"}},
		{name: "only a newline", args: []string{"login", "--provider", "groq"}, stdin: strings.NewReader("\n"), code: 1, out: []string{"✗ no key"}},
		{name: "two lines", args: []string{"login", "--provider", "groq"}, stdin: strings.NewReader("a\nb\n"), code: 1, out: []string{"✗ the key must be one line"}},
		{name: "no provider", args: []string{"login"}, stdin: strings.NewReader("k\n"), code: 1, first: "✗ missing --provider NAME: usage: hermes login --provider NAME (the key is read from standard input)"},
		{name: "bad provider", args: []string{"login", "--provider", "Open Router"}, stdin: strings.NewReader("k\n"), code: 1, out: []string{"is not a provider name"}},
		{name: "missing profile", args: []string{"-p", "ghost", "login", "--provider", "groq"}, stdin: strings.NewReader("k\n"), code: 1, out: []string{"profile ghost does not exist"}},
		{name: "corrupt file kept", args: []string{"login", "--provider", "groq"}, stdin: strings.NewReader("k\n"), seed: `{"providers":`, code: 1,
			out: []string{"is not a JSON object, so it was left as it is"}},
		// The reference's container test: docker run IMAGE login --help
		// wants "usage: hermes login" (issue 11), -p or not.
		{name: "help", args: []string{"login", "--help"}, first: "usage: hermes login --provider NAME"},
		{name: "help, -p first", args: []string{"-p", "default", "login", "--help"}, first: "usage: hermes login --provider NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, agent.AuthFile)
			if tt.seed != "" {
				os.WriteFile(path, []byte(tt.seed), 0o644)
			}
			p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
			stdout, stderr, code := p.run(tt.stdin, tt.args...)
			stdout = p.normalise(stdout)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			if first, _, _ := strings.Cut(stdout, "\n"); tt.first != "" && first != tt.first {
				t.Errorf("first line of stdout %q, want %q", first, tt.first)
			}
			for _, want := range tt.out {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout %q does not say %q", stdout, want)
				}
			}
			if tt.stderr != "" && !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q does not say %q", stderr, tt.stderr)
			}
			for _, k := range tt.wantKeys {
				if strings.Contains(stdout+stderr, k) {
					t.Errorf("the key %q was printed", k)
				}
			}
			if tt.wantKeys == nil {
				if b, _ := os.ReadFile(path); string(b) != tt.seed {
					t.Errorf("auth.json changed on a failure: %q", b)
				}
				return
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("auth.json: %v, mode %v; want 0600", err, fi.Mode().Perm())
			}
			var doc struct {
				Version   int                          `json:"version"`
				Portal    map[string]string            `json:"portal"`
				Providers map[string]map[string]string `json:"providers"`
			}
			b, _ := os.ReadFile(path)
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("auth.json is not JSON: %s", b)
			}
			for prov, key := range tt.wantKeys {
				e := doc.Providers[prov]
				if got := e["api_key"] + e["access_token"]; got != key {
					t.Errorf("provider %s key = %q, want %q", prov, got, key)
				}
			}
			if tt.seed != "" && (doc.Portal["token"] != "t" || doc.Providers["openrouter"]["org"] != "o" || doc.Version != 1) {
				t.Errorf("other keys were lost: %s", b)
			}
			for prov := range tt.wantKeys {
				if prov != "nous" && doc.Providers[prov]["updated_at"] == "" {
					t.Errorf("provider %s has no updated_at: %s", prov, b)
				}
			}
			entries, _ := os.ReadDir(home)
			for _, ent := range entries {
				if strings.Contains(ent.Name(), ".tmp") {
					t.Errorf("temporary file left: %s", ent.Name())
				}
			}
		})
	}
}

// An auth.json that the user cannot read is refused, named with its owner
// and mode, before any key is read, and left untouched.
func TestLoginUnreadableAuthJSON(t *testing.T) {
	home := t.TempDir()
	for d := home; strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	path := filepath.Join(home, agent.AuthFile)
	const content = `{"version": 1, "providers": {"nous": {"access_token": "tok"}}}`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
	var stdout string
	var code int
	run := func() { stdout, _, code = p.run(strings.NewReader("sk-new\n"), "login", "--provider", "openrouter") }
	if os.Geteuid() == 0 {
		// As root, read as uid 10000 on a thread of its own (setfsuid
		// drops the capabilities that bypass file modes for that thread).
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
			unix.Setfsgid(10000)
			unix.Setfsuid(10000)
			run()
		}()
		<-done
	} else {
		os.Chmod(path, 0)
		run()
		os.Chmod(path, 0o600)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1: %s", code, stdout)
	}
	for _, want := range []string{"✗ cannot read " + path, "owner uid", "mode 0", "chown or chmod"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q does not say %q", stdout, want)
		}
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != content {
		t.Errorf("auth.json changed: %q %v", b, err)
	}
	entries, _ := os.ReadDir(home)
	for _, ent := range entries {
		if ent.Name() != agent.AuthFile {
			t.Errorf("unexpected file %s beside auth.json", ent.Name())
		}
	}
}
