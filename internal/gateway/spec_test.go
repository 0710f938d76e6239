package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func TestServiceSpecGolden(t *testing.T) {
	specs := map[string]supervise.Spec{
		"default": ServiceSpec("/opt/hermes/bin/hermes", profiles.MustParse("/opt/data", "default")),
		"coder":   ServiceSpec("/opt/hermes/bin/hermes", profiles.MustParse("/opt/data", "coder")),
	}
	got, err := json.MarshalIndent(specs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "servicespec.golden", string(got)+"\n")

	// The spec is valid, runs as the hermes user, and normalises to what
	// the contract says.
	n, err := specs["coder"].Normalize("/opt/data")
	if err != nil {
		t.Fatal(err)
	}
	if n.User != "" || n.Dir != "/opt/data" || n.LogFile != "/opt/data/logs/gateways/coder/current" ||
		n.Restart != supervise.RestartOnFailure || len(n.NoRestartExitCodes) != 1 || n.NoRestartExitCodes[0] != ExitConfig {
		t.Errorf("normalised spec = %+v", n)
	}
}

func TestServiceNames(t *testing.T) {
	tests := []struct {
		service string
		profile string
		ok      bool
	}{
		{"gateway-default", "default", true},
		{"gateway-coder", "coder", true},
		{"gateway-a_b-1", "a_b-1", true},
		{"gateway-", "", false},
		{"gateway-Bad", "", false},
		{"gateway-root", "", false},
		{"gateway-x.y", "", false},
		{"dashboard", "", false},
		{"web", "", false},
		{"not-prefixed", "", false},
	}
	for _, tt := range tests {
		r, ok := ProfileOf("/h", tt.service)
		p := r.Name()
		if p != tt.profile || ok != tt.ok {
			t.Errorf("ProfileOf(%q) = %q, %v; want %q, %v", tt.service, p, ok, tt.profile, tt.ok)
		}
		if ok && ServiceName(p) != tt.service {
			t.Errorf("ServiceName(%q) = %q, want %q", p, ServiceName(p), tt.service)
		}
	}
}

// TestNamespace: every name that begins with gateway- is the runtime's,
// a valid profile after it or not.
func TestNamespace(t *testing.T) {
	for _, tt := range []struct {
		service string
		want    bool
	}{
		{"gateway-default", true}, {"gateway-evil", true}, {"gateway-", true}, {"gateway-x.y", true},
		{"gateway", false}, {"gateways", false}, {"dashboard", false}, {"my-gateway-x", false},
	} {
		if got := InNamespace(tt.service); got != tt.want {
			t.Errorf("InNamespace(%q) = %v, want %v", tt.service, got, tt.want)
		}
	}
}

// TestLogFile: the one function from a service's name to its log file,
// the same file the supervisor writes: a gateway's spec names it, and
// every other service's default is it.
func TestLogFile(t *testing.T) {
	for _, tt := range []struct{ service, want string }{
		{"gateway-default", "/h/logs/gateways/default/current"},
		{"gateway-coder", "/h/logs/gateways/coder/current"},
		{"dashboard", "/h/logs/dashboard/current"},
		{"worker", "/h/logs/worker/current"},
	} {
		if got := LogFile("/h", tt.service); got != tt.want {
			t.Errorf("LogFile(%q) = %q, want %q", tt.service, got, tt.want)
		}
		var spec supervise.Spec
		if r, ok := ProfileOf("/h", tt.service); ok {
			spec = ServiceSpec("/bin/hermes", r)
		} else {
			spec = supervise.Spec{Name: tt.service, Argv: []string{"/bin/true"}}
		}
		n, err := spec.Normalize("/h")
		if err != nil {
			t.Fatal(err)
		}
		if n.LogFile != tt.want {
			t.Errorf("the supervisor writes %s to %q, want %q", tt.service, n.LogFile, tt.want)
		}
	}
}

