package dashboard

import (
	"maps"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// ServiceName is the supervised dashboard's name (reserved for the runtime).
const ServiceName = "dashboard"

// Defaults of the bind (CONTRACT §2): the image sets HERMES_DASHBOARD_HOST to
// 0.0.0.0; on a host the dashboard binds loopback.
const (
	DefaultHost = "127.0.0.1"
	DefaultPort = "9119"
)

// Bind returns the host and port the supervised dashboard listens on, from
// HERMES_DASHBOARD_HOST and HERMES_DASHBOARD_PORT.
func Bind(env hostenv.Env) (host, port string) {
	host, port = DefaultHost, DefaultPort
	if v, ok := env.Getenv("HERMES_DASHBOARD_HOST"); ok && strings.TrimSpace(v) != "" {
		host = strings.TrimSpace(v)
	}
	if v, ok := env.Getenv("HERMES_DASHBOARD_PORT"); ok && strings.TrimSpace(v) != "" {
		port = strings.TrimSpace(v)
	}
	return host, port
}

// ServiceSpec is the one builder of the dashboard's service spec (CONTRACT
// §4): hermes dashboard on the configured bind, --insecure iff
// HERMES_DASHBOARD_INSECURE is true, as the hermes user with
// HOME=$HERMES_HOME, restarted on failure (an exit 78, a gate refusing an
// unusable configuration, is never restarted), logging to
// logs/dashboard/current. Services do not inherit init's secrets
// (hostenv.Withheld): the spec's env hands the dashboard the gate's own
// (authgate.SecretEnv) and the metrics token's (hostenv.MetricsTokenEnv)
// that are set, and no other; no API response carries a spec's env.
func ServiceSpec(exe, home string, env hostenv.Env) supervise.Spec {
	host, port := Bind(env)
	argv := []string{exe, "dashboard", "--host", host, "--port", port, "--no-open"}
	if env.Bool("HERMES_DASHBOARD_INSECURE") {
		argv = append(argv, "--insecure")
	}
	vars := map[string]string{"HOME": home}
	for _, k := range authgate.SecretEnv() {
		if v, ok := env.Getenv(k); ok {
			vars[k] = v
		}
	}
	maps.Copy(vars, hostenv.MetricsTokenEnv(env))
	return supervise.Spec{
		Name:      ServiceName,
		Argv:      argv,
		Env:       vars,
		Dir:       home,
		Restart:   supervise.RestartOnFailure,
		StopGrace: supervise.Duration(5 * time.Second),
		LogFile:   gateway.LogFile(home, ServiceName),
	}
}
