package cli

import (
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// ttyWriter is a writer that says it is a terminal.
type ttyWriter struct{ strings.Builder }

func (*ttyWriter) IsTerminal() bool { return true }

// TestColour: the ✗ line is red on a terminal, and plain when stdout is not
// a terminal, when NO_COLOR is set (to anything but "") or TERM is dumb.
func TestColour(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		vars map[string]string
		want string
	}{
		{"terminal", true, map[string]string{"TERM": "xterm"}, "\x1b[31m✗\x1b[0m unknown command"},
		{"terminal without TERM", true, nil, "\x1b[31m✗\x1b[0m unknown command"},
		{"NO_COLOR", true, map[string]string{"NO_COLOR": "1", "TERM": "xterm"}, "✗ unknown command"},
		{"NO_COLOR empty", true, map[string]string{"NO_COLOR": "", "TERM": "xterm"}, "\x1b[31m✗\x1b[0m unknown command"},
		{"dumb terminal", true, map[string]string{"TERM": "dumb"}, "✗ unknown command"},
		{"pipe", false, map[string]string{"TERM": "xterm"}, "✗ unknown command"},
	}
	for _, tt := range tests {
		var out interface {
			String() string
			Write([]byte) (int, error)
		} = &strings.Builder{}
		if tt.tty {
			out = &ttyWriter{}
		}
		e := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: &strings.Builder{}, Host: hostenv.Env{
			Getenv: func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok },
			Exists: func(string) bool { return false },
		}}
		if code := e.Main([]string{"nope"}); code != 1 || !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%s: exit %d, %q; want it to start with %q", tt.name, code, out.String(), tt.want)
		}
	}
}
