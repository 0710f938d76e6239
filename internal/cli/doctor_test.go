package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// doctorFixture is a home with two profiles and a fake supervisor, owned by
// the hermes uid of the test (10000 as root, the test's own uid otherwise).
type doctorFixture struct {
	home, socket string
	uid          int
	sup          *controltest.Supervisor
	extra        map[string]string // more environment
}

func newDoctorFixture(t *testing.T) *doctorFixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "hermes-doctor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	f := &doctorFixture{home: filepath.Join(dir, "home"), uid: os.Getuid()}
	if f.uid == 0 {
		f.uid = 10000
	}
	if err := os.Mkdir(f.home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(profiles.SOULPath(profiles.MustParse(f.home, "default")), profiles.DefaultSOUL("default"), 0o644)
	os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "default")), profiles.DefaultConfig(8642), 0o640)
	if err := profiles.Create(profiles.MustParse(f.home, "coder")); err != nil {
		t.Fatal(err)
	}
	f.chownAll(t)
	f.sup = controltest.NewSupervisor(f.home, f.uid, f.uid)
	f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantUp, State: supervise.Running, PID: 42, UID: f.uid})
	f.socket = controltest.Serve(t, f.sup, f.home, controltest.Options{HermesUID: f.uid, HermesGID: f.uid})
	return f
}

func (f *doctorFixture) chownAll(t *testing.T) {
	if os.Getuid() != 0 {
		return
	}
	filepath.Walk(f.home, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, f.uid, f.uid)
		}
		return nil
	})
}

func (f *doctorFixture) run(t *testing.T, args ...string) (map[string]check, string, int) {
	t.Helper()
	var out, errb strings.Builder
	e := &Env{
		Stdout: &out, Stderr: &errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) {
				switch k {
				case "HERMES_HOME":
					return f.home, true
				case "HERMES_CONTROL_SOCKET":
					return f.socket, true
				case "HERMES_UID", "HERMES_GID":
					return strconv.Itoa(f.uid), true
				}
				v, ok := f.extra[k]
				return v, ok
			},
			Exists: func(string) bool { return false },
			Getuid: os.Getuid,
		},
	}
	code := e.Main(append([]string{"doctor", "--json"}, args...))
	var report struct {
		OK     bool    `json:"ok"`
		Checks []check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out.String()), &report); err != nil {
		t.Fatalf("doctor --json printed %q: %v", out.String(), err)
	}
	m := map[string]check{}
	for _, c := range report.Checks {
		m[c.Name] = c
	}
	return m, out.String(), code
}

// TestDoctorChecks: each check fails on the fault it names and passes once
// the fault is fixed.
func TestDoctorChecks(t *testing.T) {
	f := newDoctorFixture(t)
	checks, out, code := f.run(t)
	if code != 0 {
		t.Fatalf("healthy installation: exit %d\n%s", code, out)
	}
	for name, c := range checks {
		if c.Status == checkFail {
			t.Errorf("healthy installation: %s failed: %s", name, c.Detail)
		}
	}

	faults := []struct {
		check       string
		detail      string
		break_, fix func()
	}{
		{"services", "gateway-coder is stopped",
			func() {
				f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantUp, State: supervise.Stopped, UID: f.uid})
			},
			func() {
				f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantUp, State: supervise.Running, PID: 43, UID: f.uid})
			}},
		{"credentials", "not readable",
			func() {
				p := filepath.Join(profiles.MustParse(f.home, "coder").Dir(), "auth.json")
				os.WriteFile(p, []byte(`{"version":1,"providers":{}}`), 0o600)
				os.Chown(p, 0, 0) // as `docker exec` as root without the drop would leave it
				if os.Getuid() != 0 {
					os.Chmod(p, 0o000)
				}
			},
			func() {
				p := filepath.Join(profiles.MustParse(f.home, "coder").Dir(), "auth.json")
				os.Chmod(p, 0o600)
				f.chownAll(t)
			}},
		{"ports", "share port",
			func() {
				os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "coder")), []byte("gateway:\n  port: 8642\n"), 0o640)
				f.chownAll(t)
			},
			func() {
				os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "coder")), []byte("gateway:\n  port: 8650\n"), 0o640)
				f.chownAll(t)
			}},
		{"volume", "mode 0644",
			func() { os.Chmod(profiles.EnvPath(profiles.MustParse(f.home, "coder")), 0o644) },
			func() { os.Chmod(profiles.EnvPath(profiles.MustParse(f.home, "coder")), 0o600) }},
	}
	for _, ft := range faults {
		t.Run(ft.check, func(t *testing.T) {
			ft.break_()
			checks, out, code := f.run(t)
			c := checks[ft.check]
			if code != 1 || c.Status != checkFail || !strings.Contains(c.Detail, ft.detail) || c.Fix == "" {
				t.Errorf("with the fault: exit %d, %s = %+v; want exit 1, fail mentioning %q with a fix\n%s", code, ft.check, c, ft.detail, out)
			}
			ft.fix()
			checks, out, code = f.run(t)
			if c := checks[ft.check]; code != 0 || c.Status == checkFail {
				t.Errorf("after the fix: exit %d, %s = %+v; want exit 0 and no failure\n%s", code, ft.check, c, out)
			}
		})
	}
}

