package logpipe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)

// newTestLog returns a Log with a file below a temp dir and a Console for
// stdout, and the paths of both.
func newTestLog(t testing.TB, cfg Config) (l *Log, dir string, out *testenv.Buffer) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "logs", "svc")
	if cfg.File == nil {
		cfg.File = &FileConfig{}
	}
	cfg.File.Path, cfg.File.Base = filepath.Join(dir, "current"), base
	cfg.File.Owner = safefs.Keep // the zero Owner is root
	out = new(testenv.Buffer)
	cfg.Stdout = NewConsole(out)
	runConsole(t, cfg.Stdout)
	l = New(cfg)
	t.Cleanup(func() { l.Close() })
	return l, dir, out
}

// idle waits until the file writer has written everything queued.
func (l *Log) idleFile(t testing.TB) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the file writer", func() bool {
		l.file.mu.Lock()
		defer l.file.mu.Unlock()
		return !l.file.busy
	})
}

func TestStreamString(t *testing.T) {
	for _, tt := range []struct {
		s    Stream
		want string
	}{{Stdout, "stdout"}, {Stderr, "stderr"}, {0, "stream(0)"}} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Stream(%d).String() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestFileFormat(t *testing.T) {
	l, dir, out := newTestLog(t, Config{Now: fakeClock(t0, time.Second)})
	feed(t, l, Stdout, "hello\r\nworld\nbye")
	l.idleFile(t)
	got, err := os.ReadFile(filepath.Join(dir, "current"))
	if err != nil {
		t.Fatal(err)
	}
	want := "2024-01-02T03:04:05.123456Z hello\r\n" +
		"2024-01-02T03:04:05.123456Z world\n" +
		"2024-01-02T03:04:06.123456Z bye\n"
	if string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "current"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != defaultMode {
		t.Errorf("mode of current = %v, want %v", got, os.FileMode(defaultMode))
	}
	if st, err = os.Stat(dir); err != nil || st.Mode().Perm() != dirMode {
		t.Errorf("mode of %s = %v (%v), want %v", dir, st.Mode().Perm(), err, os.FileMode(dirMode))
	}
	testenv.Eventually(t, 10*time.Second, "the console", func() bool { return out.String() == "hello\r\nworld\nbye\n" })
	tail := l.Tail(10)
	if len(tail) != 3 || tail[0].Line != "hello\r" || tail[2].Line != "bye" || !tail[2].Time.Equal(t0.Add(time.Second)) || tail[1].Stream != Stdout {
		t.Errorf("Tail(10) = %+v, want hello\\r, world, bye", tail)
	}
}

func TestPieces(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", maxLine/16*2) + "tail" // two full pieces and "tail"
	tests := []struct {
		name   string
		chunks []string
		recs   []string // separator and line of each record
		raw    string   // console copy
	}{
		{"lines", []string{"a\nb\n"}, []string{" a", " b"}, "a\nb\n"},
		{"crlf kept", []string{"a\r\n\r\n"}, []string{" a\r", " \r"}, "a\r\n\r\n"},
		{"empty lines", []string{"\n\n"}, []string{" ", " "}, "\n\n"},
		{"final partial", []string{"a\n", "b"}, []string{" a", " b"}, "a\nb\n"},
		{"split", []string{long + "\nnext\n"}, []string{" " + long[:maxLine], "+" + long[maxLine:2*maxLine], "+tail", " next"},
			long[:maxLine] + "\n" + long[maxLine:2*maxLine] + "\ntail\nnext\n"},
		{"split partial", []string{long}, []string{" " + long[:maxLine], "+" + long[maxLine:2*maxLine], "+tail"},
			long[:maxLine] + "\n" + long[maxLine:2*maxLine] + "\ntail\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, dir, out := newTestLog(t, Config{})
			feed(t, l, Stdout, tt.chunks...)
			l.idleFile(t)
			recs := readRecords(t, filepath.Join(dir, "current"))
			var got []string
			for _, r := range recs {
				sep, line := untimed(t, r)
				got = append(got, string(sep)+line)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.recs) {
				t.Errorf("records = %.200q, want %.200q", got, tt.recs)
			}
			testenv.Eventually(t, 10*time.Second, "the console copy", func() bool { return len(out.String()) >= len(tt.raw) })
			if got := out.String(); got != tt.raw {
				t.Errorf("console = %.200q, want %.200q", got, tt.raw)
			}
			if c := l.Counters(); c.Lines != uint64(len(tt.recs)) || c.Dropped != 0 {
				t.Errorf("Counters() = %+v, want %d lines, 0 dropped", c, len(tt.recs))
			}
			var conts []bool
			for _, e := range l.Tail(len(tt.recs)) {
				conts = append(conts, e.Continued)
			}
			var want []bool
			for _, r := range tt.recs {
				want = append(want, r[0] == '+')
			}
			if fmt.Sprint(conts) != fmt.Sprint(want) {
				t.Errorf("Continued of Tail = %v, want %v", conts, want)
			}
		})
	}
}

