package agent

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"golang.org/x/sys/unix"
)

// hermesUID is the uid that reads files it does not own in these tests.
const hermesUID = 10000

// asOtherUser runs fn as a user who owns none of the test's files: as
// root, on a thread of its own whose filesystem uid and gid are
// hermesUID (which drops the capabilities that bypass file modes, for
// that thread only; the thread ends with fn); as any other user, as is.
func asOtherUser(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		unix.Setfsgid(hermesUID)
		unix.Setfsuid(hermesUID)
		if got, _ := unix.SetfsuidRetUid(-1); got != hermesUID {
			t.Errorf("setfsuid did not take (fsuid %d)", got)
			return
		}
		fn()
	}()
	<-done
}

// openDirs makes dir and its parents up to the test's temporary root
// traversable by other users.
func openDirs(t *testing.T, dir string) {
	t.Helper()
	for d := dir; strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// An auth.json the gateway cannot read is a 503 naming the file, its owner
// and mode; the file is left where and as it is (the reference renamed it
// auth.json.corrupt).
func TestUnreadableAuthJSON(t *testing.T) {
	var logs testenv.Buffer
	p := newProfile(t, profileOpts{config: "model: {base_url: BASE, name: m, provider: openrouter}\n",
		mod: func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }})
	openDirs(t, p.dir)
	path := AuthPath(p.dir)
	content := `{"version": 1, "providers": {"openrouter": {"api_key": "sk-secret"}}}`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		os.Chmod(path, 0o000)
	}
	var rec *httptest.ResponseRecorder
	asOtherUser(t, func() {
		rec = httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(chatBody("hermes-coder", false, user("hi"))))
		req.Header.Set("Authorization", "Bearer "+testKey)
		p.agent.Handler().ServeHTTP(rec, req)
	})
	if rec == nil {
		t.FailNow()
	}
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	e := decodeEnvelope(t, rec.Body.Bytes())
	t.Logf("the client reads: %s", e.Error.Message)
	for _, want := range []string{path, "owner uid", "mode 0", "running as uid", "chown or chmod"} {
		if !strings.Contains(e.Error.Message, want) {
			t.Errorf("message %q does not say %q", e.Error.Message, want)
		}
	}
	if e.Error.Code != "credentials_unreadable" {
		t.Errorf("code = %q, want credentials_unreadable", e.Error.Code)
	}
	if got := logs.String(); !strings.Contains(got, "auth.json") || !strings.Contains(got, "owner uid") {
		t.Errorf("the failure was not logged with the file's owner: %q", got)
	}
	if os.Geteuid() != 0 {
		os.Chmod(path, 0o600)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != content {
		t.Errorf("auth.json changed: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(p.dir)
	for _, ent := range entries {
		if strings.HasPrefix(ent.Name(), "auth.json.") {
			t.Errorf("a copy of auth.json appeared: %s", ent.Name())
		}
	}
}

func TestStoreProviderKey(t *testing.T) {
	dir := t.TempDir()
	path := AuthPath(dir)
	seed := `{"version": 1, "bootstrap": {"portal": "x"}, "providers": {"nous": {"access_token": "tok", "refresh": "r"}, "openrouter": {"api_key": "old", "base_url": "https://openrouter.ai/api/v1"}}}`
	writeFile(t, path, seed)
	os.Chmod(path, 0o644)
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	if err := StoreProviderKey(filepath.Dir(path), path, "openrouter", "sk-new", now); err != nil {
		t.Fatal(err)
	}
	if err := StoreProviderKey(filepath.Dir(path), path, "groq", "gsk-1", now); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("auth.json mode %v, %v: want 0600", fi.Mode().Perm(), err)
	}
	var got map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("auth.json is not JSON: %s", b)
	}
	want := map[string]any{
		"version":   1.0,
		"bootstrap": map[string]any{"portal": "x"},
		"providers": map[string]any{
			"nous":       map[string]any{"access_token": "tok", "refresh": "r"},
			"openrouter": map[string]any{"api_key": "sk-new", "base_url": "https://openrouter.ai/api/v1", "updated_at": "2026-11-26T08:00:00Z"},
			"groq":       map[string]any{"api_key": "gsk-1", "updated_at": "2026-11-26T08:00:00Z"},
		},
	}
	if gj, wj := mustJSON(got), mustJSON(want); string(gj) != string(wj) {
		t.Errorf("auth.json =\n%s\nwant\n%s", gj, wj)
	}
	keys, err := loadAuthKeys(path)
	if err != nil || keys["openrouter"] != "sk-new" || keys["groq"] != "gsk-1" || keys["nous"] != "tok" {
		t.Errorf("loadAuthKeys = %v, %v", keys, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, ent := range entries {
		if n := ent.Name(); n != AuthFile && n != authLock {
			t.Errorf("left behind: %s", n)
		}
	}
}

func TestStoreProviderKeyNewFile(t *testing.T) {
	path := AuthPath(t.TempDir())
	if err := StoreProviderKey(filepath.Dir(path), path, "openrouter", "sk-1", time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var doc struct {
		Version   int                          `json:"version"`
		Providers map[string]map[string]string `json:"providers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Version != 1 || doc.Providers["openrouter"]["api_key"] != "sk-1" {
		t.Errorf("new auth.json = %s (%v)", b, err)
	}
}

// A file that cannot be read or parsed is never overwritten.
func TestStoreProviderKeyRefuses(t *testing.T) {
	tests := []struct {
		name       string
		content    string
		unreadable bool
		want       []string
	}{
		{name: "unreadable", content: `{"providers": {}}`, unreadable: true, want: []string{"owner uid", "mode 0600", "running as uid"}},
		{name: "not json", content: `{"providers": `, want: []string{"not a JSON object", "left as it is"}},
		{name: "providers not an object", content: `{"providers": [1]}`, want: []string{`"providers" is not an object`}},
		{name: "entry not an object", content: `{"providers": {"openrouter": "k"}}`, want: []string{`provider "openrouter" is not an object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			openDirs(t, dir)
			path := AuthPath(dir)
			os.WriteFile(path, []byte(tt.content), 0o600)
			if tt.unreadable && os.Geteuid() != 0 {
				os.Chmod(path, 0o000)
				defer os.Chmod(path, 0o600)
			}
			var err error
			run := func() { err = StoreProviderKey(filepath.Dir(path), path, "openrouter", "sk", time.Now()) }
			if tt.unreadable {
				// The lock file must be creatable by the other user.
				os.Chmod(dir, 0o777)
				asOtherUser(t, run)
			} else {
				run()
			}
			if err == nil {
				t.Fatal("StoreProviderKey succeeded")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.unreadable && os.Geteuid() != 0 {
				os.Chmod(path, 0o600)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Errorf("the file changed: %q", b)
			}
		})
	}
}

// mustJSON's quoting of plain strings is json.Marshal's.
func TestMustJSONString(t *testing.T) {
	for _, s := range []string{"", "chatcmpl-abc234", "hermes-coder", "gpt-4o:latest/x y", `say "hi"`, `back\slash`, "<b>&amp;</b>", "tab\there", "new\nline", "\x7f", "é", "\u2028", "\xff"} {
		want, _ := json.Marshal(s)
		if got := mustJSON(s); string(got) != string(want) {
			t.Errorf("mustJSON(%q) = %s, want %s", s, got, want)
		}
	}
}