func TestSlots(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "SOUL.md"), "default\n")
	writeFile(t, filepath.Join(home, "profiles", "coder", "SOUL.md"), "coder\n")
	if err := os.MkdirAll(filepath.Join(home, "profiles", "nosoul"), 0o755); err != nil {
		t.Fatal(err)
	}
	sup := controltest.NewSupervisor(home, 10000, 10000)
	slots := Slots{Sup: sup, Home: home, Exe: "/opt/hermes/bin/hermes"}
	ctx := context.Background()

	st, err := slots.RegisterGateway(ctx, "coder", false)
	if err != nil || st.Name != "gateway-coder" || st.Want != supervise.WantDown {
		t.Fatalf("RegisterGateway(coder, false) = %+v, %v", st, err)
	}
	want, _ := ServiceSpec(slots.Exe, profiles.MustParse(home, "coder")).Normalize(home)
	if got, _ := sup.Spec("gateway-coder"); !specEqual(got, want) {
		t.Errorf("registered spec = %+v, want the canonical %+v", got, want)
	}
	if st, err := slots.RegisterGateway(ctx, "default", true); err != nil || st.State != supervise.Running {
		t.Errorf("RegisterGateway(default, true) = %+v, %v", st, err)
	}
	for _, p := range []string{"typo", "nosoul"} {
		if _, err := slots.RegisterGateway(ctx, p, true); !errors.Is(err, supervise.ErrNotFound) {
			t.Errorf("RegisterGateway(%s) = %v, want ErrNotFound", p, err)
		}
		if _, ok := sup.Spec(ServiceName(p)); ok {
			t.Errorf("a slot was registered for %s", p)
		}
	}
	for _, p := range []string{"Bad", "root", "../x", ""} {
		if _, err := slots.RegisterGateway(ctx, p, false); !errors.Is(err, supervise.ErrInvalid) {
			t.Errorf("RegisterGateway(%q) = %v, want ErrInvalid", p, err)
		}
		if err := slots.RemoveGateway(ctx, p); !errors.Is(err, supervise.ErrInvalid) {
			t.Errorf("RemoveGateway(%q) = %v, want ErrInvalid", p, err)
		}
	}
	if err := slots.RemoveGateway(ctx, "coder"); err != nil {
		t.Errorf("RemoveGateway(coder) = %v", err)
	}
	if _, ok := sup.Spec("gateway-coder"); ok {
		t.Errorf("gateway-coder still registered")
	}
	if got := len(sup.List()); got != 1 {
		t.Errorf("%d services registered, want gateway-default alone", got)
	}
}

// TestSlotsEnv: Slots.Env (the metrics token) reaches every gateway's
// spec, over ServiceSpec's own environment.
func TestSlotsEnv(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "SOUL.md"), "default\n")
	sup := controltest.NewSupervisor(home, 10000, 10000)
	slots := Slots{Sup: sup, Home: home, Exe: "/opt/hermes/bin/hermes", Env: map[string]string{hostenv.EnvMetricsToken: "tok"}}
	if _, err := slots.RegisterGateway(context.Background(), "default", false); err != nil {
		t.Fatal(err)
	}
	got, _ := sup.Spec("gateway-default")
	if got.Env[hostenv.EnvMetricsToken] != "tok" || got.Env["HOME"] != home {
		t.Errorf("gateway env = %v, want the token beside HOME", got.Env)
	}
	if ServiceSpec(slots.Exe, profiles.MustParse(home, "default")).Env[hostenv.EnvMetricsToken] != "" {
		t.Error("Slots.Env leaked into ServiceSpec's own map")
	}
}

func specEqual(a, b supervise.Spec) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestMayRedirect: the supervised gateway (ServiceSpec's own markers, set
// to anything) and the opt-out never hand over to a supervisor.
func TestMayRedirect(t *testing.T) {
	marks := ServiceSpec("/opt/hermes/bin/hermes", profiles.MustParse("/opt/data", "default")).Env
	tests := []struct {
		name string
		vars map[string]string
		want bool
	}{
		{"nothing set", nil, true},
		{"the spec's environment", marks, false},
		{"one marker, any value", map[string]string{"HERMES_SUPERVISED_CHILD": "no"}, false},
		{"the reference's marker", map[string]string{"HERMES_S6_SUPERVISED_CHILD": "1"}, false},
		{"an empty marker", map[string]string{"HERMES_SUPERVISED_CHILD": ""}, true},
		{"opted out", map[string]string{EnvNoSupervise: "true"}, false},
		{"opt-out false", map[string]string{EnvNoSupervise: "0"}, true},
	}
	for _, tt := range tests {
		env := hostenv.Env{Getenv: func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok }}
		if got := MayRedirect(env); got != tt.want {
			t.Errorf("%s: MayRedirect = %v, want %v", tt.name, got, tt.want)
		}
	}
}
