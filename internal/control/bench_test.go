package control_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/procstat"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// BenchmarkScrapeVsStatus measures, in one run, what init spends on a
// metrics scrape (GET /v1/metrics) and on a svc status call (GET
// /v1/services) with 100 running services, each a real process group
// (sleep), their resources read from /proc. Each iteration makes one call
// of each, in alternating order, through the real socket, and reads the
// whole answer without decoding either (the decoding is the client's
// cost, not init's); the metric scrape/status is the ratio of their CPU
// time in the server process (the test binary, which does nothing else
// meanwhile; the client is a child process). The scrapes share a /proc
// reading for DefaultScrapeSample, as init's do: at this benchmark's
// rate, one in a few hundred reads /proc.
func BenchmarkScrapeVsStatus(b *testing.B) { benchScrapeVsStatus(b, procstat.Groups, 0) }

// BenchmarkScrapeVsStatusCold is BenchmarkScrapeVsStatus with every
// scrape reading /proc (ScrapeSample < 0): a scrape that finds the
// sample old, against a status call; the same scan is most of both.
func BenchmarkScrapeVsStatusCold(b *testing.B) { benchScrapeVsStatus(b, procstat.Groups, -1) }

// BenchmarkScrapeVsStatusGiven is BenchmarkScrapeVsStatusCold with the
// resources given instead of read from /proc (the same figures for every
// group): what each call costs init beyond the scan they share, which in
// the cold one is nine tenths of the whole and hides the rest in its noise.
func BenchmarkScrapeVsStatusGiven(b *testing.B) {
	benchScrapeVsStatus(b, func(pgids []int) (map[int]procstat.Usage, error) {
		out := make(map[int]procstat.Usage, len(pgids))
		for _, g := range pgids {
			out[g] = procstat.Usage{Processes: 1, CPUSeconds: 0.25, RSSBytes: 1 << 20, PSSBytes: 300 << 10, OpenFDs: 3, Threads: 1}
		}
		return out, nil
	}, -1)
}

func benchScrapeVsStatus(b *testing.B, resources func([]int) (map[int]procstat.Usage, error), sample time.Duration) {
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
	path := controltest.Serve(b, sup, home, controltest.Options{HermesUID: uid, HermesGID: uid, Resources: resources, ScrapeSample: sample})
	c := control.NewClient(path)
	ctx := context.Background()
	if list, err := c.List(ctx); err != nil || len(list) != n || list[0].Resources == nil {
		b.Fatalf("List: %d services, %v; want %d with their resources", len(list), err, n)
	}
	// The client is another process (the test binary as the "client"
	// helper), so that this process's CPU time is the server's alone:
	// reading the answers (the scrape's is 2.3 times the status's) is the
	// client's cost, not init's.
	cmd := exec.Command(testenv.Executable(b))
	cmd.Env = testenv.ChildEnv("HERMES_CONTROL_TEST_HELPER=client", "HERMES_CONTROL_SOCKET="+path)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); cmd.Wait() })
	out := bufio.NewReader(outPipe)
	get := func(p string) int64 {
		fmt.Fprintln(in, p)
		line, err := out.ReadString('\n')
		if err != nil {
			b.Fatalf("the client: %v", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
		if err != nil {
			b.Fatalf("GET %s: %s", p, line)
		}
		return n
	}
	var statusBytes, scrapeBytes int64
	status := func() { statusBytes = get("/v1/services") }
	scrape := func() { scrapeBytes = get(control.MetricsPath) }
	status()
	scrape()
	var tStatus, tScrape time.Duration
	b.ResetTimer()
	// The order alternates (status then scrape, then scrape then status),
	// so that neither call always pays for the other's garbage.
	timed := func(call func()) time.Duration {
		t0 := cpuTime()
		call()
		return cpuTime() - t0
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			tStatus += timed(status)
			tScrape += timed(scrape)
		} else {
			tScrape += timed(scrape)
			tStatus += timed(status)
		}
		i++
	}
	b.ReportMetric(float64(tStatus.Nanoseconds())/float64(b.N), "status-cpu-ns/op")
	b.ReportMetric(float64(tScrape.Nanoseconds())/float64(b.N), "scrape-cpu-ns/op")
	b.ReportMetric(float64(tScrape)/float64(tStatus), "scrape/status")
	b.ReportMetric(float64(statusBytes), "status-bytes")
	b.ReportMetric(float64(scrapeBytes), "scrape-bytes")
}

// cpuTime is the CPU time of this process so far.
// benchClient is the "client" helper of BenchmarkScrapeVsStatus: for each
// path read from stdin it GETs it on the socket, reads the whole answer,
// and prints its length (or the error).
func benchClient(socket string) int {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		resp, err := hc.Get("http://hermes" + sc.Text())
		if err != nil {
			fmt.Println(err)
			continue
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Println(resp.Status)
			continue
		}
		fmt.Println(n)
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
