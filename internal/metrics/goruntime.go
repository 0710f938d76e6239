package metrics

import (
	"bytes"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// goRuntime writes a process's Go runtime series (go_*) in the text
// format straight from runtime/metrics and debug.ReadGCStats: the
// families of client_golang's Go collector with its defaults
// (collectors.NewGoCollector), which a text scrape of init would
// otherwise pay for through const metrics, a registry pass and an encoder
// per family, more than the JSON of a svc status call costs (BENCHMARKS
// §8). The families, their help and their types are client_golang's own,
// taken once from a gather of its collector (goFamilies), so that the two
// never drift apart; the values are computed as it computes them
// (memStatsFromRM in its go_collector_latest.go). TestGoRuntimeText holds
// the two to the same series.
type goRuntime struct {
	labels string // the const labels, written into each sample: component="init"

	mu      sync.Mutex // guards samples and gc, reused by every scrape
	samples []rtmetrics.Sample
	gc      debug.GCStats
}

// The runtime/metrics samples goRuntime reads, in the order of samples.
const (
	rmTinyAllocs = iota
	rmAllocsObjects
	rmFreesObjects
	rmAllocsBytes
	rmHeapObjects
	rmHeapGoal
	rmTotal
	rmHeapObjectsBytes
	rmHeapUnused
	rmHeapReleased
	rmHeapFree
	rmHeapStacks
	rmOSStacks
	rmMSpanInuse
	rmMSpanFree
	rmMCacheInuse
	rmMCacheFree
	rmProfBuckets
	rmMetadataOther
	rmOther
	rmGOGC
	rmMemLimit
	rmGOMAXPROCS
	rmCount
)

var rmNames = [rmCount]string{
	rmTinyAllocs:       "/gc/heap/tiny/allocs:objects",
	rmAllocsObjects:    "/gc/heap/allocs:objects",
	rmFreesObjects:     "/gc/heap/frees:objects",
	rmAllocsBytes:      "/gc/heap/allocs:bytes",
	rmHeapObjects:      "/gc/heap/objects:objects",
	rmHeapGoal:         "/gc/heap/goal:bytes",
	rmTotal:            "/memory/classes/total:bytes",
	rmHeapObjectsBytes: "/memory/classes/heap/objects:bytes",
	rmHeapUnused:       "/memory/classes/heap/unused:bytes",
	rmHeapReleased:     "/memory/classes/heap/released:bytes",
	rmHeapFree:         "/memory/classes/heap/free:bytes",
	rmHeapStacks:       "/memory/classes/heap/stacks:bytes",
	rmOSStacks:         "/memory/classes/os-stacks:bytes",
	rmMSpanInuse:       "/memory/classes/metadata/mspan/inuse:bytes",
	rmMSpanFree:        "/memory/classes/metadata/mspan/free:bytes",
	rmMCacheInuse:      "/memory/classes/metadata/mcache/inuse:bytes",
	rmMCacheFree:       "/memory/classes/metadata/mcache/free:bytes",
	rmProfBuckets:      "/memory/classes/profiling/buckets:bytes",
	rmMetadataOther:    "/memory/classes/metadata/other:bytes",
	rmOther:            "/memory/classes/other:bytes",
	rmGOGC:             "/gc/gogc:percent",
	rmMemLimit:         "/gc/gomemlimit:bytes",
	rmGOMAXPROCS:       "/sched/gomaxprocs:threads",
}

// goSnapshot is one reading of the runtime.
type goSnapshot struct {
	rm         [rmCount]uint64
	gc         *debug.GCStats
	goroutines int
	threads    int
}

// goValues are the values of client_golang's Go collector, by family,
// computed as it computes them (go_gc_duration_seconds, a summary, is
// writeText's own).
func goValues() map[string]func(s *goSnapshot) float64 {
	return map[string]func(s *goSnapshot) float64{
		"go_goroutines":                    func(s *goSnapshot) float64 { return float64(s.goroutines) },
		"go_threads":                       func(s *goSnapshot) float64 { return float64(s.threads) },
		"go_info":                          func(*goSnapshot) float64 { return 1 },
		"go_gc_gogc_percent":               rmValue(rmGOGC),
		"go_gc_gomemlimit_bytes":           rmValue(rmMemLimit),
		"go_sched_gomaxprocs_threads":      rmValue(rmGOMAXPROCS),
		"go_memstats_last_gc_time_seconds": func(s *goSnapshot) float64 { return float64(s.gc.LastGC.UnixNano()) / 1e9 },
		// MemStats counts tiny allocations in both mallocs and frees, so that
		// their difference is the live objects.
		"go_memstats_mallocs_total":       func(s *goSnapshot) float64 { return float64(s.rm[rmAllocsObjects] + s.rm[rmTinyAllocs]) },
		"go_memstats_frees_total":         func(s *goSnapshot) float64 { return float64(s.rm[rmFreesObjects] + s.rm[rmTinyAllocs]) },
		"go_memstats_alloc_bytes_total":   rmValue(rmAllocsBytes),
		"go_memstats_sys_bytes":           rmValue(rmTotal),
		"go_memstats_alloc_bytes":         rmValue(rmHeapObjectsBytes),
		"go_memstats_heap_alloc_bytes":    rmValue(rmHeapObjectsBytes),
		"go_memstats_heap_inuse_bytes":    rmSum(rmHeapObjectsBytes, rmHeapUnused),
		"go_memstats_heap_released_bytes": rmValue(rmHeapReleased),
		"go_memstats_heap_idle_bytes":     rmSum(rmHeapReleased, rmHeapFree),
		"go_memstats_heap_sys_bytes":      rmSum(rmHeapObjectsBytes, rmHeapUnused, rmHeapReleased, rmHeapFree),
		"go_memstats_heap_objects":        rmValue(rmHeapObjects),
		"go_memstats_stack_inuse_bytes":   rmValue(rmHeapStacks),
		"go_memstats_stack_sys_bytes":     rmSum(rmHeapStacks, rmOSStacks),
		"go_memstats_mspan_inuse_bytes":   rmValue(rmMSpanInuse),
		"go_memstats_mspan_sys_bytes":     rmSum(rmMSpanInuse, rmMSpanFree),
		"go_memstats_mcache_inuse_bytes":  rmValue(rmMCacheInuse),
		"go_memstats_mcache_sys_bytes":    rmSum(rmMCacheInuse, rmMCacheFree),
		"go_memstats_buck_hash_sys_bytes": rmValue(rmProfBuckets),
		"go_memstats_gc_sys_bytes":        rmValue(rmMetadataOther),
		"go_memstats_other_sys_bytes":     rmValue(rmOther),
		"go_memstats_next_gc_bytes":       rmValue(rmHeapGoal),
	}
}

// goGCDuration is the summary of the GC's pauses, written from
// debug.ReadGCStats as client_golang's base collector does.
const goGCDuration = "go_gc_duration_seconds"

func rmValue(i int) func(s *goSnapshot) float64 {
	return func(s *goSnapshot) float64 { return float64(s.rm[i]) }
}

func rmSum(is ...int) func(s *goSnapshot) float64 {
	return func(s *goSnapshot) float64 {
		var v uint64
		for _, i := range is {
			v += s.rm[i]
		}
		return float64(v)
	}
}

// goFamily is one family of client_golang's Go collector, as goRuntime
// writes it.
type goFamily struct {
	name   string
	header string                    // its # HELP and # TYPE lines
	labels string                    // its own labels beyond the const ones (go_info's version), as written
	value  func(*goSnapshot) float64 // nil for goGCDuration
}

// goFamilies are the families of client_golang's Go collector with its
// defaults, in its order, taken from one gather of it; unknown lists the
// families goRuntime has no value for (none: TestGoRuntimeText), which
// writeText leaves out.
var goFamilies = sync.OnceValues(func() (fams []goFamily, unknown []string) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	gathered, err := reg.Gather()
	if err != nil {
		return nil, []string{err.Error()}
	}
	values := goValues()
	for _, f := range gathered {
		name := f.GetName()
		value, ok := values[name]
		if !ok && name != goGCDuration {
			unknown = append(unknown, name)
			continue
		}
		fam := goFamily{name: name, header: textHeaderOf(name, f.GetHelp(), f.GetType()), value: value}
		if m := f.GetMetric(); len(m) == 1 {
			for _, l := range m[0].GetLabel() {
				fam.labels += "," + l.GetName() + `="` + escapeLabelValue(l.GetValue()) + `"`
			}
		}
		fams = append(fams, fam)
	}
	return fams, unknown
})

