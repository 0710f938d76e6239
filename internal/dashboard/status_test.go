package dashboard

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/gateway"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// The pid the fixtures' state files record for a running gateway.
const recordedPID = 4242

// statusFixture is the home behind the /api/status goldens:
//
//	default  recorded stopped, no holder; sessions: one active, one idle
//	         for an hour, one ended
//	coder    recorded running and its pid lock held: running (while the
//	         sticky profile is writer: the reference's #23457 read the
//	         "current" profile and showed such a gateway STOPPED)
//	writer   recorded running but nobody holds its lock (killed): stopped;
//	         a foreign state.db (counts 0)
//	ghost    a corrupt gateway_state.json: unknown
func statusFixture(t *testing.T, mode authgate.Mode, extra map[string]string) *fixture {
	t.Helper()
	f := newFixture(t, mode, extra)
	writeState(t, f.home, map[string]any{"gateway_state": "stopped", "desired_state": "stopped", "updated_at": "2025-06-01T11:00:00Z", "exit_reason": "stopped by the operator"})
	writeSessions(t, f.home, "default",
		turn{id: "sess_default_active", ago: time.Minute, title: "hello"},
		turn{id: "sess_default_idle", ago: time.Hour, title: "old"},
		turn{id: "sess_default_ended", ago: 30 * time.Second, title: "bye", ended: true},
	)
	coder := f.addProfile(t, "coder", 8643)
	writeState(t, coder, map[string]any{"gateway_state": "running", "desired_state": "running", "pid": recordedPID, "updated_at": "2025-06-01T11:58:00Z"})
	holdLock(t, coder)
	writeSessions(t, coder, "coder", turn{id: "sess_coder_active", ago: 2 * time.Minute, title: "refactor"})
	writer := f.addProfile(t, "writer", 8644)
	writeState(t, writer, map[string]any{"gateway_state": "running", "desired_state": "running", "pid": 999999})
	writeForeignStore(t, writer)
	ghost := f.addProfile(t, "ghost", 8645)
	writeFile(t, filepath.Join(ghost, "gateway_state.json"), "{not json")
	writeFile(t, filepath.Join(f.home, "active_profile"), "writer\n")
	return f
}

// statusHeaders are the request headers of a probe: a loopback Host
// (open-local accepts no other).
var statusHeaders = map[string]string{"Host": "127.0.0.1:9119"}

func TestStatusModes(t *testing.T) {
	tests := []struct {
		mode         authgate.Mode
		authRequired bool
		providers    []any
	}{
		{authgate.Gated, true, []any{"password"}},
		{authgate.OpenLocal, false, []any{}},
		{authgate.OpenInsecure, false, []any{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			f := statusFixture(t, tt.mode, nil)
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				rec := do(f.handler(), method, "/api/status", statusHeaders)
				if got, want := rec.Code, http.StatusOK; got != want {
					t.Fatalf("%s /api/status = %d, want %d: %s", method, got, want, rec.Body)
				}
				if got, want := rec.Header().Get("Cache-Control"), "no-store"; got != want {
					t.Errorf("Cache-Control = %q, want %q", got, want)
				}
				if got := rec.Header().Values("Set-Cookie"); len(got) != 0 {
					t.Errorf("Set-Cookie = %q, want none", got)
				}
				if method == http.MethodHead {
					continue
				}
				body := decode(t, rec.Body.Bytes())
				if got, want := body["auth_required"], tt.authRequired; got != want {
					t.Errorf("auth_required = %v, want %v", got, want)
				}
				if got, want := body["mode"], string(tt.mode); got != want {
					t.Errorf("mode = %v, want %v", got, want)
				}
				if got, want := fmt.Sprint(body["auth_providers"]), fmt.Sprint(tt.providers); got != want {
					t.Errorf("auth_providers = %v, want %v", got, want)
				}
				testenv.Golden(t, "status_"+string(tt.mode)+".json", f.normalize(indent(t, rec.Body.Bytes())))
			}
		})
	}
}