// TestMillionLines sends 1,000,000 lines through one Log and checks that
// they all arrive, in order, in the rotated files and on the console.
func TestMillionLines(t *testing.T) {
	const n = 1_000_000
	l, dir, out := newTestLog(t, Config{File: &FileConfig{MaxBytes: 4 << 20, Keep: 1000}})
	w, wait := pump(t, l, Stdout)
	var chunk []byte
	for i := range n {
		chunk = fmt.Appendf(chunk, "line %07d of the million\n", i)
		if len(chunk) > 60<<10 || i == n-1 {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
			chunk = chunk[:0]
		}
	}
	wait()
	l.idleFile(t)
	if c := l.Counters(); c.Lines != n || c.Dropped != 0 || c.WriteErrors != 0 {
		t.Fatalf("Counters() = %+v, want %d lines, nothing dropped", c, n)
	}
	archives, current := logFiles(t, dir)
	if len(archives) < 5 {
		t.Errorf("%d archives, want at least 5", len(archives))
	}
	recs := readRecords(t, append(archives, current)...)
	if len(recs) != n {
		t.Fatalf("%d records in the files, want %d", len(recs), n)
	}
	prev := ""
	for i, r := range recs {
		if ts := r[:len(tsLayout)]; ts < prev {
			t.Fatalf("record %d: timestamp %s before %s", i, ts, prev)
		} else {
			prev = ts
		}
		if _, line := untimed(t, r); line != fmt.Sprintf("line %07d of the million", i) {
			t.Fatalf("record %d = %q, want line %d", i, r, i)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the console copy", func() bool { return strings.Count(out.String(), "\n") == n })
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if want := fmt.Sprintf("line %07d of the million", i); line != want {
			t.Fatalf("console line %d = %q, want %q", i, line, want)
		}
	}
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name  string
		step  time.Duration
		keep  int
		lines int
	}{
		{"keep 3, clock advancing", time.Millisecond, 3, 400},
		{"keep 2, clock stopped (suffixes)", 0, 2, 400},
		{"keep 1", time.Microsecond, 1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const maxBytes = 1000
			l, dir, _ := newTestLog(t, Config{Now: fakeClock(t0, tt.step), File: &FileConfig{MaxBytes: maxBytes, Keep: tt.keep}})
			w, wait := pump(t, l, Stdout)
			for i := range tt.lines {
				fmt.Fprintf(w, "line %04d\n", i)
				if i == tt.lines/2 {
					// One record larger than MaxBytes gets a file of its own.
					fmt.Fprintf(w, "%s\n", strings.Repeat("L", 2*maxBytes))
				}
			}
			wait()
			l.idleFile(t)
			archives, current := logFiles(t, dir)
			if len(archives) != tt.keep {
				t.Fatalf("archives = %q, want %d", archives, tt.keep)
			}
			var lines []string
			for _, f := range append(archives, current) {
				recs := readRecords(t, f)
				if st, _ := os.Stat(f); st.Size() > maxBytes && len(recs) > 1 {
					t.Errorf("%s: %d bytes in %d records, want at most %d", f, st.Size(), len(recs), maxBytes)
				}
				for _, r := range recs {
					_, line := untimed(t, r)
					lines = append(lines, line)
				}
			}
			// What is kept is the end of the stream, in order.
			var want []string
			for i := range tt.lines {
				want = append(want, fmt.Sprintf("line %04d", i))
				if i == tt.lines/2 {
					want = append(want, strings.Repeat("L", 2*maxBytes))
				}
			}
			want = want[len(want)-len(lines):]
			if fmt.Sprint(lines) != fmt.Sprint(want) {
				t.Errorf("lines kept = %.300q, want %.300q", lines, want)
			}
			if !strings.HasSuffix(lines[len(lines)-1], fmt.Sprintf("%04d", tt.lines-1)) {
				t.Errorf("last line = %q, want line %d", lines[len(lines)-1], tt.lines-1)
			}
		})
	}
}

