package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

var apiKeyRE = regexp.MustCompile(`(?m)^API_SERVER_KEY=[0-9a-f]{64}$`)

// TestSeedFirstBoot: directories and first-boot files, with their modes
// and owners; a second Seed changes nothing.
func TestSeedFirstBoot(t *testing.T) {
	testenv.NeedRoot(t, "seed files owned by the hermes uid")
	home := filepath.Join(sharedTempDir(t), "data")
	mkdir(t, home, 0o755, hermesUID, hermesGID)
	cfg, logged := rootConfig(t, home)
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, e := range profiles.Layout(profiles.Seeded) {
		d := e.Path
		p := filepath.Join(home, d)
		wantOwner(t, p, hermesUID, hermesGID)
		want := uint32(0o755)
		if d == "run" {
			want = 0o700
		}
		if _, _, mode := owner(t, p); mode != want {
			t.Errorf("%s mode %o, want %o", d, mode, want)
		}
	}
	wantOwner(t, filepath.Join(home, "platforms"), hermesUID, hermesGID)
	for name, want := range map[string]uint32{"SOUL.md": 0o644, "config.yaml": 0o640, ".env": 0o600} {
		p := filepath.Join(home, name)
		wantOwner(t, p, hermesUID, hermesGID)
		if _, _, mode := owner(t, p); mode != want {
			t.Errorf("%s mode %o, want %o", name, mode, want)
		}
	}
	check := func(name, want string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(home, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", name, b, err, want)
		}
	}
	check("SOUL.md", string(profiles.DefaultSOUL("default")))
	check("config.yaml", string(profiles.DefaultConfig(8642)))
	env, _ := os.ReadFile(filepath.Join(home, ".env"))
	if !apiKeyRE.Match(env) {
		t.Errorf(".env = %q, want a fresh API_SERVER_KEY", env)
	}
	for _, name := range []string{"auth.json", "gateway_state.json"} {
		if _, err := os.Lstat(filepath.Join(home, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s seeded without its bootstrap variable (%v)", name, err)
		}
	}
	if len(*logged) != 1 || !strings.Contains((*logged)[0], "seeded config.yaml, .env, SOUL.md") {
		t.Errorf("log = %q", *logged)
	}
	entries, _ := os.ReadDir(home)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && e.Name() != ".env" {
			t.Errorf("leftover %s", e.Name())
		}
	}

	age(t, home)
	before := tree(t, home)
	*logged = nil
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if after := tree(t, home); after != before {
		t.Errorf("a second Seed changed the home:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(*logged) != 0 {
		t.Errorf("a second Seed said %q", *logged)
	}
}

// Seed never overwrites: existing files stay as they are, a symlink at a
// seeded name counts as existing and is not followed.
func TestSeedKeepsWhatExists(t *testing.T) {
	testenv.NeedRoot(t, "seed as root past planted symlinks")
	tmp := sharedTempDir(t)
	home := filepath.Join(tmp, "data")
	mkdir(t, home, 0o755, hermesUID, hermesGID)
	mkfile(t, filepath.Join(home, "config.yaml"), "mine: true\n", 0o600, hermesUID, hermesGID)
	victim := filepath.Join(tmp, "victim")
	mkfile(t, victim, "precious\n", 0o644, 0, 0)
	if err := os.Symlink(victim, filepath.Join(home, "SOUL.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tmp, filepath.Join(home, "skills")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := rootConfig(t, home)
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "config.yaml")); string(b) != "mine: true\n" {
		t.Errorf("config.yaml overwritten: %q", b)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("a seed wrote through the SOUL.md symlink: %q", b)
	}
	wantOwner(t, victim, 0, 0)
	if fi, err := os.Lstat(filepath.Join(home, "skills")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the skills symlink was replaced (%v)", err)
	}
}

func TestSeedAPIKey(t *testing.T) {
	for _, tt := range []struct {
		name, env string
		appended  bool
	}{
		{"has one", "API_SERVER_KEY=abc\nOTHER=1\n", false},
		{"exported", "export API_SERVER_KEY='abc'\n", false},
		{"none", "OTHER=1\n", true},
		{"none, no final newline", "OTHER=1", true},
		{"empty value", "API_SERVER_KEY=\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, ".env"), []byte(tt.env), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := Config{Home: home, Root: os.Geteuid() == 0, UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(nil)}
			if err := Seed(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(home, ".env"))
			if !tt.appended {
				if string(b) != tt.env {
					t.Errorf(".env changed to %q", b)
				}
				return
			}
			if !strings.HasPrefix(string(b), tt.env) || !apiKeyRE.Match(b) || !strings.HasSuffix(string(b), "\n") {
				t.Errorf(".env = %q, want %q plus a fresh API_SERVER_KEY line", b, tt.env)
			}
			m, err := profiles.ParseEnv(b)
			if err != nil || len(m["API_SERVER_KEY"]) != 64 || (strings.Contains(tt.env, "OTHER") && m["OTHER"] != "1") {
				t.Errorf(".env parses to %v (%v)", m, err)
			}
		})
	}
}

