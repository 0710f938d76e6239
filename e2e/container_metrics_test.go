package e2e

// Metrics end to end (issue 16): Debian's Prometheus scrapes a running
// container's gateway and dashboard with the metrics token, and its HTTP
// API shows the series and their movement (a service killed and restarted
// by the supervisor increments its restart counter); promtool checks every
// endpoint; the resources hermes svc status reports of a service of three
// processes are what /proc says inside the container.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

const metricsToken = "e2e-metrics-token-0123456789abcdef"

// metricsWorker is a service of three processes in one group: bash and
// two sleeps.
const metricsWorker = "argv: [bash, -c, 'sleep infinity & sleep infinity & wait']\nrestart: always\n"

// scrapeWith GETs url with the bearer token and returns the status and
// body.
func scrapeWith(url, token string) (int, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// promtoolCheck runs promtool check metrics on body.
func promtoolCheck(t *testing.T, promtool, what, body string) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}

// promQuery asks Prometheus's HTTP API for query's instant vector and
// returns each series' labels and value.
func promQuery(base, query string) ([]map[string]string, []float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, nil, err
	}
	if r.Status != "success" {
		return nil, nil, fmt.Errorf("query %s: status %s", query, r.Status)
	}
	var labels []map[string]string
	var values []float64
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		labels, values = append(labels, s.Metric), append(values, v)
	}
	return labels, values, nil
}

func TestContainerPrometheus(t *testing.T) {
	prom := testenv.NeedProgram(t, "prometheus", "scrape a running container (Debian's prometheus package)")
	promtool := testenv.NeedProgram(t, "promtool", "check every metrics endpoint (Debian's prometheus package)")
	gwPort, dashPort := freePort(t), freePort(t)
	c := startContainer(t, containerOpts{
		Env: map[string]string{
			"HERMES_METRICS_TOKEN":                 metricsToken,
			"HERMES_DASHBOARD":                     "1",
			"HERMES_DASHBOARD_HOST":                "0.0.0.0",
			"HERMES_DASHBOARD_BASIC_AUTH_USERNAME": "admin",
			"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD": "e2e password for the gate",
		},
		Files: []containerFile{{Path: "/etc/hermes/services.d/worker.yaml", Content: metricsWorker}},
		Flags: []string{"-p", fmt.Sprintf("127.0.0.1:%d:%d", gwPort, gatewayPort), "-p", fmt.Sprintf("127.0.0.1:%d:%d", dashPort, 9119)},
	})
	waitReady(t, c, 60*time.Second)
	gw := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	dash := fmt.Sprintf("http://127.0.0.1:%d", dashPort)
	waitFor(t, 60*time.Second, func() error {
		for _, u := range []string{gw + "/health/ready", dash + "/api/status"} {
			if code, body, err := scrapeWith(u, ""); err != nil || code != 200 {
				return fmt.Errorf("GET %s: %d %v %.200s", u, code, err, body)
			}
		}
		return nil
	})

	// Refusals: no token, a wrong one.
	for _, u := range []string{gw + "/metrics", dash + "/metrics"} {
		for _, tok := range []string{"", "wrong-token"} {
			if code, _, err := scrapeWith(u, tok); err != nil || code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q = %d %v, want 401", u, tok, code, err)
			}
		}
	}
	// promtool on every endpoint: the gateway's, the dashboard's, init's.
	for _, u := range []string{gw + "/metrics", dash + "/metrics"} {
		code, body, err := scrapeWith(u, metricsToken)
		if err != nil || code != 200 {
			t.Fatalf("GET %s with the token = %d %v", u, code, err)
		}
		promtoolCheck(t, promtool, u, body)
	}
	promtoolCheck(t, promtool, "hermes svc metrics", mustExec(t, c, "", hermesInContainer, "svc", "metrics"))

	// Prometheus, scraping both every second with the token.
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte(metricsToken+"\n"), 0o600)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: hermes-gateway
    authorization: {type: Bearer, credentials_file: %s}
    static_configs: [{targets: ["127.0.0.1:%d"]}]
  - job_name: hermes-dashboard
    authorization: {type: Bearer, credentials_file: %s}
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, tokFile, gwPort, tokFile, dashPort)
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644)
	promPort := freePort(t)
	var promLog bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(promPort))
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", indent(promLog.String()))
		}
	})
	api := "http://127.0.0.1:" + strconv.Itoa(promPort)
	series := func(q string) (float64, error) {
		_, v, err := promQuery(api, q)
		if err != nil {
			return 0, err
		}
		if len(v) != 1 {
			return 0, fmt.Errorf("%s: %d series, want 1", q, len(v))
		}
		return v[0], nil
	}
	waitFor(t, 60*time.Second, func() error {
		for _, q := range []string{`up{job="hermes-gateway"}`, `up{job="hermes-dashboard"}`} {
			if v, err := series(q); err != nil || v != 1 {
				return fmt.Errorf("%s = %v, %v", q, v, err)
			}
		}
		return nil
	})
	for _, q := range []string{
		`hermes_service_up{job="hermes-dashboard",service="worker"}`,
		`hermes_service_wanted_up{job="hermes-dashboard",service="gateway-default"}`,
		`hermes_boot_duration_seconds{job="hermes-dashboard"}`,
		`hermes_service_memory_bytes{job="hermes-dashboard",service="worker",kind="pss"}`,
		`hermes_service_threads{job="hermes-dashboard",service="worker"}`,
		`go_goroutines{job="hermes-dashboard",component="init"}`,
		`go_goroutines{job="hermes-dashboard",component="dashboard"}`,
		`hermes_gate_rate_limited_total{job="hermes-dashboard"}`,
		`go_goroutines{job="hermes-gateway",component="gateway"}`,
		`hermes_gateway_in_flight{job="hermes-gateway"}`,
		`hermes_sessions_store_bytes{job="hermes-gateway"}`,
		`sum(hermes_gateway_requests_total{job="hermes-gateway",route="health_ready",code="200"})`,
	} {
		q := q
		waitFor(t, 30*time.Second, func() error { _, err := series(q); return err })
	}
	before, err := series(`hermes_service_restarts_total{job="hermes-dashboard",service="worker"}`)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "root", hermesInContainer, "svc", "signal", "worker", "KILL")
	waitFor(t, 60*time.Second, func() error {
		v, err := series(`hermes_service_restarts_total{job="hermes-dashboard",service="worker"}`)
		if err != nil || v <= before {
			return fmt.Errorf("worker's restarts in Prometheus: %v (before %v), %v", v, before, err)
		}
		return nil
	})
}

