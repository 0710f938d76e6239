// A service's spec (CONTRACT §4): its fields and defaults, and their
// validation.

package supervise

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// Restart is a restart policy.
type Restart string

// The restart policies of CONTRACT §4.
const (
	RestartAlways    Restart = "always"     // restart after every exit
	RestartOnFailure Restart = "on-failure" // restart unless the exit status is 0
	RestartNever     Restart = "never"      // never restart
)

// Defaults of a spec (CONTRACT §4).
const (
	DefaultStopGrace   = 5 * time.Second
	DefaultLogMaxBytes = 1_000_000
	DefaultLogKeep     = 10
	// ExitConfig is EX_CONFIG, the default exit code that is never restarted.
	ExitConfig = 78
)

// Spec describes a service. The JSON keys are the wire shape of CONTRACT §4
// and the keys of a HERMES_SERVICES_DIR YAML file.
type Spec struct {
	Name string            `json:"name" yaml:"name"`
	Argv []string          `json:"argv" yaml:"argv"`
	Env  map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	// Dir is the working directory; "" means HERMES_HOME.
	Dir string `json:"dir,omitempty" yaml:"dir,omitempty"`
	// User is "root", a user name, a uid, or "uid:gid"; "" means the hermes
	// user.
	User    string  `json:"user,omitempty" yaml:"user,omitempty"`
	Restart Restart `json:"restart,omitempty" yaml:"restart,omitempty"`
	// StopSignal is a signal name such as "TERM" or "SIGINT"; "" means TERM.
	StopSignal string   `json:"stop_signal,omitempty" yaml:"stop_signal,omitempty"`
	StopGrace  Duration `json:"stop_grace,omitempty" yaml:"stop_grace,omitempty"`
	// NoRestartExitCodes are exit codes after which the service is marked
	// failed and not restarted. nil means [78]; an empty list means none.
	NoRestartExitCodes []int `json:"no_restart_exit_codes,omitempty" yaml:"no_restart_exit_codes,omitempty"`
	// LogFile is the service's log file; "" means
	// HERMES_HOME/logs/<name>/current (profiles.LogFile). A
	// relative path is relative to HERMES_HOME.
	LogFile     string `json:"log_file,omitempty" yaml:"log_file,omitempty"`
	LogMaxBytes int64  `json:"log_max_bytes,omitempty" yaml:"log_max_bytes,omitempty"`
	LogKeep     int    `json:"log_keep,omitempty" yaml:"log_keep,omitempty"`
	// MemoryMax and CPUMax are per-service limits through cgroups: not
	// supported yet. A spec that names either is refused by Normalize,
	// never silently run without its limit.
	MemoryMax *Limit `json:"memory_max,omitempty" yaml:"memory_max,omitempty"`
	CPUMax    *Limit `json:"cpu_max,omitempty" yaml:"cpu_max,omitempty"`
	// Saved marks a service whose spec is kept in HERMES_HOME's services.d
	// (hermes svc add --save), shown as "saved" in its Status. It is no
	// key of the wire spec nor of a service file: the control API sets it
	// when it has written the file, the boot when it has loaded one.
	Saved bool `json:"-" yaml:"-"`
}

// Limit is the value of a resource limit a spec names (any JSON or YAML
// value), kept only to be refused.
type Limit struct{ raw string }

// UnmarshalJSON keeps any value.
func (l *Limit) UnmarshalJSON(b []byte) error { l.raw = string(b); return nil }

// MarshalJSON gives the value back.
func (l Limit) MarshalJSON() ([]byte, error) {
	if l.raw == "" {
		return []byte("null"), nil
	}
	return []byte(l.raw), nil
}

// UnmarshalYAML keeps any value.
func (l *Limit) UnmarshalYAML(n *yaml.Node) error { l.raw = n.Value; return nil }

// Duration is a time.Duration that travels as a Go duration string ("5s").
type Duration time.Duration

// MarshalJSON encodes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a duration string ("6s", "1m30s") or, for
// convenience, a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("stop_grace: want a duration such as \"5s\", got %s", b)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	return d.parse(s)
}

// UnmarshalText is used by the YAML decoder.
func (d *Duration) UnmarshalText(b []byte) error { return d.parse(string(b)) }

// MarshalText is used by the YAML encoder.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("stop_grace: want a duration such as \"5s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// ValidName reports whether name is a valid service name
// (^[a-z0-9][a-z0-9_.-]{0,63}$). It is checked by hand: a regexp compiled
// at package initialisation would cost every hermes process.
func ValidName(name string) error {
	if !validName(name) {
		return fmt.Errorf("%w: service name %q must match [a-z0-9][a-z0-9_.-]{0,63}", ErrInvalid, name)
	}
	return nil
}