// TestStatusGateways: every profile's gateway is read from its own files.
func TestStatusGateways(t *testing.T) {
	f := statusFixture(t, authgate.Gated, nil)
	body := decode(t, do(f.handler(), http.MethodGet, "/api/status", statusHeaders).Body.Bytes())
	type gw struct {
		state   string
		running bool
	}
	got := map[string]gw{}
	var order []string
	for _, e := range body["gateways"].([]any) {
		m := e.(map[string]any)
		got[m["profile"].(string)] = gw{m["state"].(string), m["running"].(bool)}
		order = append(order, m["profile"].(string))
	}
	want := map[string]gw{
		"default": {"stopped", false},
		"coder":   {"running", true}, // not STOPPED (#23457)
		"writer":  {"stopped", false},
		"ghost":   {"unknown", false},
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("gateway %s = %+v, want %+v", p, got[p], w)
		}
	}
	if want := []string{"default", "coder", "ghost", "writer"}; !slices.Equal(order, want) {
		t.Errorf("gateways order = %q, want %q", order, want)
	}
	if body["gateway_state"] != "stopped" || body["gateway_running"] != false {
		t.Errorf("default gateway = %v/%v, want stopped/false", body["gateway_state"], body["gateway_running"])
	}
	// The default profile's own gateway, running, is reported as such.
	holdLock(t, f.home)
	writeState(t, f.home, map[string]any{"gateway_state": "running", "pid": recordedPID})
	body = decode(t, do(f.handler(), http.MethodGet, "/api/status", statusHeaders).Body.Bytes())
	if body["gateway_state"] != "running" || body["gateway_running"] != true {
		t.Errorf("default gateway = %v/%v, want running/true", body["gateway_state"], body["gateway_running"])
	}
}

// TestStatusActiveSessions: the active sessions of every profile are
// summed; a foreign store counts 0, is logged once, and is named in the
// gated /api/profiles only.
func TestStatusActiveSessions(t *testing.T) {
	f := statusFixture(t, authgate.OpenLocal, nil)
	for range 3 {
		body := decode(t, do(f.handler(), http.MethodGet, "/api/status", statusHeaders).Body.Bytes())
		if got, want := body["active_sessions"], 2.0; got != want {
			t.Fatalf("active_sessions = %v, want %v", got, want)
		}
	}
	if got := strings.Count(f.logs.String(), "sessions store unreadable"); got != 1 {
		t.Errorf("the foreign store was logged %d times, want once:\n%s", got, f.logs)
	}
	if !strings.Contains(f.logs.String(), "profile=writer") {
		t.Errorf("the log does not name the profile:\n%s", f.logs)
	}
	rec := do(f.handler(), http.MethodGet, "/api/profiles", map[string]string{"Host": "127.0.0.1:9119", "X-Hermes-Session-Token": f.gate.LocalToken()})
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/profiles = %d: %s", rec.Code, rec.Body)
	}
	for _, p := range decode(t, rec.Body.Bytes())["profiles"].([]any) {
		m := p.(map[string]any)
		_, hasErr := m["sessions_error"]
		if want := m["name"] == "writer"; hasErr != want {
			t.Errorf("profile %v: sessions_error present = %v, want %v (%v)", m["name"], hasErr, want, m["sessions_error"])
		}
	}
}

