package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestOrchestratorKey: the key clients must present is the .env's; a
// profile whose .env has none takes the orchestrator's (API_SERVER_KEY, or
// the file API_SERVER_KEY_FILE names), checked the way the first boot
// checks it, and a key that cannot work is a 503 that says why.
func TestOrchestratorKey(t *testing.T) {
	const envKey = "orchestrator-key-0123456789abcdef"
	secret := filepath.Join(t.TempDir(), "hermes_api_key")
	if err := os.WriteFile(secret, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		dotenv  string
		env     map[string]string
		present string // the key the client sends
		status  int
		code    string
		msg     string
	}{
		{name: ".env wins over the environment", dotenv: "API_SERVER_KEY=" + testKey + "\n", env: map[string]string{"API_SERVER_KEY": envKey},
			present: testKey, status: 200},
		{name: "the environment's key is not .env's", dotenv: "API_SERVER_KEY=" + testKey + "\n", env: map[string]string{"API_SERVER_KEY": envKey},
			present: envKey, status: 401, code: "invalid_api_key"},
		{name: "no key in .env: the variable", dotenv: "OTHER=1\n", env: map[string]string{"API_SERVER_KEY": envKey}, present: envKey, status: 200},
		{name: "no key in .env: the file", dotenv: "OTHER=1\n", env: map[string]string{"API_SERVER_KEY_FILE": secret}, present: testKey, status: 200},
		{name: "no key in .env: a key too short", dotenv: "OTHER=1\n", env: map[string]string{"API_SERVER_KEY": "short"}, present: "short",
			status: 503, code: "bad_api_key", msg: "API_SERVER_KEY: the key is 5 characters long"},
		{name: "no key in .env: a missing file", dotenv: "OTHER=1\n", env: map[string]string{"API_SERVER_KEY_FILE": secret + ".nope"}, present: testKey,
			status: 503, code: "bad_api_key", msg: "API_SERVER_KEY_FILE: cannot read the key"},
		{name: "no key anywhere", dotenv: "OTHER=1\n", present: testKey, status: 503, code: "no_api_key", msg: ".env"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile(t, profileOpts{mod: func(c *Config) {
				c.Env = func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			}})
			writeFile(t, filepath.Join(p.dir, ".env"), tt.dotenv)
			resp, body := p.call(t, "GET", "/v1/models", "", "Authorization", "Bearer "+tt.present)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				return
			}
			e := decodeEnvelope(t, body)
			if e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.msg) {
				t.Errorf("error %q %q, want %q saying %q", e.Error.Code, e.Error.Message, tt.code, tt.msg)
			}
			if strings.Contains(string(body), envKey) || strings.Contains(string(body), testKey) {
				t.Errorf("an error reveals a key: %s", body)
			}
		})
	}
}

// TestRotatedKey: hermes env rotate API_SERVER_KEY (profiles.EnvRotateAPIKey)
// takes effect from the gateway's next request: the old key is refused,
// the new one served, without a restart.
func TestRotatedKey(t *testing.T) {
	p := newProfile(t, profileOpts{})
	if resp, body := p.call(t, "GET", "/v1/models", ""); resp.StatusCode != 200 {
		t.Fatalf("before: %d %s", resp.StatusCode, body)
	}
	// The profile directory is a home whose default profile it is.
	fresh, err := profiles.EnvRotateAPIKey(profiles.MustParse(p.dir, profiles.Default))
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := p.call(t, "GET", "/v1/models", "", "Authorization", "Bearer "+testKey); resp.StatusCode != 401 {
		t.Errorf("the old key after the rotation: %d, want 401", resp.StatusCode)
	}
	if resp, body := p.call(t, "GET", "/v1/models", "", "Authorization", "Bearer "+fresh); resp.StatusCode != 200 {
		t.Errorf("the new key: %d %s", resp.StatusCode, body)
	}
}
