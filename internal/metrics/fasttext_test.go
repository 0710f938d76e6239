package metrics

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hermes-agent/hermes/internal/procstat"
)

// TestInitHandlerFastText: the services' series written straight in the
// text format are, family by family, what the registry gives for the same
// snapshot (with a label value that needs escaping); a protobuf scraper
// gets the registry's path, with the same series.
func TestInitHandlerFastText(t *testing.T) {
	list := append(sampleServices(), Service{Name: `odd"name\x`, Up: true, Usage: &procstat.Usage{CPUSeconds: 0.25, RSSBytes: 1e9}})
	boot := func() time.Duration { return 1234 * time.Millisecond }
	reg := NewRegistry(ComponentInit)
	NewControlRequests(reg).Inc("GET /v1/services", 200)
	h := InitHandler(reg, NewServices(func() []Service { return list }, boot))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	got, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("the fast text does not parse: %v\n%s", err, rec.Body.String())
	}
	ref := prometheus.NewRegistry()
	ref.MustRegister(NewServices(func() []Service { return list }, boot))
	want, err := ref.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 12 {
		t.Fatalf("the registry gives %d service families, want 12", len(want))
	}
	for _, w := range want {
		g, ok := got[w.GetName()]
		if !ok {
			t.Errorf("the fast text lacks %s", w.GetName())
			continue
		}
		if !sameFamily(g, w) {
			t.Errorf("%s differs:\n fast %v\n  reg %v", w.GetName(), g, w)
		}
	}
	for _, name := range []string{ControlRequests, "go_goroutines"} {
		if _, ok := got[name]; !ok {
			t.Errorf("the fast text lacks the registry's %s", name)
		}
	}

	pb := httptest.NewRequest("GET", "/v1/metrics", nil)
	pb.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, pb)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.google.protobuf") || !strings.Contains(rec.Body.String(), ServiceUp) || !strings.Contains(rec.Body.String(), ControlRequests) {
		t.Errorf("protobuf: %q, %d bytes", ct, rec.Body.Len())
	}
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
