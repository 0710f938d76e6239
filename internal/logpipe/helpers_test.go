package logpipe

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runConsole runs c until the test ends, and returns a function that stops
// it and waits (idempotent).
func runConsole(t testing.TB, c *Console) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// pump runs l.Pump(s) on a new pipe and returns its write end and a
// function that closes it and waits for Pump.
func pump(t testing.TB, l *Log, s Stream) (w *os.File, wait func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Pump(s, r) }()
	var once sync.Once
	wait = func() {
		once.Do(func() {
			w.Close()
			if err := <-done; err != nil {
				t.Errorf("Pump = %v, want nil", err)
			}
		})
	}
	t.Cleanup(wait)
	return w, wait
}

// feed pumps the chunks, each in one write, through a new pipe into l.
func feed(t testing.TB, l *Log, s Stream, chunks ...string) {
	t.Helper()
	w, wait := pump(t, l, s)
	for _, c := range chunks {
		if _, err := w.WriteString(c); err != nil {
			t.Fatal(err)
		}
	}
	wait()
}

// fakeClock returns a clock that advances by step at each call.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := now
		now = now.Add(step)
		return t
	}
}

// logFiles returns the archives (in name order) and current of dir.
func logFiles(t testing.TB, dir string) (archives []string, current string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "@") {
			archives = append(archives, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(archives)
	return archives, filepath.Join(dir, "current")
}

// readRecords reads the files in order and returns their records, failing
// on a file that ends inside a record.
func readRecords(t testing.TB, files ...string) []string {
	t.Helper()
	var recs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s ends inside a record: %q", f, b[max(0, len(b)-40):])
		}
		recs = append(recs, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		if len(b) == 0 {
			recs = recs[:len(recs)-1]
		}
	}
	return recs
}

// untimed strips the timestamp of a record, checking its shape, and
// returns the separator and the line.
func untimed(t testing.TB, rec string) (sep byte, line string) {
	t.Helper()
	if len(rec) < len(tsLayout)+1 {
		t.Fatalf("record %q is too short", rec)
	}
	if _, err := time.Parse(tsLayout, rec[:len(tsLayout)]); err != nil {
		t.Fatalf("record %q: timestamp: %v", rec, err)
	}
	return rec[len(tsLayout)], rec[len(tsLayout)+1:]
}

// statOwner returns the owner of a file.
func statOwner(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
