package e2e

// Scenario 6 of the fault suite: many concurrent clients of the control
// API and of a gateway.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/testenv"
)

const (
	loadClientsEnv  = "HERMES_E2E_LOAD_CLIENTS"
	loadRequestsEnv = "HERMES_E2E_LOAD_REQUESTS"
)

// loadResult is what one load run reports.
type loadResult struct {
	OK, Failed, Refused int
	Micros              []int64 // the latency of every answered request
	Errors              []string
}

// controlLoad runs clients goroutines of requests each against the
// control socket (status, one service's status, a logs tail, a follow
// for 50 ms after its first line, stop and start of the service "toy"); refusals (403) are
// counted apart.
func controlLoad(socket string, clients, requests int) loadResult {
	c := control.NewClient(socket)
	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range requests {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				var err error
				switch (i + j) % 6 {
				case 0, 1:
					_, err = c.List(ctx)
				case 2:
					_, err = c.Status(ctx, "toy")
				case 3:
					err = c.Logs(ctx, "toy", 20, false, func(control.LogLine) error { return nil })
				case 4:
					// A follow the client ends 50 ms after its first line:
					// ended so, it was served; a refusal (or nothing) before
					// any line is what it is.
					fctx, fcancel := context.WithCancel(ctx)
					var first sync.Once
					served := false
					err = c.Logs(fctx, "toy", 5, true, func(control.LogLine) error {
						first.Do(func() {
							served = true
							time.AfterFunc(50*time.Millisecond, fcancel)
						})
						return nil
					})
					if served && fctx.Err() != nil && ctx.Err() == nil {
						err = nil // the follow ended by its client, as wanted
					}
					fcancel()
				case 5:
					if j%2 == 0 {
						_, err = c.Stop(ctx, "toy")
					} else {
						_, err = c.Start(ctx, "toy")
					}
				}
				d := time.Since(start)
				cancel()
				mu.Lock()
				var ae *control.APIError
				switch {
				case err == nil:
					res.OK++
					res.Micros = append(res.Micros, d.Microseconds())
				case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
					res.Refused++
				default:
					res.Failed++
					if len(res.Errors) < 5 {
						res.Errors = append(res.Errors, fmt.Sprintf("request kind %d after %v: %v", (i+j)%6, d, err))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res
}

// loadHelper (role "load") is controlLoad as another uid; it prints its
// result as JSON.
func loadHelper(socket string) int {
	clients, _ := strconv.Atoi(os.Getenv(loadClientsEnv))
	requests, _ := strconv.Atoi(os.Getenv(loadRequestsEnv))
	json.NewEncoder(os.Stdout).Encode(controlLoad(socket, clients, requests))
	return 0
}

func (r loadResult) latencies() []time.Duration {
	ds := make([]time.Duration, len(r.Micros))
	for i, m := range r.Micros {
		ds[i] = time.Duration(m) * time.Microsecond
	}
	return ds
}

// TestFaultLoad (scenario 6): 16 control clients as root and 16 as the
// hermes uid (status, logs, follow, stop and start) beside 3 other uids
// that are refused, and gateway.max_concurrent streams plus as many more
// that must get 429 at once. The hermes uid and root are always served;
// the refusals are the other uids', counted; p50/p99 are reported; init's
// memory stays bounded and is given back.
func TestFaultLoad(t *testing.T) {
	const maxConc = 8
	clients, requests := faultPick(16, 32), faultPick(60, 500)
	f := newFaultRig(t)
	f.h.service(t, "toy", `argv: ["sh", "-c", "echo toy up; while :; do sleep 1; done"]`+"\n")
	r := f.boot(nil)
	gw := f.gateway("default", [2]string{"gateway.max_concurrent", strconv.Itoa(maxConc)})
	before, _ := readProcStats(r.pid)
	helper := testenv.Executable(t)

	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if p, err := readProcStats(r.pid); err == nil && int64(p.RSSKiB) > peak.Load() {
				peak.Store(int64(p.RSSKiB))
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	// The control API: root in this process, the hermes uid and three
	// other uids through the helper.
	var wg sync.WaitGroup
	results := map[string]loadResult{}
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		res := controlLoad(f.h.socket, clients, requests)
		mu.Lock()
		results["root"] = res
		mu.Unlock()
	}()
	for _, uid := range []int{10000, 20001, 20002, 20003} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := clients
			if uid != 10000 {
				n = 4
			}
			cmd := asUID(helper, uid, "load", f.h.socket, loadClientsEnv+"="+strconv.Itoa(n), loadRequestsEnv+"="+strconv.Itoa(requests/4))
			if uid == 10000 {
				cmd.Env = append(cmd.Env, loadRequestsEnv+"="+strconv.Itoa(requests))
			}
			out, err := cmd.Output()
			var res loadResult
			if err != nil || json.Unmarshal(out, &res) != nil {
				t.Errorf("the load of uid %d: %v %s", uid, err, out)
			}
			mu.Lock()
			results["uid "+strconv.Itoa(uid)] = res
			mu.Unlock()
		}()
	}

	// The gateway: maxConc streams held open by the upstream, then as many
	// more, which must be refused with 429 at once.
	ctx, cancel := context.WithCancel(context.Background())
	held := &sync.WaitGroup{}
	var streaming atomic.Int32
	c := &http.Client{Timeout: 60 * time.Second}
	for range maxConc {
		held.Add(1)
		go func() {
			defer held.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", gw.base+"/v1/chat/completions",
				strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"be slow"}]}`))
			req.Header.Set("Authorization", "Bearer "+gw.key)
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == 200 {
				streaming.Add(1)
				buf := make([]byte, 4096)
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						return
					}
				}
			}
		}()
	}
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%d streams to be open", maxConc), func() bool { return streaming.Load() == maxConc })
	var surplus []time.Duration
	for range maxConc {
		start := time.Now()
		code, _, err := gw.post(context.Background(), c, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"one too many"}]}`)
		surplus = append(surplus, time.Since(start))
		if err != nil || code != http.StatusTooManyRequests {
			t.Errorf("a request past gateway.max_concurrent: %d %v, want 429", code, err)
		}
	}
	cancel()
	held.Wait()
	wg.Wait()
	close(stopSampling)
	<-sampled
	if err := gw.chat(context.Background(), c, "after the load"); err != nil {
		t.Errorf("the gateway after the load: %v", err)
	}

	var parts []string
	for _, who := range []string{"root", "uid 10000", "uid 20001", "uid 20002", "uid 20003"} {
		res := results[who]
		privileged := who == "root" || who == "uid 10000"
		if privileged && (res.Failed > 0 || res.Refused > 0 || res.OK == 0) {
			t.Errorf("%s: %d answered, %d failed, %d refused; want every request served: %v", who, res.OK, res.Failed, res.Refused, res.Errors)
		}
		if !privileged && (res.OK > 0 || res.Refused+res.Failed == 0) {
			t.Errorf("%s: %d answered, want every request refused", who, res.OK)
		}
		ds := res.latencies()
		parts = append(parts, fmt.Sprintf("%s %d ok/%d refused/%d failed p50 %v p99 %v", who, res.OK, res.Refused, res.Failed,
			percentile(ds, 0.5).Round(10*time.Microsecond), percentile(ds, 0.99).Round(10*time.Microsecond)))
	}
	if p := percentile(surplus, 0.99); p > time.Second {
		t.Errorf("429s took up to %v, want them at once", p)
	}
	hl, _ := f.ctl.Health(context.Background())
	var after procStats
	testenv.EventuallyNil(t, 30*time.Second, "init's memory to be given back", func() error {
		after, _ = readProcStats(r.pid)
		if after.RSSKiB > before.RSSKiB+16<<10 || after.FDs > before.FDs {
			return fmt.Errorf("before %s, now %s (peak %d KiB)", before, after, peak.Load())
		}
		return nil
	})
	if peak.Load() > int64(before.RSSKiB)+64<<10 {
		t.Errorf("init's RSS peaked at %d KiB under load (%d before): not bounded", peak.Load(), before.RSSKiB)
	}
	figure(t, "control API, %d clients × %d requests each for root and the hermes uid, 4 × %d for each of 3 other uids: %s; refusal counters %v; gateway: %d streams at gateway.max_concurrent=%d, %d more got 429 in p50 %v p99 %v; init RSS %d KiB before, peak %d, %d after",
		clients, requests, requests/4, strings.Join(parts, "; "), refusalCounters(hl.Counters), maxConc, maxConc, maxConc,
		percentile(surplus, 0.5).Round(10*time.Microsecond), percentile(surplus, 0.99).Round(10*time.Microsecond), before.RSSKiB, peak.Load(), after.RSSKiB)
}

// refusalCounters are the control socket's refusal counters that are not 0.
func refusalCounters(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if strings.HasPrefix(k, "control_") && v > 0 {
			out[k] = v
		}
	}
	return out
}
