package logpipe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// BenchmarkPump measures lines/s of 100-byte lines written to a pipe in
// 64 KiB writes, through Pump, to a file rotated at 10 MB and to a Console
// on /dev/null.
func BenchmarkPump(b *testing.B) {
	dir := b.TempDir()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	cons := NewConsole(devnull)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { cons.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	l := New(Config{
		Name:   "bench",
		File:   &FileConfig{Path: filepath.Join(dir, "svc", "current"), Base: dir, MaxBytes: 10_000_000, Keep: 3, Owner: safefs.Keep},
		Stdout: cons,
	})
	defer l.Close()

	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n')
	chunk := bytes.Repeat(line, 64<<10/len(line)) // 655 lines, 65500 bytes
	perChunk := bytes.Count(chunk, nl)

	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Pump(Stdout, r) }()
	chunks := b.N/perChunk + 1
	b.SetBytes(int64(len(chunk)) / int64(perChunk))
	b.ReportAllocs()
	b.ResetTimer()
	for range chunks {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	c := l.Counters()
	if want := uint64(chunks * perChunk); c.Lines != want || c.Dropped != 0 || c.WriteErrors != 0 {
		b.Fatalf("counters = %+v, want %d lines, nothing dropped", c, want)
	}
	b.ReportMetric(float64(c.Lines)/b.Elapsed().Seconds(), "lines/s")
}
