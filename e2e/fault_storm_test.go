package e2e

// Scenarios 1 (kill storm) and 7 (soak) of the fault suite.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// failures counts the failed requests of a scenario and keeps the first
// few, with when and what, for the test's report.
type failures struct {
	n     atomic.Int64
	mu    sync.Mutex
	start time.Time
	first []string
}

func newFailures() *failures { return &failures{start: time.Now()} }

// add counts one failure of what.
func (f *failures) add(what string, err error) {
	f.n.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.first) < 5 {
		f.first = append(f.first, fmt.Sprintf("at %v, %s: %v", time.Since(f.start).Round(time.Millisecond), what, err))
	}
}

func (f *failures) Load() int64 { return f.n.Load() }
func (f *failures) Store(v int64) {
	f.n.Store(v)
	f.mu.Lock()
	f.first = nil
	f.mu.Unlock()
}

// String lists the first failures.
func (f *failures) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.first, "; ")
}

// gatewayClients runs n clients that chat with the gateways in turn until
// ctx ends; ok and failed count their requests.
func gatewayClients(ctx context.Context, wg *sync.WaitGroup, n int, gws []faultGW, ok *atomic.Int64, failed *failures) {
	c := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ctx.Err() == nil; j++ {
				g := gws[(i+j)%len(gws)]
				var err error
				if j%3 == 0 {
					_, err = g.respond(ctx, c, fmt.Sprintf("turn %d of client %d", j, i))
				} else {
					err = g.chat(ctx, c, "hello")
				}
				if err == nil {
					ok.Add(1)
				} else if ctx.Err() == nil {
					failed.add(g.profile+" chat or response", err)
					select { // a gateway being restarted: try again soon
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}()
	}
}

// TestFaultKillStorm (scenario 1): SIGKILL to random service processes,
// gateways and their children at random intervals while clients talk to
// the gateways. No zombie is left, init's descriptors, threads and
// goroutines come back to their baseline, every service is back within
// its backoff, each service's restart counter is the number of times its
// process was killed, and every gateway's desired_state is what the
// operator last asked.
func TestFaultKillStorm(t *testing.T) {
	storm := faultDuration(time.Minute, 30*time.Minute)
	f := newFaultRig(t)
	// Services with children: sleep under a shell loop, and one that
	// keeps a long-lived child in the background.
	f.h.service(t, "ticker", `argv: ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]`+"\n")
	f.h.service(t, "forker", `argv: ["sh", "-c", "echo forking; sleep 100000 & while :; do sleep 0.3; done"]`+"\n")
	r := f.boot(nil)
	gws := []faultGW{f.gateway("default"), f.gateway("alpha")}
	// beta's gateway runs, then the operator stops it: it must stay
	// stopped through the storm.
	f.gateway("beta")
	f.must("-p", "beta", "gateway", "stop")
	f.h.waitState(t, f.h.socket, gateway.ServiceName("beta"), "down/stopped")
	targets := []string{"ticker", "forker", gateway.ServiceName("default"), gateway.ServiceName("alpha")}

	before, _ := f.statuses()
	warm, cancelWarm := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok atomic.Int64
	failed := newFailures()
	gatewayClients(warm, &wg, 2, gws, &ok, failed)
	testenv.Eventually(t, 10*time.Second, "the clients to be answered", func() bool { return ok.Load() >= 10 })
	cancelWarm()
	wg.Wait()
	base, err := readProcStats(r.pid)
	if err != nil {
		t.Fatal(err)
	}
	baseG := f.mustGoroutines()
	baseKinds := fdKinds(r.pid)

	ctx, cancel := context.WithCancel(context.Background())
	ok.Store(0)
	failed.Store(0)
	gatewayClients(ctx, &wg, 4, gws, &ok, failed)
	kills := map[string]int{}
	childKills := 0
	lastPID := map[string]int{}
	late := 0
	var worstLate time.Duration
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 19))
	// nextStart is the last scheduled restart seen for each service in
	// backoff: when it is next seen running, it must have started by then
	// (with a margin for the poll and a loaded machine).
	nextStart := map[string]time.Time{}
	const margin = 2 * time.Second
	check := func(st map[string]supervise.Status) {
		for _, name := range targets {
			s := st[name]
			switch {
			case s.State == supervise.Backoff && s.NextStart != nil:
				nextStart[name] = *s.NextStart
			case s.State == supervise.Running && !nextStart[name].IsZero():
				if d := s.Since.Sub(nextStart[name]); d > margin {
					late++
					worstLate = max(worstLate, d)
				}
				nextStart[name] = time.Time{}
			}
		}
	}
	end := time.Now().Add(storm)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		st, err := f.statuses()
		if err != nil {
			t.Fatalf("svc status during the storm: %v", err)
		}
		check(st)
		name := targets[rng.IntN(len(targets))]
		s := st[name]
		if s.State != supervise.Running || s.PID == 0 || s.PID == lastPID[name] {
			continue
		}
		pid := hostPID(r.pid, s.PID)
		if pid == 0 {
			continue
		}
		if rng.IntN(3) == 0 {
			// A child of the service (the gateway has none: then the
			// service itself).
			if kids := descendants(pid); len(kids) > 0 {
				if syscall.Kill(kids[rng.IntN(len(kids))], syscall.SIGKILL) == nil {
					childKills++
				}
				continue
			}
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			kills[name]++
			lastPID[name] = s.PID
		}
	}
	cancel()
	wg.Wait()

	// Everything back: every target running, each within its backoff.
	testenv.EventuallyNil(t, 45*time.Second, "every service to be running again", func() error {
		st, err := f.statuses()
		if err != nil {
			return err
		}
		check(st)
		for _, name := range targets {
			if s := st[name]; s.State != supervise.Running || s.PID == lastPID[name] {
				return fmt.Errorf("%s is %s", name, s.State)
			}
		}
		return nil
	})
	st, _ := f.statuses()
	total := 0
	for _, name := range targets {
		total += kills[name]
		if got, want := st[name].Restarts-before[name].Restarts, kills[name]; got != want {
			t.Errorf("%s: %d restarts after %d kills of its process, want them equal", name, got, want)
		}
	}
	if late > 0 {
		t.Errorf("%d restarts came more than %v after their scheduled time (worst %v)", late, margin, worstLate)
	}
	if s := st[gateway.ServiceName("beta")]; s.Want != supervise.WantDown || s.State != supervise.Stopped {
		t.Errorf("beta's gateway is %s/%s after the storm, want down/stopped as the operator asked", s.Want, s.State)
	}
	for _, p := range []string{"default", "alpha", "beta"} {
		want := gateway.DesiredRunning
		if p == "beta" {
			want = gateway.DesiredStopped
		}
		gs, err := gateway.ReadProfileState(profiles.MustParse(f.h.home, p))
		if err != nil || gs.DesiredState != want {
			t.Errorf("%s: desired_state %q (%v), want %q", p, gs.DesiredState, err, want)
		}
	}
	// Every gateway answers again: a gateway the storm killed last may
	// still be starting (its supervisor counts it running from its exec,
	// before it listens).
	for _, g := range gws {
		testenv.EventuallyNil(t, 15*time.Second, "gateway "+g.profile+" answering after the storm", func() error {
			return g.chat(context.Background(), &http.Client{Timeout: 10 * time.Second}, "after")
		})
	}

	// No zombie; init's descriptors and threads back to the baseline.
	testenv.EventuallyNil(t, 10*time.Second, "no zombie below init", func() error {
		if z := zombies(r.pid); len(z) > 0 {
			return fmt.Errorf("zombies %v", z)
		}
		return nil
	})
	var after procStats
	testenv.EventuallyNil(t, 20*time.Second, "init's descriptors back to the baseline "+base.String(), func() error {
		after, err = readProcStats(r.pid)
		if err != nil {
			return err
		}
		if after.FDs > base.FDs {
			return fmt.Errorf("now %s: %v (before: %v)", after, fdKinds(r.pid), baseKinds)
		}
		return nil
	})
	// Go keeps the threads it made; more than a few more is a leak.
	if after.Threads > base.Threads+4 {
		t.Errorf("init has %d threads after the storm, %d before", after.Threads, base.Threads)
	}
	afterG := f.waitGoroutines(baseG)
	figure(t, "%v storm: %d service kills (%v), %d child kills, %d/%d client requests answered/failed; init before %s, after %s; goroutines %d before, %d after; restarts late: %d",
		storm, total, kills, childKills, ok.Load(), failed.Load(), base, after, baseG, afterG, late)
	if total < 5 {
		t.Errorf("only %d kills in %v: the storm did not happen", total, storm)
	}
}

