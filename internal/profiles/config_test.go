package profiles

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func mustParse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(s))
	if err != nil {
		t.Fatalf("ParseConfig(%q): %v", s, err)
	}
	return c
}

func mustBytes(t *testing.T, c *Config) string {
	t.Helper()
	b, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Set keeps comments, unknown keys and their order, and the file's
// indentation; each case sets keys and compares the whole file.
func TestSetKeepsTheRest(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		set  [][2]string
		want string
	}{{
		name: "replace a value, comments and unknown keys kept",
		in: `# my profile
gateway:
  port: 8643 # the port
  # a comment above an unknown key
  telegram_token_file: /run/secrets/tg
custom:
  nested: {a: 1}
`,
		set: [][2]string{{"gateway.port", "9000"}},
		want: `# my profile
gateway:
  port: 9000 # the port
  # a comment above an unknown key
  telegram_token_file: /run/secrets/tg
custom:
  nested: {a: 1}
`,
	}, {
		name: "new keys and sections are appended",
		in:   "gateway:\n  port: 8643\n",
		set:  [][2]string{{"gateway.drain_timeout", "3"}, {"model.name", "gpt-4o"}, {"sessions.idle_timeout", "2h"}},
		want: "gateway:\n  port: 8643\n  drain_timeout: 3s\nmodel:\n  name: gpt-4o\nsessions:\n  idle_timeout: 2h\n",
	}, {
		name: "four-space indentation kept",
		in:   "gateway:\n    port: 8643\n",
		set:  [][2]string{{"gateway.host", "0.0.0.0"}},
		want: "gateway:\n    port: 8643\n    host: 0.0.0.0\n",
	}, {
		name: "a null section becomes a mapping",
		in:   "gateway:\nmodel: ~\n",
		set:  [][2]string{{"gateway.port", "8650"}, {"model.provider", "openrouter"}},
		want: "gateway:\n  port: 8650\nmodel:\n  provider: openrouter\n",
	}, {
		name: "a file of comments only keeps them",
		in:   "# just\n# comments\n",
		set:  [][2]string{{"gateway.port", "8650"}},
		want: "# just\n# comments\n\ngateway:\n  port: 8650\n",
	}, {
		name: "an empty file",
		in:   "",
		set:  [][2]string{{"gateway.port", "8650"}},
		want: "gateway:\n  port: 8650\n",
	}, {
		name: "a quoted string stays quoted",
		in:   "model:\n  name: 'old'\n",
		set:  [][2]string{{"model.name", "new"}},
		want: "model:\n  name: 'new'\n",
	}, {
		name: "strings that look like other types are quoted",
		in:   "",
		set:  [][2]string{{"model.name", "123"}, {"model.provider", "true"}},
		want: "model:\n  name: \"123\"\n  provider: \"true\"\n",
	}, {
		name: "lists",
		in:   "gateway:\n  cors_origins: [https://old.example]\n",
		set:  [][2]string{{"gateway.cors_origins", "https://a.example, http://localhost:3000"}},
		want: "gateway:\n  cors_origins:\n    - https://a.example\n    - http://localhost:3000\n",
	}, {
		name: "a map replaces the one before, comments kept",
		in:   "model:\n  # routed names\n  aliases:\n    old: x\n    older: y\n",
		set:  [][2]string{{"model.aliases", "gpt-4o=openai/gpt-4o,fast=openai/gpt-4o-mini"}},
		want: "model:\n  # routed names\n  aliases:\n    gpt-4o: openai/gpt-4o\n    fast: openai/gpt-4o-mini\n",
	}, {
		name: "an empty map",
		in:   "model:\n  aliases: {a: b}\n",
		set:  [][2]string{{"model.aliases", ""}},
		want: "model:\n  aliases: {}\n",
	}, {
		name: "unknown keys in the file are kept",
		in:   "telegram:\n  token_file: /run/secrets/tg # theirs\nmodel:\n  temperature: 0.3\n",
		set:  [][2]string{{"model.name", "m"}},
		want: "telegram:\n  token_file: /run/secrets/tg # theirs\nmodel:\n  temperature: 0.3\n  name: m\n",
	}, {
		name: "an empty list",
		in:   "",
		set:  [][2]string{{"gateway.cors_origins", ""}},
		want: "gateway:\n  cors_origins: []\n",
	}, {
		name: "the default seed",
		in:   string(DefaultConfig(8643)),
		set:  [][2]string{{"gateway.port", "8700"}, {"gateway.max_concurrent", "4"}},
		want: strings.Replace(string(DefaultConfig(8700)), "  port: 8700\n", "  port: 8700\n  max_concurrent: 4\n", 1),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.in)
			for _, kv := range tc.set {
				if err := c.Set(kv[0], kv[1]); err != nil {
					t.Fatalf("Set(%s, %s): %v", kv[0], kv[1], err)
				}
			}
			if got, want := mustBytes(t, c), tc.want; got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			// What was written reads back the same.
			again := mustParse(t, mustBytes(t, c))
			for _, kv := range tc.set {
				a, _ := c.Get(kv[0])
				b, _ := again.Get(kv[0])
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%s: %v before writing, %v after", kv[0], a, b)
				}
			}
		})
	}
}