// newGoRuntime returns the writer of the Go runtime series, each labelled
// component=<component>.
func newGoRuntime(component string) *goRuntime {
	g := &goRuntime{labels: componentLabel(component)}
	g.samples = make([]rtmetrics.Sample, rmCount)
	for i := range g.samples {
		g.samples[i].Name = rmNames[i]
	}
	g.gc.PauseQuantiles = make([]time.Duration, 5)
	return g
}

// writeText writes one reading of the runtime's series.
func (g *goRuntime) writeText(w *bytes.Buffer) {
	fams, _ := goFamilies()
	g.mu.Lock()
	defer g.mu.Unlock()
	rtmetrics.Read(g.samples)
	debug.ReadGCStats(&g.gc)
	s := goSnapshot{gc: &g.gc, goroutines: runtime.NumGoroutine()}
	s.threads, _ = runtime.ThreadCreateProfile(nil)
	for i := range g.samples {
		if v := g.samples[i].Value; v.Kind() == rtmetrics.KindUint64 {
			s.rm[i] = v.Uint64()
		}
	}
	for _, f := range fams {
		w.WriteString(f.header)
		b := w.AvailableBuffer()
		if f.value == nil {
			b = g.appendGCDuration(b, f.name)
		} else {
			b = append(b, f.name...)
			b = append(b, '{')
			b = append(b, g.labels...)
			b = append(b, f.labels...)
			b = append(b, "} "...)
			b = append(appendValue(b, f.value(&s)), '\n')
		}
		w.Write(b)
	}
}

// appendGCDuration appends the summary of the GC's pauses: the minimum,
// the quartiles and the maximum, their sum and their count.
func (g *goRuntime) appendGCDuration(b []byte, name string) []byte {
	q := g.gc.PauseQuantiles
	for i, label := range [...]string{"0", "0.25", "0.5", "0.75", "1"} {
		b = append(b, name...)
		b = append(b, '{')
		b = append(b, g.labels...)
		b = append(b, `,quantile="`...)
		b = append(b, label...)
		b = append(b, `"} `...)
		b = append(strconv.AppendFloat(b, q[i].Seconds(), 'g', -1, 64), '\n')
	}
	b = append(b, name...)
	b = append(b, "_sum{"...)
	b = append(b, g.labels...)
	b = append(b, "} "...)
	b = append(strconv.AppendFloat(b, g.gc.PauseTotal.Seconds(), 'g', -1, 64), '\n')
	b = append(b, name...)
	b = append(b, "_count{"...)
	b = append(b, g.labels...)
	b = append(b, "} "...)
	return append(strconv.AppendInt(b, g.gc.NumGC, 10), '\n')
}

// textHeaderOf is a family's # HELP and # TYPE lines (the type's name
// in lower case is the text format's: counter, gauge, summary, …).
func textHeaderOf(name, help string, typ dto.MetricType) string {
	return textHeader(name, help, strings.ToLower(typ.String()))
}
