package e2e

// Scenario 5 of the fault suite: docker restart in a loop, with traffic.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// volumeFiles lists the files of the container's volume outside logs/
// (path → size), as the hermes uid sees them.
func volumeFiles(t *testing.T, c *container) map[string]int64 {
	t.Helper()
	out := mustExec(t, c, "root", "find", "/opt/data", "-path", "/opt/data/logs", "-prune", "-o", "-type", "f", "-printf", "%P %s\n")
	m := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		p, s, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		m[p] = n
	}
	return m
}

// isSessionsFile reports whether p is a profile's state.db or its WAL
// files, which grow by the turns themselves.
func isSessionsFile(p string) bool {
	base := p[strings.LastIndex(p, "/")+1:]
	return base == profiles.FileSessions || base == profiles.FileSessionsWAL || base == profiles.FileSessionsSHM
}

// TestFaultRestartLoop (scenario 5): docker restart 10 times (50 in the
// long form) with session turns going on: every gateway that was running
// is back each time (and the one stopped stays stopped), no acknowledged
// turn is lost, and the volume grows by nothing but logs (and the turns'
// own rows in state.db).
func TestFaultRestartLoop(t *testing.T) {
	requireDocker(t)
	restarts := faultPick(10, 50)
	up := &fakeUpstream{gone: make(chan struct{})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	// The host's network, so that the gateways reach this test's upstream
	// on 127.0.0.1 and the test reaches them.
	c := startContainer(t, containerOpts{Volume: true, Args: []string{"sleep", "infinity"},
		Env: map[string]string{"FAKE_UPSTREAM_KEY": "upstream-key"}, Flags: []string{"--network", "host"}})
	waitReady(t, c, 60*time.Second)
	var gws []faultGW
	for _, p := range []string{"alpha", "beta", "gamma"} {
		mustExec(t, c, "", hermesInContainer, "profile", "create", p)
		port := quietPort(t)
		for _, kv := range [][2]string{
			{"gateway.port", fmt.Sprint(port)}, {"model.base_url", srv.URL + "/v1"},
			{"model.name", "fake-model"}, {"model.api_key_env", "FAKE_UPSTREAM_KEY"},
		} {
			mustExec(t, c, "", hermesInContainer, "-p", p, "config", "set", kv[0], kv[1])
		}
		mustExec(t, c, "", hermesInContainer, "-p", p, "gateway", "start")
		key := ""
		for _, l := range strings.Split(mustExec(t, c, "", "cat", "/opt/data/profiles/"+p+"/.env"), "\n") {
			if v, ok := strings.CutPrefix(l, profiles.APIKeyVar+"="); ok {
				key = strings.TrimSpace(v)
			}
		}
		g := faultGW{profile: p, port: port, key: key, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
		g.waitHealth(t, 30*time.Second)
		gws = append(gws, g)
	}
	mustExec(t, c, "", hermesInContainer, "-p", "gamma", "gateway", "stop")
	waitSvcState(t, c, "gateway-gamma", "down/stopped")
	running := gws[:2]

	client := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	var acked []string
	var ackedBy []faultGW
	failed := 0
	traffic := func(ctx context.Context, wg *sync.WaitGroup) {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			g := running[i%len(running)]
			id, err := g.respond(ctx, client, fmt.Sprintf("turn %d", i))
			mu.Lock()
			if err == nil {
				acked = append(acked, id)
				ackedBy = append(ackedBy, g)
			} else if ctx.Err() == nil {
				failed++
			}
			mu.Unlock()
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	first := volumeFiles(t, c)
	var backs []time.Duration
	for i := 1; i <= restarts; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go traffic(ctx, &wg)
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		mustDocker(t, "restart", "-t", "10", c.Name)
		for _, g := range running {
			g.waitHealth(t, 60*time.Second)
		}
		backs = append(backs, time.Since(start))
		cancel()
		wg.Wait()
		states := svcStatesIn(t, c)
		for _, g := range running {
			if s := states["gateway-"+g.profile]; s != "up/running" {
				t.Errorf("restart %d: gateway-%s is %q, want up/running", i, g.profile, s)
			}
		}
		if s := states["gateway-gamma"]; s != "down/stopped" {
			t.Errorf("restart %d: gateway-gamma is %q, want down/stopped as the operator asked", i, s)
		}
		// The same files outside logs/ (state.db and its WAL aside); their
		// sizes may differ by a digit (a pid, a time), never grow.
		now := volumeFiles(t, c)
		var sumFirst, sumNow int64
		for p, n := range now {
			if isSessionsFile(p) {
				continue
			}
			sumNow += n
			if _, ok := first[p]; !ok {
				t.Errorf("restart %d: %s (%d bytes) is new: the volume grows by more than logs", i, p, n)
			}
		}
		for p, n := range first {
			if isSessionsFile(p) {
				continue
			}
			sumFirst += n
			if _, ok := now[p]; !ok {
				t.Errorf("restart %d: %s is gone", i, p)
			}
		}
		if sumNow > sumFirst+int64(8*len(first)) {
			t.Errorf("restart %d: the files outside logs/ and state.db grew from %d to %d bytes", i, sumFirst, sumNow)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	lost := 0
	for i, id := range acked {
		if code, err := ackedBy[i].stored(client, id); err != nil || code != 200 {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged turn %s of %s: %d %v", id, ackedBy[i].profile, code, err)
			}
		}
	}
	sort.Slice(backs, func(i, j int) bool { return backs[i] < backs[j] })
	var db int64
	for p, n := range volumeFiles(t, c) {
		if isSessionsFile(p) {
			db += n
		}
	}
	figure(t, "%d docker restarts with traffic: %d turns acknowledged, %d lost, %d refused while down; both running gateways back every time (docker restart → both healthy: median %v, worst %v), the stopped one stayed stopped; files outside logs/ unchanged but state.db (%d bytes now)",
		restarts, len(acked), lost, failed, backs[len(backs)/2].Round(time.Millisecond), backs[len(backs)-1].Round(time.Millisecond), db)
}
