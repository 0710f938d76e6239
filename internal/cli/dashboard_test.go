package cli

import (
	"context"
	"encoding/json"
	"github.com/spf13/pflag"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// dashEnv is an Env for hermes dashboard with vars as its environment and
// a fresh HERMES_HOME.
func dashEnv(t *testing.T, vars map[string]string) (*Env, *testenv.Buffer, *testenv.Buffer) {
	t.Helper()
	if _, ok := vars["HERMES_HOME"]; !ok {
		vars["HERMES_HOME"] = t.TempDir()
	}
	vars["HERMES_CONTROL_SOCKET"] = vars["HERMES_HOME"] + "/no-control.sock"
	out, errb := &testenv.Buffer{}, &testenv.Buffer{}
	return &Env{
		Stdin: strings.NewReader(""), Stdout: out, Stderr: errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
			Exists: func(string) bool { return false },
			Getuid: os.Getuid,
			Warn:   errb,
		},
	}, out, errb
}

func TestDashboardFlags(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want dashboardFlags
	}{
		{"defaults", map[string]string{}, nil, dashboardFlags{host: "127.0.0.1", port: 9119}},
		{"environment", map[string]string{"HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_PORT": "9120", "HERMES_DASHBOARD_INSECURE": "yes"}, nil,
			dashboardFlags{host: "0.0.0.0", port: 9120, insecure: true}},
		{"flags win", map[string]string{"HERMES_DASHBOARD_HOST": "0.0.0.0", "HERMES_DASHBOARD_PORT": "9120", "HERMES_DASHBOARD_INSECURE": "1"},
			[]string{"--host", "127.0.0.1", "--port=9121", "--insecure=false", "--no-open"},
			dashboardFlags{host: "127.0.0.1", port: 9121, noOpen: true}},
		{"insecure flag", map[string]string{"HERMES_DASHBOARD_INSECURE": "off"}, []string{"--insecure"}, dashboardFlags{host: "127.0.0.1", port: 9119, insecure: true}},
	}
	for _, tt := range tests {
		e, _, _ := dashEnv(t, tt.vars)
		fs := pflag.NewFlagSet("dashboard", pflag.ContinueOnError)
		raw := defineDashboardFlags(e, fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := raw.check()
		if err != nil || got != tt.want {
			t.Errorf("%s: flags = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []map[string]string{{"HERMES_DASHBOARD_PORT": "http"}, {"HERMES_DASHBOARD_PORT": "70000"}} {
		e, _, errb := dashEnv(t, bad)
		if code := e.Main([]string{"dashboard", "--no-open"}); code != 78 {
			t.Errorf("%v: exit %d, want 78 (%s)", bad, code, errb)
		}
	}
}

// freePort is a TCP port of the machine that nothing listens on now
// (testenv.FreePort, on every address).
func freePort(t *testing.T) int { return testenv.FreePort(t, "0.0.0.0") }

// TestDashboardRefuses: gated without a usable login provider, the
// dashboard prints the gate's refusal, exits 78 (EX_CONFIG: the
// supervisor does not restart it) and binds nothing.
func TestDashboardRefuses(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		host  string
		wants []string
	}{
		{"public bind", map[string]string{}, "0.0.0.0", []string{"Refusing to bind dashboard to 0.0.0.0", "--insecure"}},
		{"public URL", map[string]string{"HERMES_DASHBOARD_PUBLIC_URL": "https://agent.example.com"}, "127.0.0.1", []string{"Refusing to bind dashboard to 127.0.0.1", "--insecure"}},
		{"skipped provider", map[string]string{"HERMES_DASHBOARD_OAUTH_CLIENT_ID": "not-an-agent-id"}, "0.0.0.0", []string{"Refusing to bind dashboard to 0.0.0.0", "nous", "--insecure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			e, out, errb := dashEnv(t, tt.vars)
			code := e.Main([]string{"dashboard", "--host", tt.host, "--port", strconv.Itoa(port), "--no-open"})
			if code != 78 {
				t.Fatalf("exit %d, want 78\nstdout: %s\nstderr: %s", code, out, errb)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb)
				}
			}
			// The supervisor's failure reason quotes the last lines: the
			// last one says it all.
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "Refusing to bind dashboard to "+tt.host) || !strings.Contains(last, "--insecure") {
				t.Errorf("last line %q does not state the refusal", last)
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(tt.host, strconv.Itoa(port)))
			if err != nil {
				t.Fatalf("the port is not free after the refusal: %v", err)
			}
			ln.Close()
		})
	}
}

var listeningAddr = regexp.MustCompile(`listening addr=(\S+)`)

// startDashboard runs hermes dashboard args until the test ends (or cancel
// is called) and returns its address once it listens.
func startDashboard(t *testing.T, e *Env, errb *testenv.Buffer, args ...string) (addr string, cancel func() int) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- e.exitCode(e.dispatch(ctx, append([]string{"dashboard", "--no-open"}, args...))) }()
	testenv.Eventually(t, 10*time.Second, "the dashboard to listen", func() bool {
		select {
		case code := <-done:
			t.Fatalf("hermes dashboard exited %d:\n%s", code, errb)
		default:
		}
		return listeningAddr.MatchString(errb.String())
	})
	cancel = func() int { stop(); return <-done }
	t.Cleanup(func() { stop() })
	return listeningAddr.FindStringSubmatch(errb.String())[1], cancel
}

// TestDashboardOpenLocal: on loopback the dashboard serves the probe,
// refuses a foreign Host (DNS rebinding), and exits 0 when stopped.
func TestDashboardOpenLocal(t *testing.T) {
	e, _, errb := dashEnv(t, map[string]string{})
	addr, cancel := startDashboard(t, e, errb, "--port", "0")
	get := func(host string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/status", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp, m
	}
	resp, body := get("")
	if resp.StatusCode != http.StatusOK || body["mode"] != "open-local" || body["auth_required"] != false {
		t.Errorf("/api/status = %s %v", resp.Status, body)
	}
	if resp, _ := get("evil.example.com"); resp.StatusCode == http.StatusOK {
		t.Errorf("a foreign Host is served: %s", resp.Status)
	}
	if !strings.Contains(errb.String(), "mode=open-local") {
		t.Errorf("the mode is not logged:\n%s", errb)
	}
	if code := cancel(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, errb)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still listening after the stop")
	}
}

// TestDashboardInsecure: an opted-out public bind serves without a login
// and warns loudly, naming the bind and the public URL.
func TestDashboardInsecure(t *testing.T) {
	e, _, errb := dashEnv(t, map[string]string{"HERMES_DASHBOARD_INSECURE": "1", "HERMES_DASHBOARD_PUBLIC_URL": "https://agent.example.com/hermes"})
	addr, cancel := startDashboard(t, e, errb, "--host", "127.0.0.1", "--port", "0")
	for _, w := range []string{"mode=open-insecure", "WARNING", "bind: " + addr, "public URL: https://agent.example.com/hermes"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb)
		}
	}
	if code := cancel(); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}