// TestContainerLimitsRefused: a services file naming memory_max stops the
// boot (as any invalid spec does) with one line saying limits are not
// supported yet: never run without its limit.
func TestContainerLimitsRefused(t *testing.T) {
	_, r := runContainer(t, containerOpts{
		Args:  []string{"sleep", "infinity"},
		Files: []containerFile{{Path: "/etc/hermes/services.d/limited.yaml", Content: "argv: [sleep, infinity]\nmemory_max: 256M\n"}},
	}, 60*time.Second)
	if r.Code != 1 || !strings.Contains(r.Stderr, "service limited: memory_max is not supported yet") {
		t.Errorf("a boot with memory_max: %s; want exit 1 saying memory_max is not supported yet", r)
	}
}

// TestContainerServiceResources: the resources svc status --json gives a
// service of three processes are what /proc says of its process group,
// read inside the container.
func TestContainerServiceResources(t *testing.T) {
	c := startContainer(t, containerOpts{
		Args:  []string{"sleep", "infinity"},
		Files: []containerFile{{Path: "/etc/hermes/services.d/worker.yaml", Content: metricsWorker}},
	})
	waitReady(t, c, 60*time.Second)
	type usage struct {
		Processes  int     `json:"processes"`
		CPUSeconds float64 `json:"cpu_seconds"`
		RSSBytes   uint64  `json:"rss_bytes"`
		PSSBytes   uint64  `json:"pss_bytes"`
		OpenFDs    int     `json:"open_fds"`
		Threads    int     `json:"threads"`
	}
	var got struct {
		PID       int    `json:"pid"`
		Resources *usage `json:"resources"`
	}
	waitFor(t, 30*time.Second, func() error {
		out := mustExec(t, c, "", hermesInContainer, "svc", "status", "worker", "--json")
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			return err
		}
		if got.Resources == nil || got.Resources.Processes != 3 {
			return fmt.Errorf("worker's resources %+v, want 3 processes", got.Resources)
		}
		return nil
	})
	// /proc inside the container, as the hermes user (the worker's owner,
	// who may list its fds): the group's members, their VmRSS, Threads and
	// fds.
	script := `pg=$1; rss=0; thr=0; fds=0; n=0
for d in /proc/[0-9]*; do
  read -r stat < $d/stat 2>/dev/null || continue
  rest=${stat##*) }; set -- $rest
  [ "$3" = "$pg" ] || continue
  n=$((n+1))
  r=$(awk '/^VmRSS:/{print $2}' $d/status); rss=$((rss+r*1024))
  t=$(awk '/^Threads:/{print $2}' $d/status); thr=$((thr+t))
  f=$(ls $d/fd | wc -l); fds=$((fds+f))
done
echo $n $rss $thr $fds`
	// The group's processes settle (the sleeps exec'd) within a moment:
	// the status and /proc, read one after the other, must then agree.
	waitFor(t, 30*time.Second, func() error {
		out := mustExec(t, c, "", hermesInContainer, "svc", "status", "worker", "--json")
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Resources == nil {
			return fmt.Errorf("worker's status: %v %s", err, out)
		}
		sums := strings.Fields(mustExec(t, c, "", "bash", "-c", script, "procsum", strconv.Itoa(got.PID)))
		if len(sums) != 4 {
			return fmt.Errorf("the /proc sums: %q", sums)
		}
		n, _ := strconv.Atoi(sums[0])
		rss, _ := strconv.ParseUint(sums[1], 10, 64)
		thr, _ := strconv.Atoi(sums[2])
		fds, _ := strconv.Atoi(sums[3])
		u := got.Resources
		switch {
		case u.Processes != n || u.Threads != thr || u.OpenFDs != fds:
			return fmt.Errorf("resources %+v; /proc says %d processes, %d threads, %d fds", u, n, thr, fds)
		// stat's rss and status's VmRSS are the kernel's approximate
		// counters, read apart: they differ by some pages per process.
		case math.Abs(float64(u.RSSBytes)-float64(rss)) > 0.1*float64(rss)+1<<20:
			return fmt.Errorf("rss_bytes %d; /proc says %d", u.RSSBytes, rss)
		case fds < 3*3:
			return fmt.Errorf("/proc shows %d fds for three processes: the script could not list them", fds)
		case u.PSSBytes == 0 || u.PSSBytes > u.RSSBytes:
			return fmt.Errorf("pss_bytes %d, want in (0, rss %d]", u.PSSBytes, u.RSSBytes)
		}
		return nil
	})
}