// Known keys are stored with their type; unknown ones as YAML reads them.
func TestSetTypes(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		want       any
	}{
		{"gateway.port", "8643", 8643},
		{"gateway.port", " 8643 ", 8643},
		{"gateway.max_concurrent", "16", 16},
		{"gateway.max_body_bytes", "1048576", 1048576},
		{"gateway.drain_timeout", "2.5", "2.5s"},
		{"gateway.drain_timeout", "1500ms", "1.5s"},
		{"gateway.drain_timeout", "0", "0s"},
		{"gateway.host", "0.0.0.0", "0.0.0.0"},
		{"gateway.host", "::", "::"},
		{"gateway.host", "my-host.internal", "my-host.internal"},
		{"gateway.cors_origins", "*", []any{"*"}},
		{"gateway.cors_origins", "[https://a.example, 'http://b.example:8080']", []any{"https://a.example", "http://b.example:8080"}},
		{"model.base_url", "https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"},
		{"model.name", "anthropic/claude-sonnet-4", "anthropic/claude-sonnet-4"},
		{"model.name", "42", "42"},
		{"model.api_key_env", "OPENROUTER_API_KEY", "OPENROUTER_API_KEY"},
		{"model.provider", "openrouter", "openrouter"},
		{"model.aliases", "gpt-4o=openai/gpt-4o, hermes-agent = anthropic/claude-sonnet-4", map[string]any{"gpt-4o": "openai/gpt-4o", "hermes-agent": "anthropic/claude-sonnet-4"}},
		{"model.aliases", "{gpt-4.1: openai/gpt-4.1, 4o: 'x'}", map[string]any{"gpt-4.1": "openai/gpt-4.1", "4o": "x"}},
		{"sessions.idle_timeout", "90m", "1h30m"},
		{"sessions.idle_timeout", "3600", "1h"},
		{"sessions.max_bytes", "1048576", 1048576},
	} {
		c := mustParse(t, "")
		if err := c.Set(tc.key, tc.value); err != nil {
			t.Errorf("Set(%s, %q): %v", tc.key, tc.value, err)
			continue
		}
		again := mustParse(t, mustBytes(t, c))
		got, ok := again.Get(tc.key)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Set(%s, %q) then Get = %#v (%v), want %#v\n%s", tc.key, tc.value, got, ok, tc.want, mustBytes(t, c))
		}
		if _, err := again.Gateway(); err != nil {
			t.Errorf("Set(%s, %q): Gateway() = %v", tc.key, tc.value, err)
		}
		if _, err := again.Model(); err != nil {
			t.Errorf("Set(%s, %q): Model() = %v", tc.key, tc.value, err)
		}
		if _, err := again.Sessions(); err != nil {
			t.Errorf("Set(%s, %q): Sessions() = %v", tc.key, tc.value, err)
		}
	}
}

