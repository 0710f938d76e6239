package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// TestDoctorModel: a profile whose gateway is wanted up fails the doctor
// when its model is half configured, its URL cannot work or the key
// variable it names is unset, and passes once the key is in .env (or the
// environment); no model at all only warns.
func TestDoctorModel(t *testing.T) {
	f := newDoctorFixture(t)
	writeConfig := func(s string) {
		os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "coder")), []byte("gateway:\n  port: 8650\n"+s), 0o640)
		f.chownAll(t)
	}
	for _, tc := range []struct {
		name, config, env string
		extra             map[string]string
		status, says      string
	}{
		{"nothing", "", "", nil, checkWarn, "no model configured"},
		{"no name", "model:\n  base_url: https://example.com/v1\n", "", nil, checkFail, "model.name is not set"},
		{"bad URL by hand", "model:\n  base_url: http://:9998/v1\n  name: m\n", "", nil, checkFail, "no host"},
		{"HERMES_ variable by hand", "model:\n  base_url: https://example.com/v1\n  name: m\n  api_key_env: HERMES_DASHBOARD_BASIC_AUTH_PASSWORD\n", "", nil, checkFail, "HERMES_"},
		{"key unset", "model:\n  base_url: https://example.com/v1\n  name: m\n  api_key_env: OPENROUTER_API_KEY\n", "", nil, checkFail, "set neither in"},
		{"key in .env", "model:\n  base_url: https://example.com/v1\n  name: m\n  api_key_env: OPENROUTER_API_KEY\n", "OPENROUTER_API_KEY=sk-or-test\n", nil, checkOK, "set in .env"},
		{"key in the environment", "model:\n  base_url: https://example.com/v1\n  name: m\n  api_key_env: OPENROUTER_API_KEY\n", "", map[string]string{"OPENROUTER_API_KEY": "x"}, checkOK, "set in the environment"},
	} {
		writeConfig(tc.config)
		os.WriteFile(profiles.EnvPath(profiles.MustParse(f.home, "coder")), []byte("API_SERVER_KEY=0123456789abcdef0123\n"+tc.env), 0o600)
		f.chownAll(t)
		f.extra = tc.extra
		checks, out, code := f.run(t)
		c := checks["model coder"]
		if c.Status != tc.status || !strings.Contains(c.Detail, tc.says) {
			t.Errorf("%s: %+v, want %s saying %q\n%s", tc.name, c, tc.status, tc.says, out)
		}
		if tc.status == checkFail && (code != 1 || c.Fix == "") {
			t.Errorf("%s: exit %d, fix %q", tc.name, code, c.Fix)
		}
	}
	// The same problem on a profile whose gateway is not wanted up warns.
	writeConfig("model:\n  base_url: https://example.com/v1\n  name: m\n  api_key_env: OPENROUTER_API_KEY\n")
	f.extra = nil
	f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantDown, State: supervise.Stopped, UID: f.uid})
	if checks, _, _ := f.run(t); checks["model coder"].Status != checkWarn {
		t.Errorf("a stopped gateway's problem: %+v, want a warning", checks["model coder"])
	}
}

// TestDoctorOnline: --online asks the upstream once, with the key, and
// reports its status and latency; a refused key fails. Without --online
// nothing is sent.
func TestDoctorOnline(t *testing.T) {
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer sk-good" {
			w.WriteHeader(401)
		}
	}))
	defer up.Close()
	f := newDoctorFixture(t)
	os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "coder")), []byte("gateway:\n  port: 8650\nmodel:\n  base_url: "+up.URL+"/v1\n  name: m\n  api_key_env: UP_KEY\n"), 0o640)
	os.WriteFile(profiles.EnvPath(profiles.MustParse(f.home, "coder")), []byte("UP_KEY=sk-good\n"), 0o600)
	f.chownAll(t)
	f.run(t)
	if len(got) != 0 {
		t.Fatalf("doctor without --online sent %q", got)
	}
	checks, out, _ := f.run(t, "--online")
	if c := checks["model coder"]; c.Status != checkOK || !strings.Contains(c.Detail, "answered GET /models with 200 in") {
		t.Errorf("online: %+v\n%s", c, out)
	}
	if len(got) != 1 || got[0] != "GET /v1/models Bearer sk-good" {
		t.Errorf("upstream saw %q", got)
	}
	os.WriteFile(profiles.EnvPath(profiles.MustParse(f.home, "coder")), []byte("UP_KEY=sk-bad\n"), 0o600)
	if checks, _, code := f.run(t, "--online"); checks["model coder"].Status != checkFail || code != 1 || !strings.Contains(checks["model coder"].Detail, "refused the key") {
		t.Errorf("a refused key: exit %d %+v", code, checks["model coder"])
	}
}

// TestDoctorConfigSecrets: a secret in config.yaml warns, with the fix.
func TestDoctorConfigSecrets(t *testing.T) {
	f := newDoctorFixture(t)
	os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "default")), []byte("OPENROUTER_API_KEY: sk-or-test\n"), 0o640)
	f.chownAll(t)
	checks, _, _ := f.run(t)
	c := checks["config secrets"]
	if c.Status != checkWarn || !strings.Contains(c.Detail, "holds OPENROUTER_API_KEY") || !strings.Contains(c.Fix, "hermes config unset OPENROUTER_API_KEY") {
		t.Errorf("%+v", c)
	}
	if strings.Contains(c.Detail+c.Fix, "sk-or-test") {
		t.Errorf("the check shows the secret: %+v", c)
	}
	// The doctor reads HERMES_HOME as every command does.
	if v := checks["volume"]; !strings.Contains(v.Detail, f.home) {
		t.Errorf("the volume check looked elsewhere than HERMES_HOME %s: %+v", f.home, v)
	}
}

// TestDoctorDashboardAgrees: the dashboard line says what the supervisor
// says, whatever HERMES_DASHBOARD is.
func TestDoctorDashboardAgrees(t *testing.T) {
	f := newDoctorFixture(t)
	f.sup.Put(supervise.Status{Name: "dashboard", Want: supervise.WantUp, State: supervise.Running, PID: 77, UID: f.uid})
	f.extra = map[string]string{"HERMES_DASHBOARD": "0"}
	checks, _, _ := f.run(t)
	if c := checks["dashboard gate"]; !strings.Contains(c.Detail, "the supervised dashboard is running (pid 77)") || strings.Contains(c.Detail, "disabled") {
		t.Errorf("running dashboard: %+v", c)
	}
	f.sup.Put(supervise.Status{Name: "dashboard", Want: supervise.WantDown, State: supervise.Stopped, UID: f.uid})
	f.extra = map[string]string{"HERMES_DASHBOARD": "1"}
	checks, _, _ = f.run(t)
	if c := checks["dashboard gate"]; !strings.Contains(c.Detail, "is stopped, want down") {
		t.Errorf("stopped dashboard: %+v", c)
	}
}