// mustGoroutines is init's goroutine count (hermes svc metrics); the test
// fails when the scrape does not serve it.
func (f *faultRig) mustGoroutines() int {
	f.t.Helper()
	n, ok := f.goroutines()
	if !ok {
		f.t.Fatalf("hermes svc metrics serves no go_goroutines:\n%s", f.hermes("svc", "metrics"))
	}
	return n
}

// waitGoroutines waits for init's goroutines to be back to base, and
// returns the count it saw last. Waited for: a client's connection that
// just closed, a timer's callback, end on their own. The slack of 2 is for
// those a server keeps until it next looks (a keep-alive connection's
// reader that has not seen its peer's close yet); a leak of one per kill
// or per control request would be far past it (a short storm makes some
// 40 kills, a short soak some 2,000 control requests).
func (f *faultRig) waitGoroutines(base int) int {
	f.t.Helper()
	var n int
	testenv.EventuallyNil(f.t, 20*time.Second, fmt.Sprintf("init's goroutines back to the baseline (%d)", base), func() error {
		var ok bool
		if n, ok = f.goroutines(); !ok {
			return errors.New("svc metrics serves no go_goroutines")
		}
		if n > base+2 {
			return fmt.Errorf("%d goroutines, %d before", n, base)
		}
		return nil
	})
	return n
}