// A key set to null in the file is not set, and the readers take its
// default.
func TestNull(t *testing.T) {
	c := mustParse(t, "model:\n  name: null\ngateway:\n  max_concurrent: ~\n")
	if v, ok := c.Get("model.name"); ok {
		t.Errorf("Get(model.name) = %v, true; a null key is not set", v)
	}
	if g, err := c.Gateway(); err != nil || g.MaxConcurrent != DefaultMaxConcurrent {
		t.Errorf("Gateway() = %+v, %v; want max_concurrent %d", g, err, DefaultMaxConcurrent)
	}
	if err := c.Set("model.name", "m"); err != nil {
		t.Fatal(err)
	}
	if got, want := mustBytes(t, c), "model:\n  name: m\ngateway:\n  max_concurrent: ~\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Wrong values are refused with a message naming the key, the value and
// what is expected; the configuration is left as it was.
func TestSetRefused(t *testing.T) {
	const in = "gateway:\n  port: 8643\n  host: &a 0.0.0.0\n  cors_origins: *a\nsessions: 5\n"
	for _, tc := range []struct {
		key, value string
		says       []string
	}{
		{"gateway.port", "abc", []string{"gateway.port", `"abc"`, "1 to 65535"}},
		{"gateway.port", "0", []string{"gateway.port", `"0"`}},
		{"gateway.port", "65536", []string{"65536"}},
		{"gateway.port", "-1", []string{"-1"}},
		{"gateway.port", "8643.5", []string{"8643.5"}},
		{"gateway.port", "", []string{`""`}},
		{"gateway", "x", []string{"gateway is a section", "gateway.port"}},
		{"model", "x", []string{"model is a section"}},
		{"sessions", "x", []string{"sessions is a section"}},
		{"gateway.port.x", "1", []string{"gateway.port is", "not a section"}},
		{"model.aliases", strings.Repeat("n", 257) + "=x", []string{"model.aliases", "longer than 256 bytes"}},
		{"model.aliases.gpt-4o", "x", []string{"model.aliases is a map", "not a section"}},
		{"sessions.idle_timeout", "1h", []string{"sessions is the number 5, not a section"}},
		{"gateway.cors_origins", "*", []string{"alias"}},
		{"gateway.host", "::", []string{"other keys refer to its value"}},
		{"telegram.bot_token", "1", []string{"telegram.bot_token is a secret", "hermes env set TELEGRAM_BOT_TOKEN"}},
		{"OPENROUTER_API_KEY", "sk-or-test", []string{"secret", "hermes env set OPENROUTER_API_KEY", "hermes config set model.api_key_env OPENROUTER_API_KEY"}},
		{"model.temperature", "0.3", []string{"unknown key model.temperature", "hermes does not read it"}},
		{"gateway.prot", "1", []string{"unknown key gateway.prot", "nearest key it reads is gateway.port"}},
		{"", "1", []string{"empty key"}},
		{"a..b", "1", []string{"not a key"}},
		{".a", "1", []string{"not a key"}},
		{"a. b", "1", []string{"not a key"}},
	} {
		c := mustParse(t, in)
		err := c.Set(tc.key, tc.value)
		if err == nil {
			t.Errorf("Set(%q, %q) = nil, want an error", tc.key, tc.value)
			continue
		}
		for _, s := range tc.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Set(%q, %q) = %q, want it to say %q", tc.key, tc.value, err, s)
			}
		}
		if got := mustBytes(t, c); got != mustBytes(t, mustParse(t, in)) {
			t.Errorf("Set(%q, %q) failed but changed the configuration:\n%s", tc.key, tc.value, got)
		}
	}
}

