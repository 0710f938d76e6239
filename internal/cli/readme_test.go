package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
)

// TestREADMECommandLine runs the examples of README.md's "The command
// line" as written, in a fresh HERMES_HOME (with a log for gateway-coder):
// each exits 0, but those whose comment is a ✗ line, which print exactly
// that line and exit 1.
func TestREADMECommandLine(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## The command line\n")
	if !ok {
		t.Fatal("README.md has no section \"The command line\"")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || block == "" {
		t.Fatal("README.md's \"The command line\" has no sh block")
	}
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "SOUL.md"), []byte("default\n"), 0o644)
	logFile := gateway.LogFile(home, "gateway-coder")
	os.MkdirAll(filepath.Dir(logFile), 0o755)
	os.WriteFile(logFile, []byte(time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000000Z")+" request method=GET route=health status=200\n"), 0o640)
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		cmd, comment, _ := strings.Cut(line, " #")
		args := strings.Fields(cmd)
		if len(args) == 0 {
			continue
		}
		if args[0] != "hermes" {
			t.Fatalf("README example %q is not a hermes command line", line)
		}
		ran++
		out, errs, code := runCLI(home, args[1:]...)
		if want := strings.TrimSpace(comment); strings.HasPrefix(want, "✗") {
			if code != 1 || strings.TrimSpace(out) != want {
				t.Errorf("README: %s: exit %d, %q; want exit 1 and %q", cmd, code, out, want)
			}
			continue
		}
		if code != 0 || strings.Contains(out, "✗") {
			t.Errorf("README: %s: exit %d\n%s%s", cmd, code, out, errs)
		}
	}
	if ran < 5 {
		t.Errorf("only %d examples in README.md's \"The command line\"", ran)
	}
}