func TestArchiveNames(t *testing.T) {
	l, dir, _ := newTestLog(t, Config{Now: fakeClock(t0, 0), File: &FileConfig{MaxBytes: 10, Keep: 100}})
	feed(t, l, Stdout, "first line\n", "second line\n", "third line\n", "fourth line\n")
	l.idleFile(t)
	archives, _ := logFiles(t, dir)
	var got []string
	for _, a := range archives {
		got = append(got, filepath.Base(a)+": "+strings.Join(readRecords(t, a), ""))
	}
	want := []string{
		"@20240102T030405.123456Z.s: 2024-01-02T03:04:05.123456Z first line",
		"@20240102T030405.123456Z_000001.s: 2024-01-02T03:04:05.123456Z second line",
		"@20240102T030405.123456Z_000002.s: 2024-01-02T03:04:05.123456Z third line",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("archives = %q, want %q", got, want)
	}
}

// TestSymlinkNotFollowed plants links (and a FIFO) where the log file or
// its directories go: nothing is written through them, the lines are
// counted as dropped, and the service and the console go on.
func TestSymlinkNotFollowed(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, base, target string) (path string)
	}{
		{"at current", func(t *testing.T, base, target string) string {
			os.MkdirAll(filepath.Join(base, "logs"), 0o755)
			must(t, os.Symlink(filepath.Join(target, "victim"), filepath.Join(base, "logs", "current")))
			return filepath.Join(base, "logs", "current")
		}},
		{"at a parent", func(t *testing.T, base, target string) string {
			os.MkdirAll(filepath.Join(base, "logs"), 0o755)
			must(t, os.Symlink(target, filepath.Join(base, "logs", "svc")))
			return filepath.Join(base, "logs", "svc", "victim")
		}},
		{"at a parent, created below", func(t *testing.T, base, target string) string {
			must(t, os.Symlink(target, filepath.Join(base, "logs")))
			return filepath.Join(base, "logs", "new", "current")
		}},
		{"hard link at current", func(t *testing.T, base, target string) string {
			must(t, os.Link(filepath.Join(target, "victim"), filepath.Join(base, "current")))
			return filepath.Join(base, "current")
		}},
		{"fifo at current", func(t *testing.T, base, target string) string {
			must(t, unix.Mkfifo(filepath.Join(base, "current"), 0o600))
			return filepath.Join(base, "current")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, target := t.TempDir(), t.TempDir()
			must(t, os.WriteFile(filepath.Join(target, "victim"), []byte("untouched\n"), 0o600))
			path := tt.plant(t, base, target)
			out := new(testenv.Buffer)
			cons := NewConsole(out)
			runConsole(t, cons)
			l := New(Config{File: &FileConfig{Path: path, Base: base, Owner: safefs.Keep}, Stdout: cons})
			feed(t, l, Stdout, "a\nb\n", "c\n")
			l.idleFile(t)
			if got, _ := os.ReadFile(filepath.Join(target, "victim")); string(got) != "untouched\n" {
				t.Errorf("target = %q, want untouched", got)
			}
			if ents, _ := os.ReadDir(target); len(ents) != 1 {
				t.Errorf("target dir has %d entries, want 1", len(ents))
			}
			if c := l.Counters(); c.WriteErrors == 0 || c.Dropped != 3 || c.Lines != 3 {
				t.Errorf("Counters() = %+v, want write errors, 3 dropped of 3", c)
			}
			testenv.Eventually(t, 10*time.Second, "the console copy", func() bool { return out.String() == "a\nb\nc\n" })
			if err := l.Close(); err != nil {
				t.Errorf("Close() = %v, want nil", err)
			}
		})
	}
}