func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// maxStopGrace bounds stop_grace: a grace longer than Docker's whole stop
// budget is a mistake.
const maxStopGrace = 10 * time.Minute

// Normalize validates s and fills in its defaults, relative to the hermes
// home directory. It returns a copy; s is not modified.
func (s Spec) Normalize(home string) (Spec, error) {
	if err := ValidName(s.Name); err != nil {
		return s, err
	}
	for _, lim := range []struct {
		key string
		v   *Limit
	}{{"memory_max", s.MemoryMax}, {"cpu_max", s.CPUMax}} {
		if lim.v != nil {
			return s, fmt.Errorf("%w: service %s: %s is not supported yet (per-service limits through cgroups are not implemented); remove it from the spec", ErrInvalid, s.Name, lim.key)
		}
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return s, fmt.Errorf("%w: service %s: argv must name a program", ErrInvalid, s.Name)
	}
	for _, a := range s.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return s, fmt.Errorf("%w: service %s: argv contains a NUL byte", ErrInvalid, s.Name)
		}
	}
	env := make(map[string]string, len(s.Env))
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return s, fmt.Errorf("%w: service %s: bad environment variable %q", ErrInvalid, s.Name, k)
		}
		env[k] = v
	}
	s.Env = env
	switch s.Restart {
	case "":
		s.Restart = RestartOnFailure
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		return s, fmt.Errorf("%w: service %s: restart must be always, on-failure or never, got %q", ErrInvalid, s.Name, s.Restart)
	}
	sig, err := ParseSignal(s.StopSignal)
	if err != nil {
		return s, fmt.Errorf("%w: service %s: %v", ErrInvalid, s.Name, err)
	}
	s.StopSignal = unix.SignalName(sig)
	switch {
	case s.StopGrace == 0:
		s.StopGrace = Duration(DefaultStopGrace)
	case s.StopGrace < 0 || time.Duration(s.StopGrace) > maxStopGrace:
		return s, fmt.Errorf("%w: service %s: stop_grace must be between 0 and %s", ErrInvalid, s.Name, maxStopGrace)
	}
	if s.NoRestartExitCodes == nil {
		s.NoRestartExitCodes = []int{ExitConfig}
	}
	for _, c := range s.NoRestartExitCodes {
		if c < 0 || c > 255 {
			return s, fmt.Errorf("%w: service %s: exit code %d is not in 0..255", ErrInvalid, s.Name, c)
		}
	}
	if s.Dir == "" {
		s.Dir = home
	} else if !filepath.IsAbs(s.Dir) {
		s.Dir = filepath.Join(home, s.Dir)
	}
	s.Dir = filepath.Clean(s.Dir)
	if s.LogFile == "" {
		s.LogFile = profiles.LogFile(home, s.Name, profiles.Ref{}) // a gateway's spec names its file
	} else if !filepath.IsAbs(s.LogFile) {
		s.LogFile = filepath.Join(home, s.LogFile)
	}
	s.LogFile = filepath.Clean(s.LogFile)
	switch {
	case s.LogMaxBytes == 0:
		s.LogMaxBytes = DefaultLogMaxBytes
	case s.LogMaxBytes < 4096:
		return s, fmt.Errorf("%w: service %s: log_max_bytes must be at least 4096", ErrInvalid, s.Name)
	}
	switch {
	case s.LogKeep == 0:
		s.LogKeep = DefaultLogKeep
	case s.LogKeep < 0 || s.LogKeep > 1000:
		return s, fmt.Errorf("%w: service %s: log_keep must be between 1 and 1000", ErrInvalid, s.Name)
	}
	return s, nil
}

// ParseSignal parses "TERM", "SIGTERM", "term" or a number; "" is SIGTERM.
func ParseSignal(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "" {
		return unix.SIGTERM, nil
	}
	var num int
	if _, err := fmt.Sscanf(n, "%d", &num); err == nil && fmt.Sprint(num) == n {
		if num < 1 || num > 64 {
			return 0, fmt.Errorf("signal %q is out of range", name)
		}
		return syscall.Signal(num), nil
	}
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	sig := unix.SignalNum(n)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", name)
	}
	return sig, nil
}

// specEqual reports whether a and b describe the same service (a
// replacement by an equal spec leaves a running service alone).
func specEqual(a, b Spec) bool {
	return a.Name == b.Name && slices.Equal(a.Argv, b.Argv) && maps.Equal(a.Env, b.Env) &&
		a.Dir == b.Dir && a.User == b.User && a.Restart == b.Restart &&
		a.StopSignal == b.StopSignal && a.StopGrace == b.StopGrace &&
		slices.Equal(a.NoRestartExitCodes, b.NoRestartExitCodes) && a.LogFile == b.LogFile &&
		a.LogMaxBytes == b.LogMaxBytes && a.LogKeep == b.LogKeep
}
