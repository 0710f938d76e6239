package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestGateCountersReachInit: issue 9's counters. The supervised dashboard
// counts the logins its gate rate-limits and reports them to the init that
// runs it, so that GET /v1/health's counters and hermes doctor --json show
// them (dashboard_gate_rate_limited_logins), not only the dashboard's log.
func TestGateCountersReachInit(t *testing.T) {
	h := newNSHome(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := []string{"HERMES_DASHBOARD=1", "HERMES_DASHBOARD_HOST=127.0.0.1", fmt.Sprintf("HERMES_DASHBOARD_PORT=%d", port),
		// A public URL makes the loopback bind gated (CONTRACT §7).
		"HERMES_DASHBOARD_PUBLIC_URL=" + base,
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME=admin", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD=correct horse battery staple"}
	cmd := h.initCmd(subreaper, env, "sleep", "100000")
	startInit(t, cmd, nil)
	h.waitReady(t)

	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	testenv.EventuallyNil(t, 30*time.Second, "the dashboard's /api/status to answer 200", func() error {
		resp, err := client.Get(base + "/api/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	})
	limited := 0
	for i := 0; i < 15; i++ {
		resp, err := client.PostForm(base+"/auth/password-login", url.Values{"username": {"admin"}, "password": {"wrong"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("15 wrong passwords from one address: none rate-limited")
	}

	const name = "dashboard_gate_rate_limited_logins"
	// doctor exits 1 for what it finds (no gateway runs here): only its
	// JSON is read.
	counters := func(args ...string) map[string]uint64 {
		t.Helper()
		r := h.hermes(t, h.socket, nil, args...).Stdout
		var v struct{ Counters map[string]uint64 }
		if err := json.Unmarshal([]byte(r[strings.Index(r, "{"):]), &v); err != nil {
			t.Fatalf("hermes %s: %v\n%s", strings.Join(args, " "), err, r)
		}
		return v.Counters
	}
	testenv.EventuallyNil(t, 10*time.Second, fmt.Sprintf("GET /v1/health counters to show %s >= %d", name, limited), func() error {
		if got := counters("svc", "ready", "--json"); got[name] < uint64(limited) {
			return fmt.Errorf("counters %v", got)
		}
		return nil
	})
	if d := counters("doctor", "--json"); d[name] < uint64(limited) {
		t.Errorf("hermes doctor --json counters: %s = %d, want >= %d (%v)", name, d[name], limited, d)
	}
}