func TestSeedAuthBootstrap(t *testing.T) {
	for _, tt := range []struct {
		name, value, want, err string
	}{
		{"hermes shape", `{"version": 1, "providers": {"nous": {"token": "t"}}}`, `{"version": 1, "providers": {"nous": {"token": "t"}}}` + "\n", ""},
		{"reference blob", ` {"active_provider": "nous", "nous": {"access_token": "s3cr3t"}} `,
			`{"version":1,"providers":{},"reference":{"active_provider": "nous", "nous": {"access_token": "s3cr3t"}}}` + "\n", ""},
		{"providers not an object", `{"version": 1, "providers": []}`, `{"version":1,"providers":{},"reference":{"version": 1, "providers": []}}` + "\n", ""},
		{"invalid", `{"token": "s3cr3t"`, "", "HERMES_AUTH_JSON_BOOTSTRAP is not valid JSON (malformed at byte 18 of 18)"},
		{"not an object", `["s3cr3t"]`, "", "HERMES_AUTH_JSON_BOOTSTRAP is JSON but not an object (an array)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			cfg := Config{Home: home, Root: os.Geteuid() == 0, UID: os.Getuid(), GID: os.Getgid(),
				Env: hostEnv(map[string]string{"HERMES_AUTH_JSON_BOOTSTRAP": tt.value})}
			err := Seed(context.Background(), cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Seed = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(home, "auth.json"))
			if string(b) != tt.want {
				t.Errorf("auth.json = %q, want %q", b, tt.want)
			}
			if !json.Valid(b) {
				t.Errorf("auth.json is not JSON")
			}
			if fi, _ := os.Stat(filepath.Join(home, "auth.json")); fi.Mode().Perm() != 0o600 {
				t.Errorf("auth.json mode %s, want 0600", fi.Mode().Perm())
			}
		})
	}
}