func TestOwnerAndMode(t *testing.T) {
	testenv.NeedRoot(t, "chown to another uid")
	base := t.TempDir()
	path := filepath.Join(base, "a", "b", "current")
	l := New(Config{File: &FileConfig{Path: path, Base: base, Owner: safefs.Owner{UID: 4321, GID: 4322}, Mode: 0o604}})
	feed(t, l, Stdout, "x\n")
	must(t, l.Close())
	for _, tt := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Join(base, "a"), dirMode}, {filepath.Join(base, "a", "b"), dirMode}, {path, 0o604}} {
		st, err := os.Lstat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		uid, gid := statOwner(st)
		if st.Mode().Perm() != tt.mode || uid != 4321 || gid != 4322 {
			t.Errorf("%s: mode %v owner %d:%d, want %v 4321:4322", tt.path, st.Mode().Perm(), uid, gid, tt.mode)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	testenv.Buffer
	release chan struct{}
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.Buffer.Write(p)
}

func TestStalledConsole(t *testing.T) {
	bw := &blockingWriter{release: make(chan struct{})}
	cons := NewConsole(bw)
	runConsole(t, cons)
	t.Cleanup(func() {
		select {
		case <-bw.release:
		default:
			close(bw.release)
		}
	})
	base := t.TempDir()
	l := New(Config{File: &FileConfig{Path: filepath.Join(base, "current"), Base: base, MaxBytes: 10 << 20, Owner: safefs.Keep}, Stdout: cons, StallTimeout: 100 * time.Millisecond})
	const n = 10_000 // about 1 MB: more than the console's queue
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%099d\n", i)
	}
	start := time.Now()
	feed(t, l, Stdout, in.String())
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Pump took %v with a stalled console, want about the stall timeout", d)
	}
	l.idleFile(t)
	c := l.Counters()
	if recs := readRecords(t, filepath.Join(base, "current")); len(recs) != n {
		t.Errorf("%d records in the file, want %d (counters %+v)", len(recs), n, c)
	}
	if c.Dropped == 0 || c.Dropped >= n || c.WriteErrors != 0 {
		t.Errorf("Counters() = %+v, want some (not all) of %d dropped, no write errors", c, n)
	}
	// Once the console moves again, lines flow again.
	close(bw.release)
	feed(t, l, Stdout, "after\n")
	testenv.Eventually(t, 10*time.Second, "the console to resume", func() bool { return strings.HasSuffix(bw.String(), "after\n") })
	if got := l.Counters().Dropped; got != c.Dropped {
		t.Errorf("Dropped = %d after the console resumed, want %d", got, c.Dropped)
	}
}

// slowWriter takes a while for every Write.
type slowWriter struct {
	testenv.Buffer
	delay time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.Buffer.Write(p)
}

func TestSlowConsole(t *testing.T) {
	sw := &slowWriter{delay: 20 * time.Millisecond}
	cons := NewConsole(sw)
	runConsole(t, cons)
	l := New(Config{Stdout: cons, StallTimeout: time.Second})
	const n = 20_000 // 2 MB: the console's queue fills several times
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%099d\n", i)
	}
	feed(t, l, Stdout, in.String())
	testenv.Eventually(t, 10*time.Second, "the console copy", func() bool { return len(sw.String()) == in.Len() })
	if got := sw.String(); got != in.String() {
		t.Errorf("console copy differs from the input")
	}
	if c := l.Counters(); c.Dropped != 0 || c.Lines != n {
		t.Errorf("Counters() = %+v, want %d lines, 0 dropped", c, n)
	}
}

// failingWriter fails every Write after writing half of it.
type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return len(p) / 2, errors.New("broken") }

func TestConsoleWriteError(t *testing.T) {
	cons := NewConsole(failingWriter{})
	stop := runConsole(t, cons)
	l := New(Config{Stdout: cons})
	feed(t, l, Stdout, "0123\n4567\n89ab\ncdef\n")
	stop()
	if c := l.Counters(); c.Dropped != 2 || c.WriteErrors != 0 {
		t.Errorf("Counters() = %+v, want the 2 unwritten lines dropped, no write errors", c)
	}
}

