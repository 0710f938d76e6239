package supervise

import (
	"os"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/logpipe"
)

// TestLastLinesFromTheirStart: a failure quotes each of the last lines
// from its start, where an error says what failed, cut to 160 bytes.
func TestLastLinesFromTheirStart(t *testing.T) {
	l := logpipe.New(logpipe.Config{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	long := "✗ gateway coder: config.yaml line 3: " + strings.Repeat("x", 400) + " THE TAIL"
	w.WriteString("first\n\n" + long + "\nlast\n")
	w.Close()
	if err := l.Pump(logpipe.Stdout, r); err != nil {
		t.Fatal(err)
	}
	got := lastLines(l)
	if !strings.HasPrefix(got, ": ✗ gateway coder: config.yaml line 3: xxx") || strings.Contains(got, "THE TAIL") || !strings.HasSuffix(got, "… | last") {
		t.Errorf("lastLines = %q", got)
	}
}
