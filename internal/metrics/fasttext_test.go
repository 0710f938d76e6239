package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hermes-agent/hermes/internal/procstat"
)

// TestInitHandlerFastText: every series of a text scrape of init, written
// straight, is what the registry's path (a protobuf scrape) gives for the
// same state: the same families with the same help, type and labels, and
// the same values where they cannot move between two scrapes (everything
// but the Go runtime's and the process's moving figures), with a label
// value that needs escaping.
func TestInitHandlerFastText(t *testing.T) {
	list := append(sampleServices(), Service{Name: `odd"name\x`, Up: true, Usage: &procstat.Usage{CPUSeconds: 0.25, RSSBytes: 1e9}})
	boot := func() time.Duration { return 1234 * time.Millisecond }
	m := NewInit(NewServices(func() []Service { return list }, boot))
	m.Requests().Inc("GET /v1/services", 200)
	m.Requests().Inc("GET /v1/services", 200)
	m.Requests().Inc("PUT /v1/services/{name}", 403)

	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	got, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("the fast text does not parse: %v\n%s", err, rec.Body.String())
	}

	pb := httptest.NewRequest("GET", "/v1/metrics", nil)
	pb.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	rec = httptest.NewRecorder()
	m.ServeHTTP(rec, pb)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.google.protobuf") {
		t.Fatalf("protobuf: Content-Type %q", ct)
	}
	want := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(rec.Body, expfmt.ResponseFormat(rec.Header()))
	for {
		f := new(dto.MetricFamily)
		if err := dec.Decode(f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		want[f.GetName()] = f
	}
	if _, unknown := goFamilies(); len(unknown) > 0 {
		t.Errorf("client_golang's Go collector has families the text writer has no value for: %v", unknown)
	}
	for _, name := range []string{ServiceUp, ControlRequests, BootDuration, "go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds", "process_cpu_seconds_total"} {
		if want[name] == nil {
			t.Errorf("the registry's path lacks %s", name)
		}
	}
	// Figures that may differ between the two scrapes.
	moving := func(name string) bool {
		switch name {
		case "go_info", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads",
			"process_max_fds", "process_virtual_memory_max_bytes", "process_start_time_seconds":
			return false
		}
		return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("the fast text lacks %s", name)
		case g.GetType() != w.GetType() || g.GetHelp() != w.GetHelp():
			t.Errorf("%s: fast text %v %q, registry %v %q", name, g.GetType(), g.GetHelp(), w.GetType(), w.GetHelp())
		case !reflect.DeepEqual(labelSets(g), labelSets(w)):
			t.Errorf("%s: fast text's series %v, registry's %v", name, labelSets(g), labelSets(w))
		case !moving(name) && !sameFamily(g, w):
			t.Errorf("%s differs:\n fast %v\n  reg %v", name, g, w)
		}
	}
	for name := range got {
		if want[name] == nil {
			t.Errorf("the fast text has %s, the registry's path does not", name)
		}
	}
	if v := got["go_info"].GetMetric()[0]; !strings.Contains(v.String(), runtime.Version()) {
		t.Errorf("go_info %v, want version %s", v, runtime.Version())
	}
	if v := got["go_sched_gomaxprocs_threads"].GetMetric()[0].GetGauge().GetValue(); v != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads %v, want %d", v, runtime.GOMAXPROCS(0))
	}
}

// labelSets is a family's series, each as its labels, sorted.
func labelSets(f *dto.MetricFamily) []string {
	var out []string
	for _, m := range f.GetMetric() {
		var s []string
		for _, l := range m.GetLabel() {
			s = append(s, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(s)
		out = append(out, strings.Join(s, ","))
	}
	slices.Sort(out)
	return out
}

// sameFamily compares two families' type, help and samples, in any order.
func sameFamily(a, b *dto.MetricFamily) bool {
	if a.GetType() != b.GetType() || a.GetHelp() != b.GetHelp() || len(a.GetMetric()) != len(b.GetMetric()) {
		return false
	}
	key := func(m *dto.Metric) string {
		var s []string
		for _, l := range m.GetLabel() {
			s = append(s, l.GetName()+"="+l.GetValue())
		}
		return strings.Join(s, ",")
	}
	value := func(m *dto.Metric) float64 {
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Summary != nil:
			return m.GetSummary().GetSampleSum()
		}
		return -1
	}
	am := map[string]float64{}
	for _, m := range a.GetMetric() {
		am[key(m)] = value(m)
	}
	bm := map[string]float64{}
	for _, m := range b.GetMetric() {
		bm[key(m)] = value(m)
	}
	return reflect.DeepEqual(am, bm)
}

// BenchmarkInitHandler is a text scrape of init's metrics with 100
// services, their figures given (no /proc scan): the scrape's own cost,
// which BenchmarkScrapeVsStatus (internal/control) sets beside the JSON
// of a svc status call.
func BenchmarkInitHandler(b *testing.B) {
	list := make([]Service, 100)
	for i := range list {
		list[i] = Service{Name: fmt.Sprintf("svc%03d", i), Up: true, WantedUp: true, Restarts: uint64(i % 3), StdoutLines: uint64(i * 1000),
			Usage: &procstat.Usage{Processes: 1, CPUSeconds: 0.01 * float64(i), RSSBytes: 1 << 20, PSSBytes: 300 << 10, OpenFDs: 3, Threads: 1}}
	}
	h := benchHandler(func() []Service { return list })
	req := httptest.NewRequest("GET", "/v1/metrics", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(w.n)/float64(b.N), "bytes/op")
}

// discardWriter is a ResponseWriter that counts what it is given.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func benchHandler(list func() []Service) http.Handler {
	m := NewInit(NewServices(list, func() time.Duration { return time.Second }))
	for _, r := range []string{"GET /v1/services", "GET /v1/metrics", "PUT /v1/services/{name}"} {
		m.Requests().Inc(r, 200)
		m.Requests().Inc(r, 404)
	}
	return m
}