// TestContainerHealthcheck: the image's HEALTHCHECK (hermes doctor
// --quiet) turns the container unhealthy, naming the cause in docker
// inspect's health log, when a service that runs as root has failed, and
// when the main command's gateway is down.
func TestContainerHealthcheck(t *testing.T) {
	c := startContainer(t, containerOpts{
		Flags: []string{"--health-interval", "1s", "--health-start-period", "0s", "--health-retries", "1", "--health-timeout", "10s"},
		Files: []containerFile{{Path: "/etc/hermes/services.d/rootjob.yaml", Content: "argv: [sh, -c, 'exit 3']\nuser: root\nrestart: never\nno_restart_exit_codes: [3]\n"}},
	})
	waitReady(t, c, 60*time.Second)
	health := func() (string, string) {
		var h struct {
			Status string
			Log    []struct{ Output string }
		}
		json.Unmarshal([]byte(mustDocker(t, "inspect", "--format", "{{json .State.Health}}", c.Name)), &h)
		if len(h.Log) == 0 {
			return h.Status, ""
		}
		return h.Status, h.Log[len(h.Log)-1].Output
	}
	waitFor(t, 60*time.Second, func() error {
		if st, out := health(); st != "unhealthy" || !strings.Contains(out, "rootjob (root) failed") {
			return fmt.Errorf("health %s, last output %q; want unhealthy naming rootjob", st, out)
		}
		return nil
	})
	mustExec(t, c, "root", "env", "HERMES_DOCKER_EXEC_AS_ROOT=1", hermesInContainer, "svc", "rm", "rootjob")
	waitFor(t, 60*time.Second, func() error {
		if st, out := health(); st != "healthy" {
			return fmt.Errorf("health %s, last output %q; want healthy once rootjob is gone", st, out)
		}
		return nil
	})
	mustExec(t, c, "", hermesInContainer, "svc", "stop", "gateway-default")
	waitFor(t, 60*time.Second, func() error {
		if st, out := health(); st != "unhealthy" || !strings.Contains(out, "gateway-default (the main command's gateway) is down") {
			return fmt.Errorf("health %s, last output %q; want unhealthy naming gateway-default", st, out)
		}
		return nil
	})
}
