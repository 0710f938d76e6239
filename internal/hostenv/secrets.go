package hostenv

import "strings"

// Secrets that only their readers get. EnvAuthJSONBootstrap is read once,
// by init's first boot of a volume; EnvMetricsToken is the bearer token of
// the metrics routes.
const (
	EnvAuthJSONBootstrap = "HERMES_AUTH_JSON_BOOTSTRAP"
	EnvMetricsToken      = "HERMES_METRICS_TOKEN"
	// EnvMetricsTokenFile names a file that holds the metrics token.
	EnvMetricsTokenFile = EnvMetricsToken + "_FILE"
)

// MetricsTokenEnv returns the metrics token's variables of env that are
// set (HERMES_METRICS_TOKEN, HERMES_METRICS_TOKEN_FILE): withheld from
// the services, they are handed back in the specs of the processes that
// serve /metrics (the gateways and the dashboard), and no other.
func MetricsTokenEnv(env Env) map[string]string {
	out := map[string]string{}
	if env.Getenv == nil {
		return out
	}
	for _, k := range []string{EnvMetricsToken, EnvMetricsTokenFile} {
		if v, ok := env.Getenv(k); ok {
			out[k] = v
		}
	}
	return out
}

// Withheld reports whether a variable of init's environment is a secret
// that the services do not inherit: the dashboard's passwords and secrets
// (HERMES_DASHBOARD_*PASSWORD*, HERMES_DASHBOARD_*SECRET*), any OAuth
// client secret (*_CLIENT_SECRET), HERMES_AUTH_JSON_BOOTSTRAP and
// HERMES_METRICS_TOKEN, each also with _FILE appended (a file that holds
// the value). Names are compared upper-cased. This is the one list: init
// builds the services' base environment with ServiceEnv, the dashboard's
// spec hands it back the gate's own variables, and the main command and
// the boot hooks keep the container's whole environment (CONTRACT §3).
func Withheld(name string) bool {
	n := strings.ToUpper(name)
	n = strings.TrimSuffix(n, "_FILE")
	if rest, ok := strings.CutPrefix(n, "HERMES_DASHBOARD_"); ok && (strings.Contains(rest, "PASSWORD") || strings.Contains(rest, "SECRET")) {
		return true
	}
	return strings.HasSuffix(n, "_CLIENT_SECRET") || n == EnvAuthJSONBootstrap || n == EnvMetricsToken
}

// ServiceEnv returns environ (KEY=VALUE entries) without the Withheld
// variables, in the same order.
func ServiceEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !Withheld(k) {
			out = append(out, kv)
		}
	}
	return out
}
