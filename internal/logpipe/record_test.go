package logpipe

import (
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	tests := []struct {
		rec       string
		ok        bool
		continued bool
		line      string
	}{
		{"2024-01-02T03:04:05.123456Z hello", true, false, "hello"},
		{"2024-01-02T03:04:05.123456Z+piece", true, true, "piece"},
		{"2024-01-02T03:04:05.123456Z ", true, false, ""},
		{"2024-01-02T03:04:05.123456Z hello\r", true, false, "hello\r"},
		{"2024-01-02T03:04:05.123456Z", false, false, ""},
		{"2024-01-02T03:04:05.123456Zxhello", false, false, ""},
		{"not a record at all, but long enough", false, false, ""},
		{"", false, false, ""},
	}
	for _, tt := range tests {
		ts, cont, line, ok := ParseRecord([]byte(tt.rec))
		if ok != tt.ok || cont != tt.continued || string(line) != tt.line || ok && !ts.Equal(at) {
			t.Errorf("ParseRecord(%q) = %v, %v, %q, %v; want %v, %q, ok=%v", tt.rec, ts, cont, line, ok, tt.continued, tt.line, tt.ok)
		}
	}
}

// FuzzParseRecord: what the file writer writes parses back to itself.
func FuzzParseRecord(f *testing.F) {
	f.Add(int64(1700000000123456), "hello", false)
	f.Add(int64(0), "", true)
	f.Fuzz(func(t *testing.T, micros int64, line string, continued bool) {
		at := time.UnixMicro(micros % 253402300799000000).UTC()
		if at.Year() < 1 || at.Year() > 9999 {
			return
		}
		sep := " "
		if continued {
			sep = "+"
		}
		rec := at.Format(tsLayout) + sep + line
		ts, cont, got, ok := ParseRecord([]byte(rec))
		if !ok || !ts.Equal(at) || cont != continued || string(got) != line {
			t.Fatalf("ParseRecord(%q) = %v, %v, %q, %v", rec, ts, cont, got, ok)
		}
		ParseRecord([]byte(line)) // never panics on anything
	})
}