// TestStatusWithholds: under the gate the probe carries no path, pid,
// token, session id or exit reason; the open modes carry the paths.
func TestStatusWithholds(t *testing.T) {
	for _, mode := range []authgate.Mode{authgate.Gated, authgate.OpenLocal, authgate.OpenInsecure} {
		t.Run(string(mode), func(t *testing.T) {
			f := statusFixture(t, mode, nil)
			raw := do(f.handler(), http.MethodGet, "/api/status", statusHeaders).Body.String()
			var leaks []string
			walkJSON(decode(t, []byte(raw)), "", func(path string, v any) {
				switch v := v.(type) {
				case string:
					if strings.Contains(v, "/") || strings.HasPrefix(v, "sess_") || strings.Contains(v, "operator") {
						leaks = append(leaks, path+"="+v)
					}
				case float64:
					if v == recordedPID || v == float64(os.Getpid()) {
						leaks = append(leaks, fmt.Sprintf("%s=%v", path, v))
					}
				}
				for _, k := range []string{"home", "path", "pid", "token", "dir", "reason"} {
					if strings.Contains(path, k) {
						leaks = append(leaks, path)
					}
				}
			})
			if mode == authgate.Gated && len(leaks) > 0 {
				t.Errorf("gated /api/status leaks %q:\n%s", leaks, raw)
			}
			if mode != authgate.Gated && !strings.Contains(raw, `"hermes_home":"`+f.home+`"`) {
				t.Errorf("open /api/status lacks hermes_home:\n%s", raw)
			}
			if hasToken := strings.Contains(raw, "session_token"); hasToken != (mode == authgate.OpenLocal) {
				t.Errorf("session_token present = %v in %s:\n%s", hasToken, mode, raw)
			}
		})
	}
}

// walkJSON calls fn with every key path and value of a decoded document.
func walkJSON(v any, path string, fn func(string, any)) {
	fn(path, v)
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			walkJSON(e, path+"."+k, fn)
		}
	case []any:
		for i, e := range v {
			walkJSON(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

func TestReadGateway(t *testing.T) {
	tests := []struct {
		name        string
		state       string // gateway_state.json content; "" for none
		held        bool
		wantState   string
		wantRunning bool
	}{
		{"no file, no holder", "", false, "stopped", false},
		{"no file, held", "", true, "starting", false},
		{"running, held", `{"gateway_state":"running"}`, true, "running", true},
		{"running, killed", `{"gateway_state":"running"}`, false, "stopped", false},
		{"draining, held", `{"gateway_state":"draining"}`, true, "draining", false},
		{"starting, killed", `{"gateway_state":"starting"}`, false, "stopped", false},
		{"stopped, free", `{"gateway_state":"stopped"}`, false, "stopped", false},
		{"stopped, held (restarting)", `{"gateway_state":"stopped"}`, true, "starting", false},
		{"startup failed", `{"gateway_state":"startup_failed","exit_reason":"no port"}`, false, "startup_failed", false},
		{"reference degraded, held", `{"gateway_state":"degraded"}`, true, "degraded", false},
		{"foreign value", `{"gateway_state":"/etc/passwd"}`, false, "unknown", false},
		{"corrupt", `{"gateway_state":`, false, "unknown", false},
		{"desired only", `{"desired_state":"running"}`, false, "stopped", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.state != "" {
				writeFile(t, filepath.Join(home, "gateway_state.json"), tt.state)
			}
			if tt.held {
				holdLock(t, home)
			}
			v := readGateway(profiles.MustParse(home, profiles.Default))
			if got, want := v.State, tt.wantState; got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
			if got, want := v.Running, tt.wantRunning; got != want {
				t.Errorf("running = %v, want %v", got, want)
			}
			if got, want := v.Lock == gateway.LockHeld, tt.held; got != want {
				t.Errorf("lock = %s, want held %v", v.Lock, want)
			}
		})
	}
}

// TestLockStateKinds: a pid file that is a symlink or a directory is
// nobody's lock.
func TestLockStateKinds(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "gateway.pid")); err != nil {
		t.Fatal(err)
	}
	if got := gateway.LockState(dir); got != gateway.LockFree {
		t.Errorf("symlink: lock = %s, want %s", got, gateway.LockFree)
	}
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "gateway.pid"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := gateway.LockState(dir); got != gateway.LockFree {
		t.Errorf("directory: lock = %s, want %s", got, gateway.LockFree)
	}
}
