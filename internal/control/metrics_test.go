package control_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/procstat"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func scrape(t *testing.T, c *control.Client) string {
	t.Helper()
	body, err := c.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(string(b))); err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	return string(b)
}

// TestMetrics: GET /v1/metrics shows each service, the boot, and the
// control API's requests by route pattern (never the path) and code,
// refusals included; init's runtime series carry component="init".
func TestMetrics(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{BootDuration: func() time.Duration { return 250 * time.Millisecond }})
	ctx := context.Background()
	uid := fixtureUID()
	sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: syscall.Getpgrp(), Restarts: 3, UID: uid,
		Logs: logpipe.Counters{Lines: 7, StdoutLines: 5, StderrLines: 2, Dropped: 1}})
	sup.Put(supervise.Status{Name: "idle", Want: supervise.WantDown, State: supervise.Stopped, UID: uid})
	if _, err := c.Status(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx, "nope"); err == nil {
		t.Fatal("status of a missing service succeeded")
	}
	// A refusal: a request from a browser.
	req, _ := http.NewRequest("GET", "http://hermes/v1/services", nil)
	req.Header.Set("Origin", "http://localhost")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", c.Path())
	}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a request with Origin got %d, want 403", resp.StatusCode)
	}
	got := scrape(t, c)
	for _, want := range []string{
		`hermes_service_up{service="web"} 1`,
		`hermes_service_up{service="idle"} 0`,
		`hermes_service_wanted_up{service="idle"} 0`,
		`hermes_service_restarts_total{service="web"} 3`,
		`hermes_service_log_lines_total{service="web",stream="stdout"} 5`,
		`hermes_service_log_lines_total{service="web",stream="stderr"} 2`,
		`hermes_service_log_dropped_lines_total{service="web"} 1`,
		`hermes_service_log_write_errors_total{service="web"} 0`,
		`hermes_service_memory_bytes{kind="rss",service="web"}`,
		`hermes_service_threads{service="web"}`,
		`hermes_boot_duration_seconds 0.25`,
		`hermes_control_requests_total{code="200",route="GET /v1/services/{name}"} 1`,
		`hermes_control_requests_total{code="404",route="GET /v1/services/{name}"} 1`,
		`hermes_control_requests_total{code="403",route="GET /v1/services"} 1`,
		`go_goroutines{component="init"}`,
		`process_resident_memory_bytes{component="init"}`,
	} {
		if !strings.Contains(got, want+" ") && !strings.Contains(got, want+"\n") {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	for _, bad := range []string{"/v1/services/web", "/v1/services/nope", `hermes_service_cpu_seconds_total{service="idle"}`} {
		if strings.Contains(got, bad) {
			t.Errorf("the scrape holds %q", bad)
		}
	}
}

// TestStatusResources: a service whose process runs carries its process
// group's resources in the status reads; one without a process none.
func TestStatusResources(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{})
	ctx := context.Background()
	uid := fixtureUID()
	sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: syscall.Getpgrp(), UID: uid})
	sup.Put(supervise.Status{Name: "idle", Want: supervise.WantDown, State: supervise.Stopped, UID: uid})
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		switch {
		case st.Name == "web" && (st.Resources == nil || st.Resources.Processes < 1 || st.Resources.RSSBytes == 0 || st.Resources.Threads < 1):
			t.Errorf("web's resources = %+v, want its process group's", st.Resources)
		case st.Name == "idle" && st.Resources != nil:
			t.Errorf("idle's resources = %+v, want none", st.Resources)
		}
	}
	st, err := c.Status(ctx, "web")
	if err != nil || st.Resources == nil {
		t.Errorf("Status(web) = %+v, %v; want resources", st.Resources, err)
	}
}

// TestRegisterLimitsRefused: PUT /v1/services/{name} with memory_max or
// cpu_max is a 400 saying they are not supported yet, and registers
// nothing.
func TestRegisterLimitsRefused(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", c.Path())
	}}}
	for _, body := range []string{`{"argv":["/bin/true"],"memory_max":"512M"}`, `{"argv":["/bin/true"],"cpu_max":0.5}`} {
		req, _ := http.NewRequest("PUT", "http://hermes/v1/services/limited", strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "is not supported yet") {
			t.Errorf("PUT %s = %d %s, want 400 saying not supported yet", body, resp.StatusCode, b)
		}
	}
	if _, ok := sup.Spec("limited"); ok {
		t.Error("a spec with a limit was registered")
	}
}

// TestScrapeSample: the scrapes share one /proc reading for
// ScrapeSample (a status call reads /proc each time), and read again once
// it is older, once a group that runs now was not read (a service started
// or restarted since), or at each scrape when ScrapeSample is negative.
func TestScrapeSample(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration
		calls []int // reads of /proc after each step: scrape, scrape, status, scrape after a restart, scrape
	}{
		{"shared", time.Hour, []int{1, 1, 2, 3, 3}},
		{"default", 0, []int{1, 1, 2, 3, 3}}, // DefaultScrapeSample: the steps take far less than 5 s
		{"expired", time.Nanosecond, []int{1, 2, 3, 4, 5}},
		{"none", -1, []int{1, 2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			reads := 0
			resources := func(pgids []int) (map[int]procstat.Usage, error) {
				mu.Lock()
				defer mu.Unlock()
				reads++
				out := map[int]procstat.Usage{}
				for _, g := range pgids {
					out[g] = procstat.Usage{Processes: 1, Threads: reads}
				}
				return out, nil
			}
			sup, c := newFixture(t, controltest.Options{Resources: resources, ScrapeSample: tc.age})
			uid := fixtureUID()
			sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: 4242, UID: uid})
			var got []int
			step := func(f func()) {
				f()
				mu.Lock()
				got = append(got, reads)
				mu.Unlock()
			}
			var last string
			doScrape := func() { last = scrape(t, c) }
			step(doScrape)
			step(doScrape)
			step(func() {
				if _, err := c.List(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
			sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: 4343, Restarts: 1, UID: uid})
			step(doScrape)
			if want := fmt.Sprintf(`hermes_service_threads{service="web"} %d`, got[3]); !strings.Contains(last, want) {
				t.Errorf("after the restart the scrape lacks %s (read %d times):\n%s", want, got[3], last)
			}
			if !strings.Contains(last, `hermes_service_restarts_total{service="web"} 1`) {
				t.Errorf("the restart is not counted at once")
			}
			step(doScrape)
			if fmt.Sprint(got) != fmt.Sprint(tc.calls) {
				t.Errorf("reads of /proc after each step: %v, want %v", got, tc.calls)
			}
		})
	}
}
