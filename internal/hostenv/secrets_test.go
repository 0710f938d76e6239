package hostenv

import (
	"slices"
	"testing"
)

func TestWithheld(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD", true},
		{"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD_HASH", true},
		{"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD_FILE", true},
		{"HERMES_DASHBOARD_OIDC_CLIENT_SECRET", true},
		{"HERMES_DASHBOARD_OIDC_CLIENT_SECRET_FILE", true},
		{"HERMES_DASHBOARD_SESSION_SECRET", true},
		{"hermes_dashboard_basic_auth_password", true},
		{"GITHUB_CLIENT_SECRET", true},
		{"GITHUB_CLIENT_SECRET_FILE", true},
		{"HERMES_AUTH_JSON_BOOTSTRAP", true},
		{"HERMES_AUTH_JSON_BOOTSTRAP_FILE", true},
		{"HERMES_METRICS_TOKEN", true},
		{"HERMES_METRICS_TOKEN_FILE", true},
		{"HERMES_DASHBOARD_BASIC_AUTH_USERNAME", false},
		{"HERMES_DASHBOARD_OIDC_CLIENT_ID", false},
		{"HERMES_DASHBOARD_OAUTH_CLIENT_ID", false},
		{"HERMES_DASHBOARD_PUBLIC_URL", false},
		{"HERMES_DASHBOARD", false},
		{"HERMES_HOME", false},
		{"API_SERVER_KEY", false},
		{"OPENROUTER_API_KEY", false},
		{"PASSWORD", false},
		{"CLIENT_SECRET", false},
		{"PATH", false},
	} {
		if got := Withheld(c.name); got != c.want {
			t.Errorf("Withheld(%s) = %v, want %v", c.name, got, c.want)
		}
	}
	env := []string{"PATH=/bin", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD=pw", "A=b=c", "X_CLIENT_SECRET=s", "HERMES_HOME=/h"}
	if got, want := ServiceEnv(env), []string{"PATH=/bin", "A=b=c", "HERMES_HOME=/h"}; !slices.Equal(got, want) {
		t.Errorf("ServiceEnv = %v, want %v", got, want)
	}
}

func TestMetricsTokenEnv(t *testing.T) {
	vars := map[string]string{EnvMetricsTokenFile: "/run/secrets/metrics", "OTHER": "x"}
	env := Env{Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	got := MetricsTokenEnv(env)
	if len(got) != 1 || got[EnvMetricsTokenFile] != "/run/secrets/metrics" {
		t.Errorf("MetricsTokenEnv = %v, want only %s", got, EnvMetricsTokenFile)
	}
	if !Withheld(EnvMetricsToken) || !Withheld(EnvMetricsTokenFile) {
		t.Error("the metrics token is not withheld from the services")
	}
}
