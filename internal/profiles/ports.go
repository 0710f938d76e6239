package profiles

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// legacyPortVar is the reference's port variable, honoured in a profile's
// .env when config.yaml has no gateway.port.
const legacyPortVar = "API_SERVER_PORT"

// Port returns the gateway port of a profile: gateway.port of its
// config.yaml; else a legacy API_SERVER_PORT in its .env; else 8642 for
// default; else an error saying how to set one.
func Port(r Ref) (int, error) {
	port, err := configuredPort(r)
	if err != nil || port != 0 {
		return port, err
	}
	name := r.name
	if r.IsDefault() {
		return DefaultGatewayPort, nil
	}
	return 0, fmt.Errorf("profile %s has no gateway port: set one with hermes -p %s config set gateway.port N", name, name)
}

// configuredPort is the port a profile's files give (0 when none).
func configuredPort(r Ref) (int, error) {
	c, err := LoadProfileConfig(r)
	if err != nil {
		return 0, err
	}
	v, ok, err := c.read(KeyGatewayPort)
	if err != nil {
		return 0, err
	}
	if ok {
		return int(v.i), nil
	}
	env, envErr := treeOf(r.home).readEnv(EnvPath(r))
	if s, ok := env[legacyPortVar]; ok {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 1 || p > 65535 {
			return 0, fmt.Errorf("%s: %s=%q is not a port (1-65535); set gateway.port instead: hermes -p %s config set gateway.port N",
				EnvPath(r), legacyPortVar, s, r.name)
		}
		return p, nil
	}
	if envErr != nil && !errors.Is(envErr, errEnvSyntax) {
		return 0, envErr
	}
	return 0, nil
}

// Host returns the bind address of a profile's gateway: gateway.host of
// its config.yaml, else HERMES_GATEWAY_HOST (the image sets 0.0.0.0), else
// 127.0.0.1.
func Host(r Ref, env hostenv.Env) (string, error) {
	c, err := LoadProfileConfig(r)
	if err != nil {
		return "", err
	}
	v, ok, err := c.read(KeyGatewayHost)
	if err != nil {
		return "", err
	}
	if ok {
		return v.s, nil
	}
	if env.Getenv != nil {
		if h, set := env.Getenv("HERMES_GATEWAY_HOST"); set && strings.TrimSpace(h) != "" {
			h = strings.TrimSpace(h)
			if err := checkHost(h); err != nil {
				return "", fmt.Errorf("HERMES_GATEWAY_HOST=%q: %w; want a host name or IP address such as 0.0.0.0", h, err)
			}
			return h, nil
		}
	}
	return DefaultGatewayHost, nil
}

// usedPorts returns the gateway ports the profiles of home have: the
// default profile's (8642 unless it says otherwise) and that of every
// directory under profiles/ with a valid name, complete or not. A profile
// whose files cannot be read is skipped: it must not stop another's
// creation.
func usedPorts(home string) map[int]bool {
	used := map[int]bool{}
	if p, err := Port(Ref{home: home, name: Default}); err == nil {
		used[p] = true
	} else {
		used[DefaultGatewayPort] = true
	}
	names, _ := treeOf(home).dirNames(filepath.Join(home, DirProfiles))
	for _, n := range names {
		r, err := Parse(home, n)
		if err != nil || r.IsDefault() {
			continue
		}
		if p, err := configuredPort(r); err == nil && p != 0 {
			used[p] = true
		}
	}
	return used
}

// AllocatePort returns the lowest port above 8642 that no profile of home
// has in its configuration and that nothing listens on (binding both
// 127.0.0.1 and 0.0.0.0 must succeed). Call it under WithLock, so that two
// allocations never return the same port.
func AllocatePort(home string) (int, error) {
	used := usedPorts(home)
	for p := DefaultGatewayPort + 1; p <= 65535; p++ {
		if used[p] || listening(p) {
			continue
		}
		return p, nil
	}
	return 0, fmt.Errorf("no free gateway port above %d: every port is in use or taken by a profile", DefaultGatewayPort)
}

// listening reports whether something holds TCP port p (a bind on the
// loopback or wildcard address fails).
func listening(p int) bool {
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		l, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return true
		}
		l.Close()
	}
	return false
}

// EnsurePort returns the gateway port of a profile, and when it has none
// (no gateway.port and no legacy API_SERVER_PORT), allocates one under WithLock
// and writes it to the profile's config.yaml (CONTRACT §5: any
// registration of a profile without a port gives it one). The default
// profile always has one (8642).
func EnsurePort(r Ref) (int, error) {
	if p, err := configuredPort(r); err != nil || p != 0 {
		return p, err
	}
	if r.IsDefault() {
		return DefaultGatewayPort, nil
	}
	home := r.home
	var port int
	err := WithLock(home, func() error {
		var err error
		if port, err = configuredPort(r); err != nil || port != 0 {
			return err
		}
		if port, err = AllocatePort(home); err != nil {
			return err
		}
		return setConfigKey(home, ConfigPath(r), KeyGatewayPort, strconv.Itoa(port))
	})
	return port, err
}