func TestGet(t *testing.T) {
	c := mustParse(t, `gateway:
  port: 8643
  cors_origins: ["*"]
  nothing:
base: &b {x: 1}
derived: *b
a:
  b:
    c: deep
`)
	for _, tc := range []struct {
		key  string
		want any
		ok   bool
	}{
		{"gateway.port", 8643, true},
		{"gateway.cors_origins", []any{"*"}, true},
		{"gateway", map[string]any{"port": 8643, "cors_origins": []any{"*"}, "nothing": nil}, true},
		{"gateway.nothing", nil, false},
		{"a.b.c", "deep", true},
		{"derived.x", 1, true},
		{"a.b.c.d", nil, false},
		{"gateway.port.x", nil, false},
		{"missing", nil, false},
		{"", nil, false},
		{"a..b", nil, false},
	} {
		got, ok := c.Get(tc.key)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Get(%q) = %#v, %v; want %#v, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		errSays  string // "" for no error
		port     int
	}{
		{"BOM", "\ufeffgateway:\n  port: 8650\n", "", 8650},
		{"CRLF", "gateway:\r\n  port: 8651\r\n", "", 8651},
		{"document marker", "---\ngateway:\n  port: 8652\n", "", 8652},
		{"null document", "~\n", "", 0},
		{"flow style", "{gateway: {port: 8653}}", "", 8653},
		{"bad indentation", "gateway:\n  port: 1\n port: 2\n", "line", 0},
		{"tab", "gateway:\n\tport: 1\n", "invalid YAML", 0},
		{"top-level list", "- a\n- b\n", "the top level must be keys", 0},
		{"top-level scalar", "hello\n", "the string \"hello\"", 0},
		{"two documents", "a: 1\n---\nb: 2\n", "more than one YAML document", 0},
		{"duplicate key", "gateway:\n  port: 1\n  port: 2\n", "already defined", 0},
		{"unknown alias", "a: *nope\n", "invalid YAML", 0},
	} {
		c, err := ParseConfig([]byte(tc.in))
		if tc.errSays != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSays) {
				t.Errorf("%s: ParseConfig = %v, want an error saying %q", tc.name, err, tc.errSays)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: ParseConfig: %v", tc.name, err)
			continue
		}
		g, err := c.Gateway()
		if err != nil || g.Port != tc.port {
			t.Errorf("%s: Gateway() = %+v, %v; want port %d", tc.name, g, err, tc.port)
		}
	}
}

