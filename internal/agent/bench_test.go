package agent

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The benchmarks compare, in the same run, a request sent to the fake
// upstream directly with the same request sent through the agent (which
// adds a hop, the key check, SOUL.md, the re-encoding and the sessions
// store), and report the added latency:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/agent/
//
// The upstream answers after a simulated generation time (0 and 20 ms: a
// real provider takes hundreds of milliseconds), so that the ratio shows
// what a client would see.

// benchClient keeps enough connections for the concurrent requests.
var benchTransport = &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}

func benchProfile(b *testing.B, delay time.Duration, store bool) *testProfile {
	p := newProfile(b, profileOpts{noDB: !store, config: "model: {base_url: BASE, name: m, api_key_env: TEST_UPSTREAM_KEY}\ngateway: {max_concurrent: 1000}\n"})
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		time.Sleep(delay)
		echo(w, req)
	})
	return p
}

// post sends body to url with key and reads the whole answer.
func post(url, key, body string) error {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchTransport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// run sends n requests with conc workers and returns their latencies and
// the rate.
func run(b *testing.B, n, conc int, do func() error) ([]time.Duration, float64) {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				if err := do(); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	slices.Sort(lat)
	return lat, rate
}

func pct(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	return float64(lat[int(float64(len(lat)-1)*p)].Microseconds())
}

// BenchmarkChatCompletions: requests per second and latency percentiles,
// directly and through the agent, non-streaming, 4 clients at once; with
// the sessions store (the real configuration) and without it (the cost
// of the hop alone).
func BenchmarkChatCompletions(b *testing.B) {
	for _, tc := range []struct {
		delay time.Duration
		store bool
	}{{0, true}, {0, false}, {20 * time.Millisecond, true}, {20 * time.Millisecond, false}} {
		b.Run(fmt.Sprintf("upstream=%s/store=%v", tc.delay, tc.store), func(b *testing.B) {
			p := benchProfile(b, tc.delay, tc.store)
			direct := p.up.base() + "/chat/completions"
			gw := p.srv.URL + "/v1/chat/completions"
			body := chatBody("hermes-coder", false, user("benchmark me"))
			// Warm the connections.
			post(direct, upstreamKey, body)
			post(gw, testKey, body)
			b.ResetTimer()
			dl, dr := run(b, b.N, 4, func() error { return post(direct, upstreamKey, body) })
			gl, gr := run(b, b.N, 4, func() error { return post(gw, testKey, body) })
			b.StopTimer()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(pct(dl, .5), "direct-p50-µs")
			b.ReportMetric(pct(gl, .5), "gw-p50-µs")
			b.ReportMetric(pct(gl, .5)-pct(dl, .5), "added-p50-µs")
			b.ReportMetric(pct(gl, .5)/max(pct(dl, .5), 1), "p50-ratio")
			b.ReportMetric(pct(dl, .99), "direct-p99-µs")
			b.ReportMetric(pct(gl, .99), "gw-p99-µs")
			b.ReportMetric(dr, "direct-req/s")
			b.ReportMetric(gr, "gw-req/s")
		})
	}
}

// openStream starts a streamed chat completion and returns the time to
// its first content event, and the answer to read on.
func openStream(url, key, body string) (time.Duration, *http.Response, *sseReader, error) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	t0 := time.Now()
	resp, err := benchTransport.RoundTrip(req)
	if err != nil {
		return 0, nil, nil, err
	}
	sse := newSSEReader(resp.Body)
	if _, err := sse.next(); err != nil {
		resp.Body.Close()
		return 0, nil, nil, err
	}
	return time.Since(t0), resp, sse, nil
}

// BenchmarkStream: time to the first streamed chunk, and the delay of
// each later chunk from the moment the upstream wrote it to the moment
// the client read it, directly and through the agent.
func BenchmarkStream(b *testing.B) {
	p := benchProfile(b, 0, true)
	const chunks = 10
	sent := make(chan time.Time, chunks)
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		startSSE(w)
		sendChunk(w, chunkJSON("first ", true, ""))
		for i := range chunks {
			time.Sleep(200 * time.Microsecond)
			sent <- time.Now()
			sendChunk(w, chunkJSON(fmt.Sprintf("w%d ", i), false, ""))
		}
		sendChunk(w, chunkJSON("", false, "stop"))
		sendChunk(w, "[DONE]")
	})
	body := chatBody("hermes-coder", true, user("stream"))
	measure := func(url, key string) (ttfb []time.Duration, delays []time.Duration) {
		for range b.N {
			d, resp, sse, err := openStream(url, key, body)
			if err != nil {
				b.Fatal(err)
			}
			ttfb = append(ttfb, d)
			for range chunks {
				if _, err := sse.next(); err != nil {
					b.Fatal(err)
				}
				delays = append(delays, time.Since(<-sent))
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		slices.Sort(ttfb)
		slices.Sort(delays)
		return ttfb, delays
	}
	b.ResetTimer()
	dt, dd := measure(p.up.base()+"/chat/completions", upstreamKey)
	gt, gd := measure(p.srv.URL+"/v1/chat/completions", testKey)
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(pct(dt, .5), "direct-ttfb-p50-µs")
	b.ReportMetric(pct(gt, .5), "gw-ttfb-p50-µs")
	b.ReportMetric(pct(gt, .5)-pct(dt, .5), "added-ttfb-p50-µs")
	b.ReportMetric(pct(dd, .5), "direct-chunk-p50-µs")
	b.ReportMetric(pct(gd, .5), "gw-chunk-p50-µs")
	b.ReportMetric(pct(gd, .99), "gw-chunk-p99-µs")
}

// BenchmarkHeap200Streams: the heap in use with 200 streams open at once
// (each waiting in the middle of its answer), directly and through the
// agent; the difference is the agent's cost per open stream.
func BenchmarkHeap200Streams(b *testing.B) {
	const streams = 200
	p := benchProfile(b, 0, true)
	release := make(chan struct{})
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		startSSE(w)
		sendChunk(w, chunkJSON("first ", true, ""))
		<-release
		sendChunk(w, chunkJSON("", false, "stop"))
		sendChunk(w, "[DONE]")
	})
	body := chatBody("hermes-coder", true, user("hold"))
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	hold := func(url, key string) uint64 {
		before := heap()
		var resps []*http.Response
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, resp, _, err := openStream(url, key, body)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				resps = append(resps, resp)
				mu.Unlock()
			}()
		}
		wg.Wait()
		during := heap()
		for range resps {
			release <- struct{}{}
		}
		for _, r := range resps {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return during - min(before, during)
	}
	var direct, gw uint64
	b.ResetTimer()
	for range b.N {
		direct = hold(p.up.base()+"/chat/completions", upstreamKey)
		gw = hold(p.srv.URL+"/v1/chat/completions", testKey)
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(direct)/(1<<20), "direct-heap-MiB")
	b.ReportMetric(float64(gw)/(1<<20), "gw-heap-MiB")
	b.ReportMetric((float64(gw)-float64(direct))/streams/1024, "gw-KiB/stream")
}
