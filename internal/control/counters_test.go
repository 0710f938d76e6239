package control

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
)

var decodeCountersTests = []struct {
	name, body string
	want       map[string]uint64 // nil: an error
}{
	{"one", `{"logins_limited":3}`, map[string]uint64{"logins_limited": 3}},
	{"empty", `{}`, map[string]uint64{}},
	{"spaces", " {\"a1_b\" : 18446744073709551615}\n", map[string]uint64{"a1_b": 1<<64 - 1}},
	{"null", `null`, nil},
	{"array", `[1]`, nil},
	{"negative", `{"a":-1}`, nil},
	{"fraction", `{"a":1.5}`, nil},
	{"overflow", `{"a":18446744073709551616}`, nil},
	{"string value", `{"a":"1"}`, nil},
	{"upper case", `{"A":1}`, nil},
	{"dash", `{"a-b":1}`, nil},
	{"leading digit", `{"1a":1}`, nil},
	{"leading underscore", `{"_a":1}`, nil},
	{"empty name", `{"":1}`, nil},
	{"long name", `{"` + strings.Repeat("a", maxCounterNameLen+1) + `":1}`, nil},
	{"longest name", `{"` + strings.Repeat("a", maxCounterNameLen) + `":1}`, map[string]uint64{strings.Repeat("a", maxCounterNameLen): 1}},
	{"trailing", `{}x`, nil},
	{"two objects", `{} {}`, nil},
	{"too many", manyCounters(MaxCountersPerSource + 1), nil},
	{"too large", `{"a":` + strings.Repeat(" ", MaxCounterBytes) + `1}`, nil},
}

func manyCounters(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"c%d":%d`, i, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestDecodeCounters(t *testing.T) {
	for _, tt := range decodeCountersTests {
		got, err := decodeCounters(strings.NewReader(tt.body))
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%s: decodeCounters = %v, want an error", tt.name, got)
		case tt.want != nil && (err != nil || !maps.Equal(got, tt.want)):
			t.Errorf("%s: decodeCounters = %v, %v; want %v", tt.name, got, err, tt.want)
		case err != nil && !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrTooLarge):
			t.Errorf("%s: error %v is neither ErrBadRequest nor ErrTooLarge", tt.name, err)
		}
	}
}

func TestPushedCounters(t *testing.T) {
	var p pushedCounters
	if err := p.set("dashboard", map[string]uint64{"a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	if err := p.set("dashboard", map[string]uint64{"a": 3}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < MaxCounterSources; i++ {
		if err := p.set(fmt.Sprintf("s%d", i), map[string]uint64{"x": 1}); err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
	}
	if err := p.set("one_too_many", map[string]uint64{}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("source %d = %v, want ErrBadRequest", MaxCounterSources+1, err)
	}
	if err := p.set("dashboard", map[string]uint64{"a": 4}); err != nil {
		t.Errorf("a known source past the bound = %v, want nil", err)
	}
	for _, bad := range []string{"", "Dash", "dash-board", "9x", strings.Repeat("a", maxSourceLen+1)} {
		if err := p.set(bad, nil); !errors.Is(err, ErrBadRequest) {
			t.Errorf("source %q = %v, want ErrBadRequest", bad, err)
		}
	}
	snap := p.snapshot()
	if snap["dashboard_a"] != 4 || len(snap) != MaxCounterSources {
		t.Errorf("snapshot = %v, want dashboard_a=4 and %d entries", snap, MaxCounterSources)
	}
	if _, ok := snap["dashboard_b"]; ok {
		t.Errorf("a report replaces the source's counters; dashboard_b is still there")
	}
}

func FuzzDecodeCounters(f *testing.F) {
	for _, tt := range decodeCountersTests {
		f.Add(tt.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := decodeCounters(strings.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decodeCounters(%q) = %v, neither ErrBadRequest nor ErrTooLarge", body, err)
			}
			return
		}
		if len(got) > MaxCountersPerSource || len(body) > MaxCounterBytes {
			t.Fatalf("decodeCounters(%q) accepted %d counters from %d bytes", body, len(got), len(body))
		}
		for name := range got {
			if !validCounterName(name, maxCounterNameLen) {
				t.Fatalf("decodeCounters(%q) accepted the name %q", body, name)
			}
		}
	})
}