// auth.json is first boot only: a rotated token is never clobbered.
func TestSeedAuthNeverClobbers(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "auth.json"), []byte(`{"rotated": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged []string
	cfg := Config{Home: home, Root: os.Geteuid() == 0, UID: os.Getuid(), GID: os.Getgid(),
		Env: hostEnv(map[string]string{"HERMES_AUTH_JSON_BOOTSTRAP": `{"version":1,"providers":{}}`}),
		Log: func(f string, a ...any) { logged = append(logged, f) }}
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "auth.json")); string(b) != `{"rotated": true}` {
		t.Errorf("auth.json clobbered: %q", b)
	}
	cfg.Env = hostEnv(map[string]string{"HERMES_AUTH_JSON_BOOTSTRAP": `{broken`})
	if err := Seed(context.Background(), cfg); err != nil {
		t.Errorf("an invalid but unused bootstrap stopped the boot: %v", err)
	}
	if !slices.ContainsFunc(logged, func(l string) bool { return strings.Contains(l, "is ignored (auth.json exists)") }) {
		t.Errorf("no warning about the unused invalid bootstrap: %q", logged)
	}
}

func TestSeedGatewayBootstrap(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		value   string
		desired string
	}{
		{"running", "running"},
		{"Running", ""},
		{"stopped", ""},
		{"", ""},
	} {
		t.Run(tt.value, func(t *testing.T) {
			home := t.TempDir()
			var logged []string
			cfg := Config{Home: home, Root: os.Geteuid() == 0, UID: os.Getuid(), GID: os.Getgid(), Now: func() time.Time { return now },
				Env: hostEnv(map[string]string{"HERMES_GATEWAY_BOOTSTRAP_STATE": tt.value}),
				Log: func(f string, a ...any) { logged = append(logged, f) }}
			if err := Seed(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			st, err := gateway.ReadState(home)
			if tt.desired == "" {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("state seeded for %q: %+v %v", tt.value, st, err)
				}
				if tt.value != "" && len(logged) == 0 {
					t.Errorf("no warning for %q", tt.value)
				}
				return
			}
			if err != nil || st.Recorded() != "running" || st.DesiredUpdatedAt != "2026-01-02T03:04:05Z" {
				t.Errorf("state = %+v, %v; want desired_state running at the seed time", st, err)
			}
			// First boot only: a state written since is kept.
			if err := gateway.RecordDesired(context.Background(), gateway.Desired{Profile: profiles.MustParse(home, "default"), State: "stopped", Owner: cfg.owner(), At: now, Wait: safefs.Wait{Max: time.Second}}); err != nil {
				t.Fatal(err)
			}
			if err := Seed(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if st, _ := gateway.ReadState(home); st.Recorded() != "stopped" {
				t.Errorf("a later boot overwrote the recorded state: %+v", st)
			}
		})
	}
}

// Not root, Seed writes with plain calls and the process's own ids.
func TestSeedNotRoot(t *testing.T) {
	home := t.TempDir()
	cfg := Config{Home: home, UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(nil)}
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SOUL.md", "config.yaml", ".env", "logs/gateways", "run"} {
		wantOwner(t, filepath.Join(home, name), os.Getuid(), os.Getgid())
	}
	if fi, _ := os.Stat(filepath.Join(home, ".env")); fi.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %s", fi.Mode().Perm())
	}
}

// TestSeedFromShareDir: an image's seeds win over the built-in defaults;
// env.example without a key gets a fresh one; a missing seed falls back.
func TestSeedFromShareDir(t *testing.T) {
	home := t.TempDir()
	share := t.TempDir()
	os.WriteFile(filepath.Join(share, "SOUL.md"), []byte("You are the image's agent.\n"), 0o644)
	os.WriteFile(filepath.Join(share, "env.example"), []byte("# from the image\nEXTRA=1\n"), 0o644)
	cfg := Config{Home: home, UID: os.Getuid(), GID: os.Getgid(), ShareDir: share, Log: func(string, ...any) {}}
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "SOUL.md")); string(b) != "You are the image's agent.\n" {
		t.Errorf("SOUL.md = %q, want the image's seed", b)
	}
	env, _ := os.ReadFile(filepath.Join(home, ".env"))
	if !strings.HasPrefix(string(env), "# from the image\nEXTRA=1\n") || !regexp.MustCompile(`(?m)^API_SERVER_KEY=[0-9a-f]{64}$`).Match(env) {
		t.Errorf(".env = %q, want the image's example plus a fresh key", env)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "config.yaml")); !strings.Contains(string(b), "8642") {
		t.Errorf("config.yaml = %q, want the built-in default (no seed in the share dir)", b)
	}
}

// TestSeedRefusesSymlinkedBootstraps: the reference's two scenarios at the
// unit level: each bootstrap variable set while its file is a symlink is
// skipped with one refusal naming the file, and nothing is written
// through the link.
func TestSeedRefusesSymlinkedBootstraps(t *testing.T) {
	testenv.NeedRoot(t, "seed as root")
	home := filepath.Join(sharedTempDir(t), "data")
	mkdir(t, home, 0o755, hermesUID, hermesGID)
	outside := t.TempDir()
	for _, name := range []string{"gateway_state.json", "auth.json"} {
		os.WriteFile(filepath.Join(outside, name), []byte("{}"), 0o600)
		os.Symlink(filepath.Join(outside, name), filepath.Join(home, name))
	}
	cfg, _ := rootConfig(t, home)
	cfg.Env = hostEnv(map[string]string{EnvGatewayBootstrap: "running", EnvAuthBootstrap: `{"version":1,"providers":{}}`})
	var refusals []string
	cfg.Refused = func(r safefs.Refusal) { refusals = append(refusals, r.String()) }
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	slices.Sort(refusals)
	if len(refusals) != 2 || !strings.Contains(refusals[0], "auth.json: it is a symbolic link") || !strings.Contains(refusals[1], "gateway_state.json: it is a symbolic link") {
		t.Fatalf("refusals %q, want one per symlinked bootstrap file", refusals)
	}
	for _, r := range refusals {
		if !strings.HasPrefix(r, "refusing ") || !strings.Contains(r, "bootstrap skipped") {
			t.Errorf("refusal %q: want refusing <file>: <why>; bootstrap skipped", r)
		}
	}
	for _, name := range []string{"gateway_state.json", "auth.json"} {
		if b, _ := os.ReadFile(filepath.Join(outside, name)); string(b) != "{}" {
			t.Errorf("%s was written through the link: %q", name, b)
		}
	}
}

// TestSeedOrchestratorKey: the first boot seeds the key an orchestrator
// hands in (API_SERVER_KEY or API_SERVER_KEY_FILE); a later boot keeps
// .env's and says so in one warning line when the environment's differs;
// a key that cannot work stops the boot with a line that names the
// variable and never quotes the key, and writes nothing.
func TestSeedOrchestratorKey(t *testing.T) {
	const key = "orchestrator-key-0123456789abcdef"
	const other = "another-orchestrator-key-0123456789"
	secrets := t.TempDir()
	keyFile := filepath.Join(secrets, "hermes_api_key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		dotenv  string // "" : no .env (first boot)
		example string // the image's env.example, when set
		env     map[string]string
		want    string // the key .env holds after Seed
		log     string // a line Seed must say ("" : none about the key)
		err     string
	}{
		{name: "first boot, variable", env: map[string]string{"API_SERVER_KEY": key}, want: key,
			log: "API_SERVER_KEY in HOME/.env is the one from API_SERVER_KEY"},
		{name: "first boot, file", env: map[string]string{"API_SERVER_KEY_FILE": keyFile}, want: key,
			log: "API_SERVER_KEY in HOME/.env is the one from API_SERVER_KEY_FILE (" + keyFile + ")"},
		{name: "first boot, the image's example", example: "# from the image\nEXTRA=1\n", env: map[string]string{"API_SERVER_KEY": key}, want: key},
		{name: "first boot, the image's example sets a key", example: "API_SERVER_KEY=from-the-image-0123456789\n", env: map[string]string{"API_SERVER_KEY": key}, want: key},
		{name: "later boot, same key", dotenv: "API_SERVER_KEY=" + key + "\n", env: map[string]string{"API_SERVER_KEY_FILE": keyFile}, want: key},
		{name: "later boot, another key", dotenv: "API_SERVER_KEY=" + other + "\n", env: map[string]string{"API_SERVER_KEY": key}, want: other,
			log: "warning: the API_SERVER_KEY from API_SERVER_KEY differs from the one in HOME/.env; the gateway uses the one in HOME/.env. " +
				"To use the environment's instead, delete the API_SERVER_KEY line from HOME/.env and restart: the next boot writes the environment's key there"},
		{name: "later boot, .env without a key", dotenv: "OTHER=1\n", env: map[string]string{"API_SERVER_KEY_FILE": keyFile}, want: key,
			log: "added the API_SERVER_KEY from API_SERVER_KEY_FILE (" + keyFile + ") to HOME/.env"},
		{name: "empty", env: map[string]string{"API_SERVER_KEY": ""}, err: "unusable API key: API_SERVER_KEY: the key is empty"},
		{name: "multi-line", env: map[string]string{"API_SERVER_KEY": key + "\n" + key}, err: "API_SERVER_KEY: the key spans 2 lines"},
		{name: "absurd", env: map[string]string{"API_SERVER_KEY": strings.Repeat("k", 5000)}, err: "API_SERVER_KEY: the key is 5000 bytes long"},
		{name: "both", env: map[string]string{"API_SERVER_KEY": key, "API_SERVER_KEY_FILE": keyFile}, err: "both API_SERVER_KEY and API_SERVER_KEY_FILE are set"},
		{name: "missing file", env: map[string]string{"API_SERVER_KEY_FILE": "/run/secrets/nope"}, err: "API_SERVER_KEY_FILE: cannot read the key: open /run/secrets/nope"},
		{name: "refused on a later boot too", dotenv: "API_SERVER_KEY=" + other + "\n", env: map[string]string{"API_SERVER_KEY": "short"}, err: "the key is 5 characters long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.dotenv != "" {
				if err := os.WriteFile(filepath.Join(home, ".env"), []byte(tt.dotenv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logged []string
			cfg := Config{Home: home, UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(tt.env),
				Log: func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }}
			if tt.example != "" {
				cfg.ShareDir = t.TempDir()
				if err := os.WriteFile(filepath.Join(cfg.ShareDir, "env.example"), []byte(tt.example), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Seed(context.Background(), cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, profiles.ErrAPIKey) {
					t.Fatalf("Seed = %v, want an ErrAPIKey with %q", err, tt.err)
				}
				if strings.Contains(err.Error(), key) {
					t.Errorf("the refusal quotes the key: %v", err)
				}
				if b, _ := os.ReadFile(filepath.Join(home, ".env")); string(b) != tt.dotenv {
					t.Errorf("a refused key changed .env to %q", b)
				}
				// Nothing else is written either: the key is checked first.
				entries, _ := os.ReadDir(home)
				if want := map[bool]int{true: 0, false: 1}[tt.dotenv == ""]; len(entries) != want {
					t.Errorf("a refused key left %d entries in the home, want %d: nothing may be written", len(entries), want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(home, ".env"))
			if m, err := profiles.ParseEnv(b); err != nil || m["API_SERVER_KEY"] != tt.want {
				t.Errorf(".env = %q (%v), want API_SERVER_KEY=%s", b, err, tt.want)
			}
			if tt.example != "" && !strings.HasPrefix(string(b), tt.example) {
				t.Errorf(".env = %q, want the image's example first", b)
			}
			var about []string
			for _, l := range logged {
				if strings.Contains(l, "API_SERVER_KEY") {
					about = append(about, strings.ReplaceAll(l, home, "HOME"))
				}
			}
			switch {
			case tt.log == "" && tt.dotenv != "" && len(about) != 0:
				t.Errorf("Seed said %q, want nothing about the key", about)
			case tt.log != "" && (len(about) != 1 || about[0] != tt.log):
				t.Errorf("Seed said %q, want the one line %q", about, tt.log)
			}
			// A second boot with the same environment changes nothing and
			// says nothing about the key when it is the one in .env.
			logged = nil
			if err := Seed(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if b2, _ := os.ReadFile(filepath.Join(home, ".env")); string(b2) != string(b) {
				t.Errorf("a second Seed changed .env to %q", b2)
			}
			if tt.want == key && len(logged) != 0 {
				t.Errorf("a second Seed said %q", logged)
			}
		})
	}
}

// TestSeedDirectoryFailureNamesNothing: the directories are made while the
// seeds are written; one that cannot be made stops the seeding before any
// seed is named, and no temporary file is left.
func TestSeedDirectoryFailureNamesNothing(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "logs"), []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Home: home, UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(nil)}
	err := Seed(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "seeding the directory") {
		t.Fatalf("Seed = %v, want the directory's error", err)
	}
	entries, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == "SOUL.md" || name == "config.yaml" || name == ".env":
			t.Errorf("%s was named although a directory could not be made", name)
		case strings.Contains(name, ".seed."):
			t.Errorf("temporary file %s left behind", name)
		}
	}
}

// TestSeedDurableHandsOverTheNamesSync: with Config.Durable, a first boot's
// seeds are named when Seed returns and the fsync of the home is handed
// over once; a boot that seeds nothing hands over nothing.
func TestSeedDurableHandsOverTheNamesSync(t *testing.T) {
	home := t.TempDir()
	var syncs []func()
	cfg := Config{Home: home, UID: os.Getuid(), GID: os.Getgid(), Env: hostEnv(nil),
		Durable: func(sync func()) { syncs = append(syncs, sync) }}
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 1 {
		t.Fatalf("first boot: %d syncs handed over, want 1", len(syncs))
	}
	for _, name := range []string{"SOUL.md", "config.yaml", ".env"} {
		if _, err := os.Stat(filepath.Join(home, name)); err != nil {
			t.Errorf("%s not named before its directory's sync: %v", name, err)
		}
	}
	syncs[0]()
	syncs = nil
	if err := Seed(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 0 {
		t.Errorf("second boot: %d syncs handed over, want none", len(syncs))
	}
}
