package control_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/procstat"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// BenchmarkScrapeVsStatus measures, in one run, what init spends on a
// metrics scrape (GET /v1/metrics) and on a svc status call (GET
// /v1/services) with 100 running services, each a real process group
// (sleep), read from /proc by both. Each iteration makes one call of each,
// alternately, through the real socket, and reads the whole answer
// without decoding either (the decoding is the client's cost, not init's);
// the metric scrape/status is the ratio of their CPU time in the server
// process (the test binary, which does nothing else meanwhile).
func BenchmarkScrapeVsStatus(b *testing.B) {
	const n = 100
	uid := fixtureUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	for i := range n {
		c := exec.Command("sleep", "3600")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Process.Kill(); c.Wait() })
		sup.Put(supervise.Status{Name: fmt.Sprintf("svc%03d", i), Want: supervise.WantUp, State: supervise.Running,
			PID: c.Process.Pid, Since: controltest.Epoch(), Restarts: i % 3, UID: uid})
	}
	path := controltest.Serve(b, sup, home, controltest.Options{HermesUID: uid, HermesGID: uid, Resources: procstat.Groups})
	c := control.NewClient(path)
	ctx := context.Background()
	if list, err := c.List(ctx); err != nil || len(list) != n || list[0].Resources == nil {
		b.Fatalf("List: %d services, %v; want %d with their resources", len(list), err, n)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	get := func(p string) int64 {
		resp, err := hc.Get("http://hermes" + p)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %v %v", p, resp, err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return n
	}
	var statusBytes, scrapeBytes int64
	status := func() { statusBytes = get("/v1/services") }
	scrape := func() { scrapeBytes = get(control.MetricsPath) }
	status()
	scrape()
	var tStatus, tScrape time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := cpuTime()
		status()
		t1 := cpuTime()
		scrape()
		t2 := cpuTime()
		tStatus += t1 - t0
		tScrape += t2 - t1
	}
	b.ReportMetric(float64(tStatus.Nanoseconds())/float64(b.N), "status-cpu-ns/op")
	b.ReportMetric(float64(tScrape.Nanoseconds())/float64(b.N), "scrape-cpu-ns/op")
	b.ReportMetric(float64(tScrape)/float64(tStatus), "scrape/status")
	b.ReportMetric(float64(statusBytes), "status-bytes")
	b.ReportMetric(float64(scrapeBytes), "scrape-bytes")
}

// cpuTime is the CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
