package procstat

import (
	"os"
	"testing"
	"time"
)

// TestSelf: the calling process's figures against what the Go runtime and
// the system say of it.
func TestSelf(t *testing.T) {
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if p.RSS < 1<<20 || p.Virtual < p.RSS {
		t.Errorf("RSS %d, virtual %d: want a resident MiB at least, within the virtual size", p.RSS, p.Virtual)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// The directory read by ReadDir is one more descriptor than Self saw,
	// or the same count, depending on reuse: within two.
	if d := len(ents) - p.FDs; d < -2 || d > 2 {
		t.Errorf("FDs = %d, /proc/self/fd has %d", p.FDs, len(ents))
	}
	if p.Threads < 1 {
		t.Errorf("Threads = %d", p.Threads)
	}
	if age := time.Since(p.Start); age < 0 || age > 24*time.Hour {
		t.Errorf("started %v ago, want since the test began", age)
	}
}

func TestParseSelfStat(t *testing.T) {
	line := []byte("42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345 1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0")
	s, err := parseSelfStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.CPU, 3*time.Second; got != want {
		t.Errorf("CPU = %v, want %v", got, want)
	}
	if s.Threads != 7 || s.startTicks != 12345 || s.Virtual != 1000000 || s.RSS != 300*uint64(os.Getpagesize()) {
		t.Errorf("got %+v", s)
	}
	if _, err := parseSelfStat([]byte("42 (x) S 1 2")); err == nil {
		t.Error("a short line parsed")
	}
}