// soakSample is one scrape of the soak.
type soakSample struct {
	at   time.Duration
	init procStats
	gws  []procStats
	gor  int   // init's goroutines (svc metrics)
	gwG  []int // each gateway's goroutines (its /metrics)
}

// TestFaultSoak (scenario 7): mixed traffic (chat, stored responses, svc
// status, logs, the gateways' detailed health) for 2 minutes (30 in the
// long form) with a scrape every 10 s. Afterwards init's descriptors,
// threads and goroutines are back to the baseline; the slopes of RSS,
// descriptors, threads and goroutines of init and of each gateway are
// measured, and in the long form held under a small bound.
func TestFaultSoak(t *testing.T) {
	soak := faultDuration(2*time.Minute, 30*time.Minute)
	f := newFaultRig(t)
	r := f.boot(nil)
	gws := []faultGW{f.gateway("default"), f.gateway("alpha")}
	f.statuses() // the test's one control connection, kept alive, is part of the baseline
	base, _ := readProcStats(r.pid)
	baseKinds := fdKinds(r.pid)
	baseG := f.mustGoroutines()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var answered atomic.Int64
	failed := newFailures()
	gatewayClients(ctx, &wg, 3, gws, &answered, failed)
	var ops atomic.Int64
	wg.Add(1)
	go func() { // operators: status, logs, the detailed health
		defer wg.Done()
		c := &http.Client{Timeout: 5 * time.Second}
		for ctx.Err() == nil {
			for _, args := range [][]string{{"svc", "status"}, {"logs", "-n", "20"}} {
				cmd := f.h.hermes(t, f.h.socket, nil, args...)
				if cmd.Code != 0 && ctx.Err() == nil {
					failed.add("hermes "+strings.Join(args, " "), fmt.Errorf("exit %d: %.300s", cmd.Code, cmd.Stderr))
				}
			}
			for _, g := range gws {
				req, _ := http.NewRequest("GET", g.base+"/health/detailed", nil)
				req.Header.Set("Authorization", "Bearer "+g.key)
				if resp, err := c.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			ops.Add(1)
		}
	}()

	gwPID := func(g faultGW) int {
		st, _ := f.statuses()
		return hostPID(r.pid, st[gateway.ServiceName(g.profile)].PID)
	}
	var samples []soakSample
	start := time.Now()
	scraper := &http.Client{Timeout: 5 * time.Second}
	scrape := func() {
		s := soakSample{at: time.Since(start)}
		s.init, _ = readProcStats(r.pid)
		for _, g := range gws {
			p, _ := readProcStats(gwPID(g))
			s.gws = append(s.gws, p)
			// The gateway's goroutines, as a scraper reads them.
			n, ok := g.goroutines(scraper)
			if !ok {
				failed.add(g.profile+" /metrics scrape", errors.New("no go_goroutines"))
			}
			s.gwG = append(s.gwG, n)
		}
		var ok bool
		if s.gor, ok = f.goroutines(); !ok {
			failed.add("hermes svc metrics", errors.New("no go_goroutines"))
		}
		samples = append(samples, s)
	}
	tick := time.NewTicker(10 * time.Second)
	scrape()
	for time.Since(start) < soak {
		<-tick.C
		scrape()
	}
	tick.Stop()
	cancel()
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the soak (%d answered): %s", failed.Load(), answered.Load(), failed)
	}
	var after procStats
	testenv.EventuallyNil(t, 20*time.Second, "init's descriptors back to the baseline "+base.String(), func() error {
		after, _ = readProcStats(r.pid)
		if after.FDs > base.FDs {
			return fmt.Errorf("now %s: %v (before: %v)", after, fdKinds(r.pid), baseKinds)
		}
		return nil
	})
	if after.Threads > base.Threads+4 {
		t.Errorf("init has %d threads after the soak, %d before", after.Threads, base.Threads)
	}
	afterG := f.waitGoroutines(baseG)

	// Slopes per hour, least squares over the samples after the first
	// minute (warm-up).
	slope := func(get func(soakSample) float64) float64 {
		var n, sx, sy, sxx, sxy float64
		for _, s := range samples {
			if s.at < time.Minute && soak > 5*time.Minute {
				continue
			}
			x, y := s.at.Hours(), get(s)
			n++
			sx += x
			sy += y
			sxx += x * x
			sxy += x * y
		}
		if n < 2 || n*sxx-sx*sx == 0 {
			return 0
		}
		return (n*sxy - sx*sy) / (n*sxx - sx*sx)
	}
	var b strings.Builder
	type series struct {
		name  string
		get   func(soakSample) float64
		bound float64 // per hour, long form
	}
	all := []series{
		{"init rss KiB", func(s soakSample) float64 { return float64(s.init.RSSKiB) }, 4096},
		{"init fds", func(s soakSample) float64 { return float64(s.init.FDs) }, 4},
		{"init threads", func(s soakSample) float64 { return float64(s.init.Threads) }, 4},
		{"init goroutines", func(s soakSample) float64 { return float64(s.gor) }, 8},
	}
	for i, g := range gws {
		all = append(all,
			series{g.profile + " rss KiB", func(s soakSample) float64 { return float64(s.gws[i].RSSKiB) }, 8192},
			series{g.profile + " fds", func(s soakSample) float64 { return float64(s.gws[i].FDs) }, 4},
			series{g.profile + " threads", func(s soakSample) float64 { return float64(s.gws[i].Threads) }, 4},
			series{g.profile + " goroutines", func(s soakSample) float64 { return float64(s.gwG[i]) }, 8})
	}
	for _, s := range all {
		v := slope(s.get)
		fmt.Fprintf(&b, "%s %+.1f/h; ", s.name, v)
		if faultLong() && soak >= 10*time.Minute && v > s.bound {
			t.Errorf("%s grows by %.1f per hour over %v, want under %.0f", s.name, v, soak, s.bound)
		}
	}
	last := samples[len(samples)-1]
	figure(t, "%v soak, %d scrapes, %d requests answered, %d operator rounds; init %s → %s (at rest after: %s); init goroutines %d before, %d at the end of the traffic, %d at rest after; gateways at the end %v, goroutines %v; slopes: %s",
		soak, len(samples), answered.Load(), ops.Load(), samples[0].init, last.init, after, baseG, last.gor, afterG, last.gws, last.gwG, strings.TrimSuffix(b.String(), "; "))
	if os.Getenv("HERMES_FAULTS_SAMPLES") != "" {
		for _, s := range samples {
			t.Logf("sample %s init %s gateways %v goroutines %s (gateways %v)", s.at.Round(time.Second), s.init, s.gws, strconv.Itoa(s.gor), s.gwG)
		}
	}
}
