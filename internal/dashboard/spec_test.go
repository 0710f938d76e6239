package dashboard

import (
	"maps"
	"slices"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/hostenv"
)

func env(vars map[string]string) hostenv.Env {
	return hostenv.Env{Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, Exists: func(string) bool { return false }}
}

func TestServiceSpec(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"host defaults", nil, []string{"/bin/hermes", "dashboard", "--host", "127.0.0.1", "--port", "9119", "--no-open"}},
		{"image bind", map[string]string{"HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_PORT": "9120"}, []string{"/bin/hermes", "dashboard", "--host", "0.0.0.0", "--port", "9120", "--no-open"}},
		{"insecure only when true", map[string]string{"HERMES_DASHBOARD_INSECURE": "1"}, []string{"/bin/hermes", "dashboard", "--host", "127.0.0.1", "--port", "9119", "--no-open", "--insecure"}},
		// The reference derived --insecure from a non-loopback host and so
		// switched the gate off silently (its pitfall #12): never again.
		{"a public host never implies insecure", map[string]string{"HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_INSECURE": "off"}, []string{"/bin/hermes", "dashboard", "--host", "0.0.0.0", "--port", "9119", "--no-open"}},
	}
	for _, tt := range tests {
		sp := ServiceSpec("/bin/hermes", "/opt/data", env(tt.vars))
		if !slices.Equal(sp.Argv, tt.want) {
			t.Errorf("%s: argv = %q, want %q", tt.name, sp.Argv, tt.want)
		}
		if sp.Name != "dashboard" || sp.Env["HOME"] != "/opt/data" || sp.LogFile != "/opt/data/logs/dashboard/current" || sp.User != "" {
			t.Errorf("%s: spec %+v", tt.name, sp)
		}
	}
}

// TestServiceSpecSecrets: the services' base environment lacks init's
// secrets (hostenv.Withheld); the dashboard's spec hands it the gate's own
// that are set, and no other secret.
func TestServiceSpecSecrets(t *testing.T) {
	vars := map[string]string{
		authgate.EnvUsername: "admin", authgate.EnvPassword: "pw", authgate.EnvOIDCSecret: "oidc",
		"GITHUB_CLIENT_SECRET": "gh", hostenv.EnvAuthJSONBootstrap: "{}", hostenv.EnvMetricsToken: "m",
	}
	sp := ServiceSpec("/bin/hermes", "/opt/data", env(vars))
	want := map[string]string{"HOME": "/opt/data", authgate.EnvPassword: "pw", authgate.EnvOIDCSecret: "oidc", hostenv.EnvMetricsToken: "m"}
	if !maps.Equal(sp.Env, want) {
		t.Errorf("env = %v, want %v", sp.Env, want)
	}
}
