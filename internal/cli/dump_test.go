package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
)

// TestDumpVersionLine: the "version:" line ends with the commit in brackets
// (the reference's scenario 101 reads it so): "[(unknown)]" here, since a
// test binary has no baked file, no -ldflags commit and no VCS stamp.
func TestDumpVersionLine(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "SOUL.md"), []byte("x"), 0o644)
	var out strings.Builder
	e := &Env{Stdout: &out, Stderr: &out, Host: hostenv.Env{
		Getenv: func(k string) (string, bool) {
			switch k {
			case "HERMES_HOME":
				return home, true
			case "HERMES_CONTROL_SOCKET":
				return filepath.Join(home, "none.sock"), true
			}
			return "", false
		},
		Exists: func(string) bool { return false }, Getuid: os.Getuid, UserHome: os.UserHomeDir,
	}}
	if code := e.Main([]string{"dump"}); code != 0 {
		t.Fatalf("dump exit %d:\n%s", code, out.String())
	}
	line := regexp.MustCompile(`(?m)^version:\s+(.+)$`).FindStringSubmatch(out.String())
	if line == nil {
		t.Fatalf("no version: line in\n%s", out.String())
	}
	if !regexp.MustCompile(`\[(\(unknown\)|[0-9a-f]{8})\]$`).MatchString(line[1]) {
		t.Errorf("version line %q does not end with [<sha8>] or [(unknown)]", line[1])
	}
	text := out.String()
	out.Reset()
	if code := e.Main([]string{"dump", "--json"}); code != 0 {
		t.Fatalf("dump --json exit %d:\n%s", code, out.String())
	}
	var d dumpInfo
	if err := json.Unmarshal([]byte(out.String()), &d); err != nil {
		t.Fatalf("dump --json: %v\n%s", err, out.String())
	}
	if want := "hermes " + d.Version + " [" + d.CommitShort + "]"; line[1] != want || d.Home != home || d.Supervisor.Answering ||
		len(d.Profiles) != 1 || d.Profiles[0].Name != "default" || d.Profiles[0].Port == 0 || d.Go == "" {
		t.Errorf("dump --json = %+v; want version %q, home %s, no supervisor, the default profile", d, line[1], home)
	}
	for _, secret := range []string{"API_SERVER_KEY"} {
		if strings.Contains(text+out.String(), secret) {
			t.Errorf("dump prints %s", secret)
		}
	}
}

// TestDescribeGateway: dump prints the state every reader shows, then
// what the file records when it says otherwise.
func TestDescribeGateway(t *testing.T) {
	tests := []struct {
		o    gateway.Observation
		want string
	}{
		{gateway.Observation{State: "stopped", Lock: gateway.LockFree}, "stopped (pid lock free)"},
		{gateway.Observation{State: "running", Lock: gateway.LockHeld, File: gateway.State{GatewayState: "running", DesiredState: "running"}}, "running (pid lock held, desired running)"},
		{gateway.Observation{State: "stopped", Lock: gateway.LockFree, File: gateway.State{GatewayState: "running", DesiredState: "running"}}, "stopped (pid lock free, recorded running, desired running)"},
	}
	for _, tt := range tests {
		if got := describeGateway(tt.o); got != tt.want {
			t.Errorf("describeGateway(%+v) = %q, want %q", tt.o, got, tt.want)
		}
	}
}
