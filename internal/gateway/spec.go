package gateway

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// servicePrefix begins the name of every gateway service: the one
// spelling of it (CONTRACT §4).
const servicePrefix = "gateway-"

// The supervised redirect (CONTRACT §5): `hermes gateway run` under a
// supervisor that answers starts gateway-<profile> there and waits, unless
// HERMES_GATEWAY_NO_SUPERVISE is true or it is the supervised gateway
// itself, which ServiceSpec marks with both supervised-child variables (the
// reference's name too). A marker set to anything keeps the process in the
// foreground without asking a supervisor, so the redirect never recurses.
const (
	// EnvNoSupervise, true, keeps gateway run in the foreground.
	EnvNoSupervise       = "HERMES_GATEWAY_NO_SUPERVISE"
	envSupervisedChild   = "HERMES_SUPERVISED_CHILD"
	envS6SupervisedChild = "HERMES_S6_SUPERVISED_CHILD"
)

// MayRedirect reports whether gateway run, started with env, may hand the
// gateway over to a supervisor: neither EnvNoSupervise is true nor a
// supervised-child marker is set (to any non-empty value).
func MayRedirect(env hostenv.Env) bool {
	if env.Bool(EnvNoSupervise) {
		return false
	}
	for _, k := range []string{envSupervisedChild, envS6SupervisedChild} {
		if v, ok := env.Getenv(k); ok && v != "" {
			return false
		}
	}
	return true
}

// StopGrace is the gateway service's stop_grace (CONTRACT §4): above the
// default drain_timeout, so that a drain finishes before SIGKILL.
const StopGrace = profiles.GatewayStopGrace

// ServiceName returns the supervisor's name of profile's gateway:
// "gateway-<profile>".
func ServiceName(profile string) string { return servicePrefix + profile }

// ProfileOf returns the profile of home whose gateway service is named
// service, and false when service is not "gateway-<valid profile name>":
// the edge where a profile comes in by its service's name.
func ProfileOf(home, service string) (profiles.Ref, bool) {
	p, ok := strings.CutPrefix(service, servicePrefix)
	if !ok {
		return profiles.Ref{}, false
	}
	r, err := profiles.Parse(home, p)
	return r, err == nil
}

// InNamespace reports whether service lies in the gateways' namespace (it
// begins with "gateway-"), a valid profile after it or not: the runtime
// reserves every such name (CONTRACT §4).
func InNamespace(service string) bool { return strings.HasPrefix(service, servicePrefix) }

// LogFile is the one function from a service's name to its log file
// (CONTRACT §2), for every reader of logs: a profile's gateway logs in
// logs/gateways/<profile>/current, every other service in
// logs/<service>/current unless its spec names another file. The path
// itself is profiles.LogFile's.
func LogFile(home, service string) string {
	r, _ := ProfileOf(home, service) // the zero Ref for any other service
	return profiles.LogFile(home, service, r)
}

// ServiceSpec is the one builder of the gateway service of profile r
// (CONTRACT §4): exe -p <profile> gateway run --replace ("-p default"
// included, so the service never depends on the sticky profile), with the
// supervised-child markers and HOME=home in its environment, run as the
// hermes user in home, restarted on failure only (exit 0 is an intended
// stop; 78 marks it failed), logging to logs/gateways/<profile>/current
// (LogFile), with a stop_grace of 6 s.
func ServiceSpec(exe string, r profiles.Ref) supervise.Spec {
	home, profile := r.Home(), r.Name()
	name := ServiceName(profile)
	return supervise.Spec{
		Name: name,
		Argv: []string{exe, "-p", profile, "gateway", "run", "--replace"},
		Env: map[string]string{
			envSupervisedChild:   "1",
			envS6SupervisedChild: "1",
			"HOME":               home,
		},
		Dir:       home,
		User:      "",
		Restart:   supervise.RestartOnFailure,
		StopGrace: supervise.Duration(StopGrace),
		LogFile:   LogFile(home, name),
	}
}

// Registrar is what Slots needs of a supervisor: *supervise.Supervisor,
// and the control API's fakes, implement it.
type Registrar interface {
	Register(ctx context.Context, spec supervise.Spec, start bool) (supervise.Status, error)
	Remove(ctx context.Context, name string) error
}

// Slots registers and removes the gateway services of the profiles of one
// home on a supervisor. The control API (/v1/gateways) and the boot
// reconciler both use it, so every gateway spec comes from ServiceSpec.
type Slots struct {
	// Sup is the supervisor.
	Sup Registrar
	// Home is HERMES_HOME.
	Home string
	// Exe is the hermes binary the services run.
	Exe string
	// Env is added to every gateway's environment: the metrics token's
	// variables (hostenv.MetricsTokenEnv), which the services do not
	// inherit.
	Env map[string]string
}

// ServiceName is ServiceName, for the control API (control.Gateways).
func (Slots) ServiceName(profile string) string { return ServiceName(profile) }

// RegisterGateway registers (or replaces) gateway-<profile> and starts it
// when start is true. The name, the control API's, is made a profile here
// (profiles.Parse), and the profile must exist (hold SOUL.md): otherwise
// the error wraps supervise.ErrNotFound, so that a typo never registers
// anything.
func (s Slots) RegisterGateway(ctx context.Context, profile string, start bool) (supervise.Status, error) {
	r, err := profiles.Parse(s.Home, profile)
	if err != nil {
		return supervise.Status{}, fmt.Errorf("%w: %w", supervise.ErrInvalid, err)
	}
	// gateway-default always has a slot, so that a bare `hermes gateway
	// start` has a target (the reference's pitfall #25); a named profile
	// exists iff it holds SOUL.md.
	if !r.IsDefault() && !profiles.Exists(r) {
		return supervise.Status{}, fmt.Errorf("%w: no such profile %q (it has no SOUL.md): create it with hermes profile create %s", supervise.ErrNotFound, profile, profile)
	}
	sp := ServiceSpec(s.Exe, r)
	maps.Copy(sp.Env, s.Env)
	return s.Sup.Register(ctx, sp, start)
}

// RemoveGateway stops and removes gateway-<profile>; an absent one is not
// an error to the control API (it answers 204).
func (s Slots) RemoveGateway(ctx context.Context, profile string) error {
	r, err := profiles.Parse(s.Home, profile)
	if err != nil {
		return fmt.Errorf("%w: %w", supervise.ErrInvalid, err)
	}
	return s.Sup.Remove(ctx, ServiceName(r.Name()))
}