func TestMuted(t *testing.T) {
	out := new(testenv.Buffer)
	cons := NewConsole(out)
	stop := runConsole(t, cons)
	l := New(Config{Stdout: cons, Stderr: cons})
	cons.SetMuted(true)
	feed(t, l, Stderr, "hidden\n")
	cons.SetMuted(false)
	feed(t, l, Stdout, "shown\n")
	stop()
	if got := out.String(); got != "shown\n" {
		t.Errorf("console = %q, want %q", got, "shown\n")
	}
	if c := l.Counters(); c.Dropped != 0 || c.Lines != 2 {
		t.Errorf("Counters() = %+v, want 2 lines, 0 dropped", c)
	}
	if tail := l.Tail(5); len(tail) != 2 || tail[0].Stream != Stderr || tail[0].Line != "hidden" {
		t.Errorf("Tail(5) = %+v, want hidden (stderr) and shown", tail)
	}
}

func TestConsoleStopped(t *testing.T) {
	out := new(testenv.Buffer)
	cons := NewConsole(out)
	stop := runConsole(t, cons)
	l := New(Config{Stdout: cons})
	feed(t, l, Stdout, "before\n")
	stop()
	feed(t, l, Stdout, "after\n")
	if got := out.String(); got != "before\n" {
		t.Errorf("console = %q, want %q", got, "before\n")
	}
	if c := l.Counters(); c.Dropped != 1 {
		t.Errorf("Counters() = %+v, want 1 dropped after Run returned", c)
	}
}

