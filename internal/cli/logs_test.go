package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
)

func TestPrintLastAcrossArchives(t *testing.T) {
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "@1"), filepath.Join(dir, "@2"), filepath.Join(dir, "current")}
	os.WriteFile(files[0], []byte("a1\na2\n"), 0o640)
	os.WriteFile(files[1], []byte("b1\nb2\nb3\n"), 0o640)
	os.WriteFile(files[2], []byte("c1\nc2\n"), 0o640)
	tests := []struct {
		n    int
		want string
	}{
		{0, "a1\na2\nb1\nb2\nb3\nc1\nc2\n"},
		{1, "c2\n"},
		{2, "c1\nc2\n"},
		{4, "b2\nb3\nc1\nc2\n"},
		{7, "a1\na2\nb1\nb2\nb3\nc1\nc2\n"},
		{100, "a1\na2\nb1\nb2\nb3\nc1\nc2\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := printLast(&b, files, tt.n); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.want {
			t.Errorf("printLast(n=%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestLogsSinceAndJSON: hermes logs --since keeps the lines written since a
// duration or a time, across archives (all of them unless -n is given);
// --json prints one object per line.
func TestLogsSinceAndJSON(t *testing.T) {
	home := t.TempDir()
	now := time.Now().UTC()
	stamp := func(ago time.Duration) string { return now.Add(-ago).Format("2006-01-02T15:04:05.000000Z") }
	current := gateway.LogFile(home, "web")
	if err := os.MkdirAll(filepath.Dir(current), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(current), "@20000101T000000.000000Z.s"), []byte(
		stamp(3*time.Hour)+" old one\n"+stamp(2*time.Hour)+" old two\n"), 0o640)
	os.WriteFile(filepath.Join(filepath.Dir(current), "@20000101T000001.000000Z.s"), []byte(
		stamp(30*time.Minute)+" half an hour ago\n"), 0o640)
	os.WriteFile(current, []byte(stamp(5*time.Minute)+" five minutes ago\n"+stamp(5*time.Minute)+"+and its piece\n"+stamp(time.Minute)+" a minute ago\n"), 0o640)
	lines := func(out string) []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if _, text, ok := strings.Cut(l, "Z"); ok {
				got = append(got, text)
			} else {
				got = append(got, l)
			}
		}
		return got
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"logs", "web"}, []string{" old one", " old two", " half an hour ago", " five minutes ago", "+and its piece", " a minute ago"}},
		{[]string{"logs", "web", "--since", "10m"}, []string{" five minutes ago", "+and its piece", " a minute ago"}},
		{[]string{"logs", "--since", "1h", "web"}, []string{" half an hour ago", " five minutes ago", "+and its piece", " a minute ago"}},
		{[]string{"logs", "web", "--since", "1h", "-n", "1"}, []string{" a minute ago"}},
		{[]string{"logs", "web", "--since", now.Add(-150 * time.Minute).Format(time.RFC3339)}, []string{" old two", " half an hour ago", " five minutes ago", "+and its piece", " a minute ago"}},
		{[]string{"logs", "web", "--since", "0s"}, []string{""}},
		{[]string{"logs", "web", "-n", "2"}, []string{"+and its piece", " a minute ago"}},
	}
	for _, tt := range tests {
		out, errs, code := runCLI(home, tt.args...)
		if got := lines(out); code != 0 || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("hermes %s: exit %d (%s), lines %q; want %q", strings.Join(tt.args, " "), code, errs, got, tt.want)
		}
	}
	out, _, code := runCLI(home, "logs", "web", "--json", "--since", "10m")
	var recs []logRecordJSON
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var r logRecordJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("hermes logs --json: line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	if code != 0 || len(recs) != 3 || recs[0] != (logRecordJSON{Service: "web", Time: now.Add(-5 * time.Minute).Truncate(time.Microsecond).Format(time.RFC3339Nano), Line: "five minutes ago"}) ||
		!recs[1].Continued || recs[1].Line != "and its piece" || recs[2].Line != "a minute ago" {
		t.Errorf("hermes logs web --json --since 10m: exit %d, %+v", code, recs)
	}
	for _, bad := range []string{"yesterday", "-5m", "2026-13-01"} {
		out, _, code := runCLI(home, "logs", "web", "--since", bad)
		if code != 1 || !strings.HasPrefix(out, "✗ --since") || strings.Count(out, "\n") != 1 {
			t.Errorf("hermes logs --since %s: exit %d, %q; want one ✗ --since line", bad, code, out)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"10m", now.Add(-10 * time.Minute), true},
		{"1h30m", now.Add(-90 * time.Minute), true},
		{"0s", now, true},
		{"2026-01-02T15:04:05Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"2026-01-02T15:04:05+02:00", time.Date(2026, 1, 2, 13, 4, 5, 0, time.UTC), true},
		{"2026-01-02 15:04", time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC), true},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), true},
		{"-10m", time.Time{}, false},
		{"10", time.Time{}, false},
		{"", time.Time{}, false},
		{"tomorrow", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err == nil) != tt.ok || tt.ok && !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (ok=%v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"10m", "2026-01-02", "2026-01-02T15:04:05Z", "-1s", ""} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if _, derr := time.ParseDuration(s); derr == nil && err == nil && got.After(now) {
			t.Fatalf("parseSince(%q) = %v, after now (%v): a duration goes back", s, got, now)
		}
	})
}

// TestRecordWriter: --json turns records written in any pieces (as -f
// copies them) into one object per whole line; a last line without a
// newline comes out on Flush; a line without a timestamp keeps its text.
func TestRecordWriter(t *testing.T) {
	var b strings.Builder
	w := &recordWriter{w: &b, service: "web", asJSON: true}
	for _, piece := range []string{"2026-01-02T03:04:05.000006Z he", "llo\n2026-01-02T03:04:05.000007Z+more\nno stamp\n2026-01-", "02T03:04:05.000008Z last"} {
		if _, err := w.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"service":"web","time":"2026-01-02T03:04:05.000006Z","line":"hello"}
{"service":"web","time":"2026-01-02T03:04:05.000007Z","line":"more","continued":true}
{"service":"web","line":"no stamp"}
{"service":"web","time":"2026-01-02T03:04:05.000008Z","line":"last"}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	var plain strings.Builder
	pw := &recordWriter{w: &plain, service: "web"}
	pw.Write([]byte("2026-01-02T03:04:05.000006Z as it is"))
	if pw.Flush() != nil || plain.String() != "2026-01-02T03:04:05.000006Z as it is" {
		t.Errorf("without --json: %q", plain.String())
	}
}
