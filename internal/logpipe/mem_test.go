package logpipe

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// idleServices starts n services that print a burst and then stay quiet
// with their pipes open, and waits until every file writer is gone. stop
// closes their pipes and waits for the Pumps.
func idleServices(t *testing.T, n int) (logs []*Log, stop func()) {
	const burst = 50
	base := t.TempDir()
	var waits []func()
	for i := range n {
		l := New(Config{Name: fmt.Sprint(i), File: &FileConfig{Path: filepath.Join(base, fmt.Sprint(i), "current"), Base: base, Owner: safefs.Keep}})
		w, wait := pump(t, l, Stdout)
		for j := range burst {
			fmt.Fprintf(w, "service %d line %d\n", i, j)
		}
		logs, waits = append(logs, l), append(waits, wait)
	}
	for _, l := range logs {
		testenv.Eventually(t, 10*time.Second, "the burst", func() bool { return l.Counters().Lines == burst })
		l.idleFile(t)
	}
	testenv.Eventually(t, 10*time.Second, "file writers to exit", func() bool {
		all := stacks()
		return !strings.Contains(all, "(*fileSink).run") && strings.Count(all, "logpipe.(*Log).Pump(") == n
	})
	return logs, func() {
		for i, wait := range waits {
			wait()
			logs[i].Close()
		}
	}
}

// stacks returns the stacks of all goroutines.
func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestIdleMemory checks what 100 idle services hold: their rings, no read
// buffer, no goroutine but the Pumps.
func TestIdleMemory(t *testing.T) {
	const services = 100
	_, stop := idleServices(t, services) // warm the runtime up (poller, timers, first GCs)
	stop()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	logs, stop := idleServices(t, services)
	runtime.GC()
	runtime.GC() // twice: sync.Pool keeps a victim cache over one GC
	runtime.ReadMemStats(&after)

	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / services
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / services
	t.Logf("per idle service: %d B heap (ring %d B), %d B goroutine stacks (2 Pumps in production, 1 here)", heap, maxRingBytes, stack)
	if limit := int64(maxRingBytes + 4<<10); heap > limit {
		t.Errorf("idle service holds %d B of heap, want at most %d (ring and small change, no read buffer)", heap, limit)
	}
	for _, l := range logs {
		if l.ring.buf == nil {
			t.Fatal("ring not allocated after a burst")
		}
	}
	stop()
}

// TestRingOnFirstUse checks that a Log that has seen no line has no ring.
func TestRingOnFirstUse(t *testing.T) {
	l := New(Config{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := l.Pump(Stdout, r); err != nil {
		t.Fatal(err)
	}
	if l.ring.buf != nil {
		t.Errorf("ring allocated (%d B) without a line", len(l.ring.buf))
	}
}
