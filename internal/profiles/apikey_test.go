package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const goodKey = "0123456789abcdef0123456789abcdef"

func TestCheckAPIKey(t *testing.T) {
	for _, tt := range []struct {
		name, key, err string
	}{
		{"hex", goodKey, ""},
		{"base64", "dGhpcyBpcyBhIHNlY3JldCBrZXk+/=", ""},
		{"shortest", strings.Repeat("k", 16), ""},
		{"longest", strings.Repeat("k", 1024), ""},
		{"empty", "", "the key is empty"},
		{"two lines", goodKey + "\n" + goodKey, "the key spans 2 lines"},
		{"three lines", "a\nb\nc", "the key spans 3 lines"},
		{"short", "changeme", "the key is 8 characters long, too short"},
		{"long", strings.Repeat("k", 1025), "the key is 1025 bytes long"},
		{"space", "0123456789 abcdef", "a space, a control character or a non-ASCII byte at byte 11"},
		{"tab", "0123456789abcdef\t1", "at byte 17"},
		{"carriage return", "0123456789abcdef\r", "at byte 17"},
		{"utf-8", "0123456789abcdéf", "non-ASCII byte at byte 15"},
		{"quote", `"0123456789abcdef"`, "a quote or a backslash at byte 1"},
		{"backslash", `0123456789abcdef\n`, "a quote or a backslash at byte 17"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAPIKey(tt.key)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.err == "" && err != nil || tt.err != "" && !strings.Contains(got, tt.err) {
				t.Errorf("CheckAPIKey(%q) = %q, want %q", tt.key, got, tt.err)
			}
			if err != nil && len(tt.key) >= 4 && strings.Contains(got, tt.key) {
				t.Errorf("the refusal quotes the key: %q", got)
			}
		})
	}
}

func TestEnvAPIKey(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	file := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := file("secrets/key", goodKey+"\n")
	link := filepath.Join(dir, "secrets/link")
	if err := os.Symlink(keyFile, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		env      map[string]string
		key      string
		from     string
		ok       bool
		err      string
		checkErr bool
	}{
		{name: "none", env: map[string]string{}},
		{name: "variable", env: map[string]string{"API_SERVER_KEY": goodKey}, key: goodKey, from: "API_SERVER_KEY", ok: true},
		{name: "variable with a final newline", env: map[string]string{"API_SERVER_KEY": " " + goodKey + "\r\n"}, key: goodKey, from: "API_SERVER_KEY", ok: true},
		{name: "file", env: map[string]string{"API_SERVER_KEY_FILE": keyFile}, key: goodKey, from: "API_SERVER_KEY_FILE (" + keyFile + ")", ok: true},
		{name: "symlinked file (a Kubernetes secret)", env: map[string]string{"API_SERVER_KEY_FILE": link}, key: goodKey, from: "API_SERVER_KEY_FILE (" + link + ")", ok: true},
		{name: "both", env: map[string]string{"API_SERVER_KEY": goodKey, "API_SERVER_KEY_FILE": keyFile},
			err: "both API_SERVER_KEY and API_SERVER_KEY_FILE are set: set one of them"},
		{name: "empty variable", env: map[string]string{"API_SERVER_KEY": ""}, from: "API_SERVER_KEY", err: "API_SERVER_KEY: the key is empty"},
		{name: "empty file", env: map[string]string{"API_SERVER_KEY_FILE": file("empty", "\n")}, err: "the key is empty"},
		{name: "multi-line file", env: map[string]string{"API_SERVER_KEY_FILE": file("pem", "-----BEGIN KEY-----\nAAAAAAAAAAAAAAAAAAAA\n-----END KEY-----\n")},
			err: "the key spans 3 lines"},
		{name: "absurd file", env: map[string]string{"API_SERVER_KEY_FILE": file("big", strings.Repeat("k", 5000))}, err: "larger than 4096 bytes"},
		{name: "missing file", env: map[string]string{"API_SERVER_KEY_FILE": filepath.Join(dir, "nope")}, err: "cannot read the key: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{name: "relative file", env: map[string]string{"API_SERVER_KEY_FILE": "secrets/key"}, err: `"secrets/key" is not an absolute path`},
		{name: "a directory", env: map[string]string{"API_SERVER_KEY_FILE": dir}, err: "is not a regular file"},
		{name: "a FIFO", env: map[string]string{"API_SERVER_KEY_FILE": fifo}, err: "is not a regular file"},
		{name: "inside HERMES_HOME", env: map[string]string{"API_SERVER_KEY_FILE": file("home/key", goodKey)}, err: "is inside HERMES_HOME"},
		{name: "HERMES_HOME itself, spelled oddly", env: map[string]string{"API_SERVER_KEY_FILE": home + "/./"}, err: "is inside HERMES_HOME"},
		{name: "beside HERMES_HOME", env: map[string]string{"API_SERVER_KEY_FILE": file("home2/key", goodKey)}, key: goodKey, ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			key, from, ok, err := EnvAPIKey(getenv, home)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrAPIKey) {
					t.Fatalf("EnvAPIKey = %q, %v, want an ErrAPIKey with %q", key, err, tt.err)
				}
				if strings.Contains(err.Error(), goodKey) || ok || key != "" {
					t.Errorf("a refusal returned the key or quotes it: %q %v %v", key, ok, err)
				}
				return
			}
			if err != nil || key != tt.key || ok != tt.ok || (tt.from != "" && from != tt.from) {
				t.Errorf("EnvAPIKey = %q, %q, %v, %v; want %q, %q, %v", key, from, ok, err, tt.key, tt.from, tt.ok)
			}
		})
	}
}

func FuzzCheckAPIKey(f *testing.F) {
	for _, s := range []string{"", goodKey, "a\nb", "changeme", strings.Repeat("k", 2000), `"quoted-key-123456"`, "key with spaces in it"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckAPIKey(key) != nil {
			return
		}
		// An accepted key is written as the .env line EnvFile writes and
		// reads back unchanged.
		m, err := ParseEnv(EnvFile(key))
		if err != nil || m[APIKeyVar] != key {
			t.Fatalf("accepted key %q reads back from .env as %q (%v)", key, m[APIKeyVar], err)
		}
	})
}
