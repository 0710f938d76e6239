package control

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/supervise"
)

var decodeSpecTests = []struct {
	name, path, body string
	want             *supervise.Spec // nil: an error wrapping ErrBadRequest
}{
	{"minimal", "web", `{"argv":["/bin/web"]}`, &supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}},
	{"same name", "web", `{"name":"web","argv":["a"]}`, &supervise.Spec{Name: "web", Argv: []string{"a"}}},
	{"empty name", "web", `{"name":"","argv":["a"]}`, &supervise.Spec{Name: "web", Argv: []string{"a"}}},
	{"every key", "web", `{"name":"web","argv":["a","b"],"env":{"K":"V"},"dir":"d","user":"root","restart":"always",` +
		`"stop_signal":"INT","stop_grace":"6s","no_restart_exit_codes":[78,3],"log_file":"f","log_max_bytes":5000,"log_keep":3}`,
		&supervise.Spec{Name: "web", Argv: []string{"a", "b"}, Env: map[string]string{"K": "V"}, Dir: "d", User: "root",
			Restart: supervise.RestartAlways, StopSignal: "INT", StopGrace: supervise.Duration(6 * time.Second),
			NoRestartExitCodes: []int{78, 3}, LogFile: "f", LogMaxBytes: 5000, LogKeep: 3}},
	{"surrounding space", "web", " \n{\"argv\":[\"a\"]}\n ", &supervise.Spec{Name: "web", Argv: []string{"a"}}},
	{"other name", "web", `{"name":"api","argv":["a"]}`, nil},
	{"unknown key", "web", `{"argv":["a"],"privileged":true}`, nil},
	{"misspelt key", "web", `{"args":["a"]}`, nil},
	{"trailing data", "web", `{"argv":["a"]} {"argv":["b"]}`, nil},
	{"trailing garbage", "web", `{"argv":["a"]}x`, nil},
	{"empty body", "web", ``, nil},
	{"blank body", "web", " \n", nil},
	{"not an object", "web", `["a"]`, nil},
	{"null", "web", `null`, &supervise.Spec{Name: "web"}},
	{"bad json", "web", `{"argv":`, nil},
	{"wrong type", "web", `{"argv":"a"}`, nil},
	{"bad duration", "web", `{"argv":["a"],"stop_grace":"soon"}`, nil},
}

func TestDecodeSpec(t *testing.T) {
	for _, tt := range decodeSpecTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSpec(strings.NewReader(tt.body), tt.path)
			if tt.want == nil {
				if !errors.Is(err, ErrBadRequest) {
					t.Errorf("decodeSpec(%q) = %+v, %v; want an error wrapping ErrBadRequest", tt.body, got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, *tt.want) {
				t.Errorf("decodeSpec(%q) = %+v, %v; want %+v", tt.body, got, err, *tt.want)
			}
		})
	}
}

func TestDecodeSpecTooLarge(t *testing.T) {
	body := `{"argv":["` + strings.Repeat("a", MaxBodyBytes) + `"]}`
	r := http.MaxBytesReader(httptest.NewRecorder(), nopCloser{strings.NewReader(body)}, MaxBodyBytes)
	_, err := decodeSpec(r, "web")
	if status, _ := errorStatus(err); status != http.StatusRequestEntityTooLarge {
		t.Errorf("decodeSpec(%d bytes) = %v (status %d), want 413", len(body), err, status)
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

var queryTests = []struct {
	query string
	tail  int  // -1: error
	sig   int  // -1: error
	start int8 // -1: error, 0 false, 1 true
}{
	{"", DefaultTail, -1, 1},
	{"tail=0&sig=HUP&start=false", 0, int(syscall.SIGHUP), 0},
	{"tail=5&sig=SIGTERM&start=true", 5, int(syscall.SIGTERM), 1},
	{"tail=1000000&sig=9&start=1", 1000000, 9, 1},
	{"tail=1000001&sig=65&start=yes", -1, -1, 1},
	{"tail=-1&sig=0&start=no", -1, -1, 0},
	{"tail=abc&sig=BOGUS&start=maybe", -1, -1, -1},
	{"tail=&sig=&start=", -1, -1, -1},
	{"tail= 5&sig=usr1&start=TRUE", -1, int(syscall.SIGUSR1), 1},
	{"tail=0x10&sig=sigint&start=0", -1, int(syscall.SIGINT), 0},
	{"tail=99999999999999999999&sig=%00&start=%00", -1, -1, -1},
}

func TestParseQuery(t *testing.T) {
	for _, tt := range queryTests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", tt.query, err)
		}
		tail, err := parseTail(q)
		if tt.tail < 0 {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("parseTail(%q) = %d, %v; want ErrBadRequest", tt.query, tail, err)
			}
		} else if err != nil || tail != tt.tail {
			t.Errorf("parseTail(%q) = %d, %v; want %d", tt.query, tail, err, tt.tail)
		}
		sig, err := parseSig(q)
		if tt.sig < 0 {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("parseSig(%q) = %d, %v; want ErrBadRequest", tt.query, sig, err)
			}
		} else if err != nil || int(sig) != tt.sig {
			t.Errorf("parseSig(%q) = %d, %v; want %d", tt.query, sig, err, tt.sig)
		}
		start, err := parseBool(q, "start", true)
		if tt.start < 0 {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("parseBool(%q, start) = %v, %v; want ErrBadRequest", tt.query, start, err)
			}
		} else if err != nil || start != (tt.start == 1) {
			t.Errorf("parseBool(%q, start) = %v, %v; want %v", tt.query, start, err, tt.start == 1)
		}
	}
}

func FuzzDecodeSpec(f *testing.F) {
	for _, tt := range decodeSpecTests {
		f.Add(tt.path, tt.body)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		spec, err := decodeSpec(strings.NewReader(body), name)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("decodeSpec(%q) error %v does not wrap ErrBadRequest", body, err)
			}
			if status, _ := errorStatus(err); status != http.StatusBadRequest {
				t.Fatalf("decodeSpec(%q) error %v maps to %d, want 400", body, err, status)
			}
			return
		}
		if spec.Name != name {
			t.Fatalf("decodeSpec(%q, %q).Name = %q", body, name, spec.Name)
		}
		// Whatever decodes must normalise or fail cleanly.
		if _, err := spec.Normalize("/opt/data"); err != nil && !errors.Is(err, supervise.ErrInvalid) {
			t.Fatalf("Normalize(%+v) = %v, want nil or ErrInvalid", spec, err)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, tt := range queryTests {
		f.Add(tt.query)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		if n, err := parseTail(q); err != nil && !errors.Is(err, ErrBadRequest) {
			t.Fatalf("parseTail(%q) = %v", raw, err)
		} else if err == nil && (n < 0 || n > maxTail) {
			t.Fatalf("parseTail(%q) = %d, out of range", raw, n)
		}
		if sig, err := parseSig(q); err != nil && !errors.Is(err, ErrBadRequest) {
			t.Fatalf("parseSig(%q) = %v", raw, err)
		} else if err == nil && (sig < 1 || sig > 64) {
			t.Fatalf("parseSig(%q) = %d, out of range", raw, sig)
		}
		for _, key := range []string{"start", "follow"} {
			if _, err := parseBool(q, key, true); err != nil && !errors.Is(err, ErrBadRequest) {
				t.Fatalf("parseBool(%q, %s) = %v", raw, key, err)
			}
		}
	})
}
