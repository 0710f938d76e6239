package procmem

import (
	"fmt"
	"strings"
	"testing"
)

// TestReleaseStartupPages: the read-only segments of the executable are
// released and the process keeps running (code refaults transparently).
func TestReleaseStartupPages(t *testing.T) {
	n, err := ReleaseStartupPages()
	if err != nil || n == 0 {
		t.Fatalf("ReleaseStartupPages = %d, %v; want some bytes released", n, err)
	}
	// Code and read-only data still work after the release.
	if got := fmt.Sprintf("%d-%s", 42, strings.Repeat("x", 3)); got != "42-xxx" {
		t.Fatalf("after the release: %q", got)
	}
}