func TestReconfigure(t *testing.T) {
	l, dir, _ := newTestLog(t, Config{})
	feed(t, l, Stdout, "one\n")
	base := t.TempDir()
	newPath := filepath.Join(base, "other", "current")
	bad := []Config{
		{File: &FileConfig{Path: "relative", Base: base}},
		{File: &FileConfig{Path: "/elsewhere/current", Base: base}},
		{File: &FileConfig{Path: newPath, Base: base, Keep: -1}},
	}
	for _, cfg := range bad {
		if err := l.Reconfigure(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Reconfigure(%+v) = %v, want ErrConfig", *cfg.File, err)
		}
	}
	feed(t, l, Stdout, "two\n")
	l.idleFile(t) // records still queued may go to either file
	must(t, l.Reconfigure(Config{File: &FileConfig{Path: newPath, Base: base, Owner: safefs.Keep}}))
	feed(t, l, Stdout, "three\n")
	l.idleFile(t)
	must(t, l.Reconfigure(Config{}))
	feed(t, l, Stdout, "four\n")
	l.idleFile(t)
	for _, tt := range []struct {
		path string
		want []string
	}{{filepath.Join(dir, "current"), []string{"one", "two"}}, {newPath, []string{"three"}}} {
		var got []string
		for _, r := range readRecords(t, tt.path) {
			_, line := untimed(t, r)
			got = append(got, line)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: lines %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestClose(t *testing.T) {
	l, dir, out := newTestLog(t, Config{})
	feed(t, l, Stdout, "kept\n")
	for i := range 2 {
		if err := l.Close(); err != nil {
			t.Errorf("Close() #%d = %v, want nil", i+1, err)
		}
	}
	feed(t, l, Stdout, "after close\n")
	if recs := readRecords(t, filepath.Join(dir, "current")); len(recs) != 1 {
		t.Errorf("records = %q, want only the one before Close", recs)
	}
	testenv.Eventually(t, 10*time.Second, "the console copy", func() bool { return out.String() == "kept\nafter close\n" })
	if c := l.Counters(); c.Lines != 2 || c.Dropped != 0 {
		t.Errorf("Counters() = %+v, want 2 lines, 0 dropped", c)
	}
}

func TestFollow(t *testing.T) {
	l := New(Config{})
	feed(t, l, Stdout, "a\nb\nc\n")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 2, func(e Entry) error {
			got <- e.Stream.String() + ":" + e.Line
			return nil
		})
	}()
	var lines []string
	for i := range 4 {
		if i == 2 {
			feed(t, l, Stderr, "d\n")
			feed(t, l, Stdout, "e\n")
		}
		select {
		case s := <-got:
			lines = append(lines, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("followed %q, then nothing", lines)
		}
	}
	if want := []string{"stdout:b", "stdout:c", "stderr:d", "stdout:e"}; fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("followed %q, want %q", lines, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow() = %v after cancel, want nil", err)
	}

	// fn's error ends Follow.
	stop := errors.New("stop")
	if err := l.Follow(context.Background(), 1, func(Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Follow() = %v, want fn's error", err)
	}
	// Close ends a Follow that waits for news: the follower's wait is the
	// event (a notify channel appears once it waits; the ones before are
	// gone).
	l.mu.Lock()
	l.wakeFollowers()
	l.mu.Unlock()
	go func() { done <- l.Follow(context.Background(), 0, func(Entry) error { return nil }) }()
	testenv.Eventually(t, 10*time.Second, "the follower to wait", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.notify != nil
	})
	l.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow() = %v after Close, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after Close")
	}
}

// TestSlowFollower checks that a follower stuck in fn does not block the
// pipeline, and that it then learns how many lines it missed.
func TestSlowFollower(t *testing.T) {
	l := New(Config{RingBytes: 1024})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	entered, release := make(chan struct{}), make(chan struct{})
	got := make(chan Entry, 1000)
	w, wait := pump(t, l, Stdout)
	fmt.Fprintf(w, "0\n")
	testenv.Eventually(t, 10*time.Second, "the first line", func() bool { return len(l.Tail(1)) == 1 })
	go l.Follow(ctx, 1, func(e Entry) error {
		if e.Line == "0" {
			close(entered)
			<-release
		}
		got <- e
		return nil
	})
	<-entered
	const n = 1000 // far more than 1 KiB of ring holds
	for i := 1; i < n; i++ {
		fmt.Fprintf(w, "%d\n", i)
	}
	wait() // the pipeline finished while the follower was stuck
	kept := len(l.Tail(n))
	close(release)
	var lines []string
	for len(lines) < 2+kept {
		select {
		case e := <-got:
			lines = append(lines, e.Line)
		case <-time.After(10 * time.Second):
			t.Fatalf("followed %q, then nothing", lines)
		}
	}
	missed := n - 1 - kept
	want := []string{"0", fmt.Sprintf("[logpipe: %d lines missed]", missed), fmt.Sprint(n - kept)}
	if fmt.Sprint(lines[:3]) != fmt.Sprint(want) || lines[len(lines)-1] != fmt.Sprint(n-1) {
		t.Errorf("followed %q…%q, want %q…%d", lines[:3], lines[len(lines)-1], want, n-1)
	}
}

func TestTail(t *testing.T) {
	l := New(Config{RingBytes: 256})
	if got := l.Tail(10); len(got) != 0 {
		t.Errorf("Tail(10) of an empty Log = %v, want none", got)
	}
	var in bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&in, "%d\n", i)
	}
	in.WriteString(strings.Repeat("z", 500) + "\n")
	feed(t, l, Stdout, in.String())
	tests := []struct {
		n    int
		want string
	}{{0, "[]"}, {-1, "[]"}, {1, "[" + strings.Repeat("z", 64) + "]"}, {3, "[98 99 " + strings.Repeat("z", 64) + "]"}}
	for _, tt := range tests {
		var got []string
		for _, e := range l.Tail(tt.n) {
			got = append(got, e.Line)
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("Tail(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	// Resizing keeps the newest entries.
	must(t, l.Reconfigure(Config{RingBytes: 1024}))
	if got := l.Tail(3); len(got) != 3 || got[0].Line != "98" {
		t.Errorf("Tail(3) after resize = %v, want 98, 99, zzz…", got)
	}
}

// TestStreamCounters: the lines of each stream are counted apart, and add
// up to Lines.
func TestStreamCounters(t *testing.T) {
	l, _, _ := newTestLog(t, Config{})
	feed(t, l, Stdout, "a\nb\nc\n")
	feed(t, l, Stderr, "x\ny\n")
	l.idleFile(t)
	got := l.Counters()
	if got.Lines != 5 || got.StdoutLines != 3 || got.StderrLines != 2 {
		t.Errorf("Counters() = %+v, want 5 lines: 3 stdout, 2 stderr", got)
	}
}