// TestDoctorGate: the gate check fails where the dashboard would refuse to
// start (a public bind without a provider) and passes once a provider is
// configured; --insecure on a public bind warns.
func TestDoctorGate(t *testing.T) {
	f := newDoctorFixture(t)
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HERMES_DASHBOARD": "0"}, checkOK},
		{map[string]string{"HERMES_DASHBOARD": "1", "HERMES_DASHBOARD_HOST": "0.0.0.0"}, checkFail},
		{map[string]string{"HERMES_DASHBOARD": "1", "HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_BASIC_AUTH_USERNAME": "admin", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD": "s3cret-pass"}, checkOK},
		{map[string]string{"HERMES_DASHBOARD": "1", "HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_OAUTH_CLIENT_ID": "agent:abc"}, checkOK},
		{map[string]string{"HERMES_DASHBOARD": "1", "HERMES_DASHBOARD_HOST": "127.0.0.1"}, checkOK},
		{map[string]string{"HERMES_DASHBOARD": "1", "HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_INSECURE": "1"}, checkWarn},
	}
	for _, tt := range tests {
		f.extra = tt.env
		checks, out, _ := f.run(t)
		if got := checks["dashboard gate"]; got.Status != tt.want {
			t.Errorf("%v: gate check %+v, want %s\n%s", tt.env, got, tt.want, out)
		}
	}
}

func TestDoctorNoSupervisorFails(t *testing.T) {
	f := newDoctorFixture(t)
	f.socket = filepath.Join(t.TempDir(), "none.sock")
	checks, _, code := f.run(t)
	if code != 1 || checks["supervisor"].Status != checkFail {
		t.Errorf("no supervisor: exit %d, supervisor %+v; want exit 1 and a failure", code, checks["supervisor"])
	}
}

func TestDoctorQuiet(t *testing.T) {
	f := newDoctorFixture(t)
	var out strings.Builder
	e := &Env{Stdout: &out, Stderr: &out, Host: hostenv.Env{
		Getenv: func(k string) (string, bool) {
			switch k {
			case "HERMES_HOME":
				return f.home, true
			case "HERMES_CONTROL_SOCKET":
				return f.socket, true
			case "HERMES_UID", "HERMES_GID":
				return strconv.Itoa(f.uid), true
			}
			return "", false
		},
		Exists: func(string) bool { return false }, Getuid: os.Getuid,
	}}
	if code := e.Main([]string{"doctor", "--quiet"}); code != 0 || out.Len() != 0 {
		t.Errorf("doctor --quiet on a healthy home: exit %d, printed %q; want 0 and nothing", code, out.String())
	}
}

// TestDoctorCounters: --json carries the counters of GET /v1/health, and
// the report says in one line what was refused, once something was.
func TestDoctorCounters(t *testing.T) {
	f := newDoctorFixture(t)
	report := func(args ...string) (string, map[string]uint64) {
		t.Helper()
		_, out, _ := f.run(t, args...)
		var r struct {
			Counters map[string]uint64 `json:"counters"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return out, r.Counters
	}
	checks, out, _ := f.run(t)
	if c := checks["refusals"]; c.Status != checkOK {
		t.Errorf("nothing refused: refusals = %+v, want ok\n%s", c, out)
	}
	if err := control.NewClient(f.socket).PutCounters(context.Background(), "dashboard", map[string]uint64{"logins_limited": 2}); err != nil {
		t.Fatal(err)
	}
	out, counters := report()
	if counters["dashboard_logins_limited"] != 2 || counters["control_requests"] == 0 {
		t.Errorf("doctor --json counters = %v, want dashboard_logins_limited=2 and control_requests > 0\n%s", counters, out)
	}
	checks, _, code := f.run(t)
	if c := checks["refusals"]; code != 0 || c.Status != checkWarn || !strings.Contains(c.Detail, "dashboard_logins_limited=2") || strings.Contains(c.Detail, "control_requests") {
		t.Errorf("after a refusal: exit %d, refusals = %+v; want exit 0 and a warning naming dashboard_logins_limited=2 (not the requests)", code, c)
	}
	var human strings.Builder
	e := &Env{Stdout: &human, Stderr: &human, Host: hostenv.Env{
		Getenv: func(k string) (string, bool) {
			switch k {
			case "HERMES_HOME":
				return f.home, true
			case "HERMES_CONTROL_SOCKET":
				return f.socket, true
			case "HERMES_UID", "HERMES_GID":
				return strconv.Itoa(f.uid), true
			}
			return "", false
		},
		Exists: func(string) bool { return false }, Getuid: os.Getuid,
	}}
	e.Main([]string{"doctor"})
	var lines []string
	for _, l := range strings.Split(human.String(), "\n") {
		if strings.Contains(l, "refusals") || strings.Contains(l, "dashboard_logins_limited") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "⚠ refusals: ") || !strings.Contains(lines[0], "dashboard_logins_limited=2") {
		t.Errorf("the human report says %q about refusals, want one ⚠ line naming dashboard_logins_limited=2:\n%s", lines, human.String())
	}
}

// TestDoctorGatewaySaysWhy: a gateway that is not running has the
// gateway's own account of itself (gateway.Observe) on the services line.
func TestDoctorGatewaySaysWhy(t *testing.T) {
	f := newDoctorFixture(t)
	f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantUp, State: supervise.Failed, Reason: "exit 78", UID: f.uid})
	os.WriteFile(filepath.Join(profiles.MustParse(f.home, "coder").Dir(), "gateway_state.json"), []byte(`{"gateway_state":"startup_failed","exit_reason":"port 8650 is in use"}`), 0o644)
	f.chownAll(t)
	checks, out, code := f.run(t)
	c := checks["services"]
	if want := "gateway-coder is failed: exit 78; the gateway is startup_failed (port 8650 is in use)"; code != 1 || c.Status != checkFail || c.Detail != want {
		t.Errorf("services = %+v (exit %d), want a failure %q\n%s", c, code, want, out)
	}
}