func TestGatewayAndModel(t *testing.T) {
	c := mustParse(t, `gateway:
  host: 0.0.0.0
  port: 8643
  cors_origins: ["https://a.example", "*"]
  max_concurrent: 8
  max_body_bytes: 1048576
  drain_timeout: 2s
model:
  base_url: https://openrouter.ai/api/v1
  name: m
  api_key_env: OPENROUTER_API_KEY
  provider: openrouter
  aliases:
    gpt-4o: openai/gpt-4o
    3.5: 4o
sessions:
  idle_timeout: 45m
  max_bytes: 33554432
`)
	g, err := c.Gateway()
	want := GatewayConfig{Host: "0.0.0.0", Port: 8643, CORSOrigins: []string{"https://a.example", "*"},
		MaxConcurrent: 8, MaxBodyBytes: 1 << 20, DrainTimeout: 2 * time.Second}
	if err != nil || !reflect.DeepEqual(g, want) {
		t.Errorf("Gateway() = %+v, %v; want %+v", g, err, want)
	}
	m, err := c.Model()
	wantM := ModelConfig{BaseURL: "https://openrouter.ai/api/v1", Name: "m", APIKeyEnv: "OPENROUTER_API_KEY", Provider: "openrouter",
		Aliases: map[string]string{"gpt-4o": "openai/gpt-4o", "3.5": "4o"}}
	if err != nil || !reflect.DeepEqual(m, wantM) {
		t.Errorf("Model() = %+v, %v; want %+v", m, err, wantM)
	}
	sc, err := c.Sessions()
	if want := (SessionsConfig{IdleTimeout: 45 * time.Minute, MaxBytes: 1 << 25}); err != nil || sc != want {
		t.Errorf("Sessions() = %+v, %v; want %+v", sc, err, want)
	}

	g, err = mustParse(t, "").Gateway()
	if want := (GatewayConfig{CORSOrigins: []string{}, MaxConcurrent: 32, MaxBodyBytes: 1 << 20, DrainTimeout: 5 * time.Second}); err != nil || !reflect.DeepEqual(g, want) {
		t.Errorf("empty Gateway() = %+v, %v; want %+v", g, err, want)
	}
	sc, err = mustParse(t, "").Sessions()
	if want := (SessionsConfig{IdleTimeout: 30 * time.Minute, MaxBytes: 1 << 30}); err != nil || sc != want {
		t.Errorf("empty Sessions() = %+v, %v; want %+v", sc, err, want)
	}
	g, err = mustParse(t, "gateway:\n  drain_timeout: 3\n").Gateway()
	if err != nil || g.DrainTimeout != 3*time.Second {
		t.Errorf("drain_timeout: 3 = %v, %v; want 3s (a number is seconds)", g.DrainTimeout, err)
	}

	for _, tc := range []struct{ in, says string }{
		{"gateway:\n  port: \"8643\"\n", `gateway.port: want a whole number from 1 to 65535, found the string "8643"`},
		{"gateway:\n  port: 99999\n", "found the number 99999"},
		{"gateway:\n  port: true\n", "found the boolean true"},
		{"gateway:\n  port: [1]\n", "found a list"},
		{"gateway:\n  cors_origins: https://a.example\n", "gateway.cors_origins: want a list"},
		{"gateway:\n  cors_origins: [1]\n", "gateway.cors_origins"},
		{"gateway:\n  drain_timeout: 10s\n", "gateway.drain_timeout"},
		{"gateway:\n  host: 8080\n", "gateway.host"},
		{"gateway: 8643\n", "gateway must hold keys such as gateway.port"},
		{"\n\ngateway:\n  max_body_bytes: x\n", "line 4"},
		{"gateway:\n  max_body_bytes: x\n", "hermes config set gateway.max_body_bytes VALUE"},
	} {
		_, err := mustParse(t, tc.in).Gateway()
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Gateway() of %q = %v, want an error saying %q", tc.in, err, tc.says)
		}
	}
	for _, tc := range []struct{ in, says string }{
		{"model:\n  base_url: ftp://x\n", "model.base_url"},
		{"model:\n  api_key_env: sk-123\n", "model.api_key_env"},
		{"model:\n  name: {a: 1}\n", "model.name"},
		{"model: [1]\n", "model must hold keys"},
		{"model:\n  base_url: http://:9998/v1\n", "no host"},
		{"model:\n  api_key_env: HERMES_DASHBOARD_PASSWORD\n", "HERMES_*"},
		{"model:\n  api_key_env: API_SERVER_KEY\n", "API_SERVER_KEY"},
		{"model:\n  api_key_env: openrouter_api_key\n", "not a variable name"},
		{"model:\n  aliases: [gpt-4o]\n", "model.aliases: want a map"},
		{"model:\n  aliases: {gpt-4o: [a]}\n", "model.aliases"},
		{"model:\n  aliases: {gpt-4o: ''}\n", `model.aliases: the value of "gpt-4o": empty`},
		{"model:\n  aliases: {gpt-4o: true}\n", "model.aliases"},
	} {
		_, err := mustParse(t, tc.in).Model()
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Model() of %q = %v, want an error saying %q", tc.in, err, tc.says)
		}
	}
	for _, tc := range []struct{ in, says string }{
		{"sessions:\n  idle_timeout: 10ms\n", "sessions.idle_timeout"},
		{"sessions:\n  max_bytes: 1KB\n", "sessions.max_bytes"},
		{"sessions: [1]\n", "sessions must hold keys such as sessions.idle_timeout"},
	} {
		_, err := mustParse(t, tc.in).Sessions()
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Sessions() of %q = %v, want an error saying %q", tc.in, err, tc.says)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(filepath.Join(dir, "missing.yaml"))
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if b := mustBytes(t, c); b != "" {
		t.Errorf("missing file: Bytes() = %q, want empty", b)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "a: [\n")
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line") {
		t.Errorf("invalid YAML: %v, want an error naming %s and the line", err, bad)
	}
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory: %v, want an error naming it", err)
	}
}

// An unreadable file is an error naming the file, its owner and mode. Root
// reads every file, so as root the test runs as another uid.
func TestLoadConfigUnreadable(t *testing.T) {
	if testenv.AsUser(t, 4242, 4242) {
		return
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, "a: 1\n")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "mode 0000") || !strings.Contains(err.Error(), "owner uid") {
		t.Errorf("LoadConfig(unreadable) = %v, want the file, owner and mode", err)
	}
}

func TestFileErrorNamesOwnerAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, "")
	os.Chmod(path, 0o600)
	err := fileError(path, os.ErrPermission)
	for _, s := range []string{path, "owner uid", "mode 0600", "running as uid"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("fileError = %q, want it to say %q", err, s)
		}
	}
}

// validSets are known keys with valid values, for the fuzzer.
var validSets = [][2]string{
	{"gateway.port", "8650"}, {"gateway.host", "0.0.0.0"}, {"gateway.drain_timeout", "2s"},
	{"gateway.cors_origins", "https://a.example"}, {"gateway.max_concurrent", "3"},
	{"gateway.max_body_bytes", "1024"}, {"model.name", "m"}, {"model.base_url", "https://x.example/v1"},
	{"model.api_key_env", "KEY"}, {"model.provider", "openrouter"}, {"model.aliases", "gpt-4o=m"},
	{"sessions.idle_timeout", "1h"}, {"sessions.max_bytes", "2097152"},
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"", "# c\n", string(DefaultConfig(8643)), "gateway:\n  port: 1 # c\n", "\ufeffa: 1\n",
		"gateway:\nmodel: ~\n", "a: &x {b: 1}\nc: *x\n", "{gateway: {port: 8653}}", "- a\n", "gateway: 5\n",
		"gateway:\n    port: 1\n    x: [1, 2]\n# foot\n"} {
		for i := range validSets {
			f.Add(s, i, validSets[i][1])
		}
	}
	f.Add("a: 1\n", 0, "- x")
	f.Add("a: 1\n", 0, "0123")
	f.Add("a: 1\n", 0, "line\nbreak")
	f.Fuzz(func(t *testing.T, in string, which int, value string) {
		c, err := ParseConfig([]byte(in))
		if err != nil {
			return
		}
		c.Get("gateway.port")
		c.Gateway()
		c.Model()
		if which < 0 {
			which = -which
		}
		kv := validSets[which%len(validSets)]
		want, _ := mustParse(t, "").setAndGet(t, kv)
		if err := c.Set(kv[0], kv[1]); err != nil {
			return // e.g. gateway is not a section here: refused, fine
		}
		b, err := c.Bytes()
		if err != nil {
			t.Fatalf("Bytes after Set(%s): %v", kv[0], err)
		}
		again, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("after Set(%s, %s) the config does not parse: %v\n%s", kv[0], kv[1], err, b)
		}
		if got, ok := again.Get(kv[0]); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("after Set(%s, %s), Get = %#v, %v; want %#v\n%s", kv[0], kv[1], got, ok, want, b)
		}
		// Any text model.name takes reads back as it does in an empty
		// configuration, and keeps what was set before.
		if !utf8.ValidString(value) {
			return
		}
		fresh := mustParse(t, "")
		if err := fresh.Set("model.name", value); err != nil {
			return // not one line
		}
		wantV, wantOK := mustParse(t, mustBytes(t, fresh)).Get("model.name")
		if err := again.Set("model.name", value); err != nil {
			return // model is not a section in this config
		}
		b, err = again.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		third, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("after Set(model.name, %q) the config does not parse: %v\n%s", value, err, b)
		}
		if got, ok := third.Get("model.name"); ok != wantOK || !reflect.DeepEqual(got, wantV) {
			t.Fatalf("after Set(model.name, %q), Get = %#v, %v; want %#v, %v\n%s", value, got, ok, wantV, wantOK, b)
		}
		if kv[0] != "model.name" {
			if got, ok := third.Get(kv[0]); !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("Set(model.name) lost %s: %#v\n%s", kv[0], got, b)
			}
		}
	})
}

// setAndGet sets kv on c and returns what Get gives for it.
func (c *Config) setAndGet(t *testing.T, kv [2]string) (any, bool) {
	t.Helper()
	if err := c.Set(kv[0], kv[1]); err != nil {
		t.Fatal(err)
	}
	return c.Get(kv[0])
}
