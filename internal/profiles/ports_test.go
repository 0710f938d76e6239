package profiles

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// profileWith makes a profile directory with a marker and the given files.
func profileWith(t *testing.T, home, name string, files map[string]string) {
	t.Helper()
	writeFile(t, SOULPath(MustParse(home, name)), "s")
	for f, content := range files {
		writeFile(t, filepath.Join(MustParse(home, name).Dir(), f), content)
	}
}

func TestPort(t *testing.T) {
	home := t.TempDir()
	profileWith(t, home, "configured", map[string]string{"config.yaml": "gateway:\n  port: 8700\n", ".env": "API_SERVER_PORT=9999\n"})
	profileWith(t, home, "legacy", map[string]string{".env": "export API_SERVER_PORT=\"8701\"\n"})
	profileWith(t, home, "none", nil)
	profileWith(t, home, "badport", map[string]string{"config.yaml": "gateway:\n  port: high\n"})
	profileWith(t, home, "badlegacy", map[string]string{".env": "API_SERVER_PORT=x\n"})
	profileWith(t, home, "badyaml", map[string]string{"config.yaml": "gateway: [\n"})
	profileWith(t, home, "envnoise", map[string]string{".env": "garbage line\nAPI_SERVER_PORT=8702\n"})
	for _, tc := range []struct {
		name    string
		want    int
		errSays string
	}{
		{"default", 8642, ""},
		{"configured", 8700, ""},
		{"legacy", 8701, ""},
		{"envnoise", 8702, ""},
		{"none", 0, "hermes -p none config set gateway.port N"},
		{"badport", 0, "gateway.port"},
		{"badlegacy", 0, "API_SERVER_PORT"},
		{"badyaml", 0, "invalid YAML"},
		{"Bad", 0, "invalid profile name"},
	} {
		var got int
		r, err := Parse(home, tc.name)
		if err == nil {
			got, err = Port(r)
		}
		if tc.errSays != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSays) {
				t.Errorf("Port(%s) = %d, %v; want an error saying %q", tc.name, got, err, tc.errSays)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Port(%s) = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	writeFile(t, filepath.Join(home, "config.yaml"), "gateway:\n  port: 9000\n")
	if got, err := Port(MustParse(home, Default)); err != nil || got != 9000 {
		t.Errorf("Port(default) with a configured port = %d, %v; want 9000", got, err)
	}
}

func TestHost(t *testing.T) {
	home := t.TempDir()
	profileWith(t, home, "bound", map[string]string{"config.yaml": "gateway:\n  host: 10.0.0.1\n"})
	env := func(vars map[string]string) hostenv.Env {
		return hostenv.Env{Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	}
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		want    string
		errSays string
	}{
		{"default", nil, "127.0.0.1", ""},
		{"default", map[string]string{"HERMES_GATEWAY_HOST": "0.0.0.0"}, "0.0.0.0", ""},
		{"default", map[string]string{"HERMES_GATEWAY_HOST": "  "}, "127.0.0.1", ""},
		{"bound", map[string]string{"HERMES_GATEWAY_HOST": "0.0.0.0"}, "10.0.0.1", ""},
		{"default", map[string]string{"HERMES_GATEWAY_HOST": "http://x"}, "", "HERMES_GATEWAY_HOST"},
	} {
		got, err := Host(MustParse(home, tc.name), env(tc.vars))
		if tc.errSays != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSays) {
				t.Errorf("Host(%s, %v) = %q, %v; want an error saying %q", tc.name, tc.vars, got, err, tc.errSays)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Host(%s, %v) = %q, %v; want %q", tc.name, tc.vars, got, err, tc.want)
		}
	}
}

// freeRun returns the first port p > 8642 such that p..p+n-1 are free.
func freeRun(t *testing.T, n int) int {
	t.Helper()
	for p := DefaultGatewayPort + 1; p+n <= 65535; p++ {
		ok := true
		for q := p; q < p+n; q++ {
			if listening(q) {
				ok, p = false, q
				break
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports")
	return 0
}

func TestAllocatePort(t *testing.T) {
	home := t.TempDir()
	first := freeRun(t, 4)
	if first != DefaultGatewayPort+1 {
		t.Logf("ports %d..%d are busy on this machine", DefaultGatewayPort+1, first-1)
	}
	got, err := AllocatePort(home)
	if err != nil || got != first {
		t.Fatalf("AllocatePort(empty home) = %d, %v; want %d", got, err, first)
	}
	// Taken by profiles: configured, legacy, and a directory without SOUL.md
	// yet (a creation in progress).
	profileWith(t, home, "a", map[string]string{"config.yaml": "gateway:\n  port: " + strconv.Itoa(first) + "\n"})
	profileWith(t, home, "b", map[string]string{".env": "API_SERVER_PORT=" + strconv.Itoa(first+1) + "\n"})
	writeFile(t, filepath.Join(home, "profiles/c/config.yaml"), "gateway:\n  port: "+strconv.Itoa(first+2)+"\n")
	if got, err := AllocatePort(home); err != nil || got != first+3 {
		t.Errorf("AllocatePort = %d, %v; want %d (the ports of a, b and c are taken)", got, err, first+3)
	}
	// A listener is skipped.
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(first+3))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, err := AllocatePort(home); err != nil || got <= first+3 {
		t.Errorf("AllocatePort with a listener on %d = %d, %v; want a higher port", first+3, got, err)
	}
	// The default profile counts as 8642 unless it says otherwise.
	home2 := t.TempDir()
	writeFile(t, filepath.Join(home2, "config.yaml"), "gateway:\n  port: "+strconv.Itoa(first)+"\n")
	if got, err := AllocatePort(home2); err != nil || got == first {
		t.Errorf("AllocatePort with default on %d = %d, %v; want another port", first, got, err)
	}
}

func TestListeningWildcard(t *testing.T) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p := l.Addr().(*net.TCPAddr).Port; !listening(p) {
		t.Errorf("a listener on 0.0.0.0:%d is not seen", p)
	}
}

func TestEnsurePort(t *testing.T) {
	home := t.TempDir()
	first := freeRun(t, 2)
	profileWith(t, home, "host-made", map[string]string{"config.yaml": "# mine\nmodel:\n  name: m\n"})
	got, err := EnsurePort(MustParse(home, "host-made"))
	if err != nil || got != first {
		t.Fatalf("EnsurePort = %d, %v; want %d", got, err, first)
	}
	c, err := LoadConfig(ConfigPath(MustParse(home, "host-made")))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Bytes(); string(b) != "# mine\nmodel:\n  name: m\ngateway:\n  port: "+strconv.Itoa(first)+"\n" {
		t.Errorf("config.yaml after EnsurePort:\n%s", b)
	}
	if again, err := EnsurePort(MustParse(home, "host-made")); err != nil || again != first {
		t.Errorf("EnsurePort again = %d, %v; want %d", again, err, first)
	}
	if p, err := EnsurePort(MustParse(home, Default)); err != nil || p != DefaultGatewayPort {
		t.Errorf("EnsurePort(default) = %d, %v", p, err)
	}
}
