package dashboard

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/netcap"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// The loopback addresses of these tests: an attacker and a client, so that
// the per-address bound tells them apart.
const (
	attackerIP = "127.0.0.2"
	clientIP   = "127.0.0.3"
	proxyIP    = "127.0.0.4"
)

// running is a gated dashboard served by Run on a loopback port.
type runningDashboard struct {
	base   string // http://127.0.0.1:PORT
	addr   string
	srv    *Server
	socket string // the fake supervisor's control socket
	logs   *testenv.Buffer
}

// runGated serves a gated dashboard (the password provider) with Run until
// the test ends; vars are more environment variables of the gate, mod
// changes the Config.
func runGated(tb testing.TB, vars map[string]string, mod func(*Config, string)) *runningDashboard {
	tb.Helper()
	home := tb.TempDir()
	for path, content := range map[string]string{
		profiles.SOULPath(profiles.MustParse(home, profiles.Default)):   "default\n",
		profiles.ConfigPath(profiles.MustParse(home, profiles.Default)): "gateway:\n  port: 8642\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	sup := controltest.NewSupervisor(home, 10000, 10000)
	d := &runningDashboard{socket: controltest.Serve(tb, sup, home, controltest.Options{}), logs: &testenv.Buffer{}}
	env := map[string]string{
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME": testUser,
		"HERMES_DASHBOARD_BASIC_AUTH_PASSWORD": testPassword,
	}
	for k, v := range vars {
		env[k] = v
	}
	gcfg, err := authgate.FromEnv(mapEnv(env), "0.0.0.0", 9119, false)
	if err != nil {
		tb.Fatal(err)
	}
	gate, err := authgate.New(gcfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{
		Home: home, Gate: gate,
		Control: func(context.Context) *control.Client { return control.NewClient(d.socket) },
		Env:     mapEnv(nil), Logger: testLogger(d.logs),
	}
	if mod != nil {
		mod(&cfg, d.socket)
	}
	if d.srv, err = New(cfg); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	d.addr = ln.Addr().String()
	d.base = "http://" + d.addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.srv.Run(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run = %v", err)
		}
	})
	return d
}

// dialerFrom dials from the loopback address ip.
func dialerFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// signInFrom logs in with the password provider from ip and returns the
// client that holds the session (and keeps its connection alive).
func signInFrom(tb testing.TB, base, ip string) *http.Client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DialContext: dialerFrom(ip).DialContext, MaxIdleConnsPerHost: 4},
		Timeout:       10 * time.Second,
	}
	form := url.Values{"username": {testUser}, "password": {testPassword}}
	req, _ := http.NewRequest(http.MethodPost, base+"/auth/password-login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("password login from %s: %s", ip, resp.Status)
	}
	return c
}

// getOK fetches an authenticated page and fails unless it is 200.
func getOK(tb testing.TB, c *http.Client, u string) {
	resp, err := c.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %s, want 200", u, resp.Status)
	}
}

// holdIdle opens n connections from ip that send nothing and returns how
// many the server kept, once it has decided on every one (the others it
// closed at accept). They close when the test ends.
func (d *runningDashboard) holdIdle(tb testing.TB, ip string, n int) (kept int) {
	tb.Helper()
	seen := func() (all, refused uint64) {
		st := d.srv.caps.Stats()
		return st.Accepted + st.OverClient + st.OverTotal, st.OverClient + st.OverTotal
	}
	all0, refused0 := seen()
	for range n {
		c, err := dialerFrom(ip).Dial("tcp4", d.addr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
	}
	testenv.EventuallyNil(tb, 10*time.Second, "the server to decide on every connection", func() error {
		if all, _ := seen(); all-all0 < uint64(n) {
			return fmt.Errorf("it decided on %d of %d", all-all0, n)
		}
		return nil
	})
	_, refused := seen()
	return n - int(refused-refused0)
}

// TestRunConnectionBounds: one address keeps at most netcap.TCP.PerClient
// connections (the rest are closed at accept, counted and logged) while a
// signed-in client at another address is served.
func TestRunConnectionBounds(t *testing.T) {
	d := runGated(t, nil, nil)
	user := signInFrom(t, d.base, clientIP)
	if kept := d.holdIdle(t, attackerIP, 100); kept != netcap.TCP.PerClient {
		t.Errorf("%s kept %d of 100 idle connections, want %d", attackerIP, kept, netcap.TCP.PerClient)
	}
	getOK(t, user, d.base+"/api/profiles")
	if got := d.srv.Counters()["conns_over_address_cap"]; got != 100-uint64(netcap.TCP.PerClient) {
		t.Errorf("conns_over_address_cap = %d, want %d", got, 100-netcap.TCP.PerClient)
	}
	if n := strings.Count(d.logs.String(), "dashboard: refused a connection over the bound"); n != netcap.RefusalsLogged {
		t.Errorf("%d refusals logged, want %d:\n%s", n, netcap.RefusalsLogged, d.logs.String())
	}
}

// TestRunTrustedProxyNotBoundPerAddress: the clients behind a trusted
// proxy share its address, so that address is bound only in all.
func TestRunTrustedProxyNotBoundPerAddress(t *testing.T) {
	d := runGated(t, map[string]string{"HERMES_DASHBOARD_TRUSTED_PROXIES": proxyIP}, nil)
	if kept := d.holdIdle(t, proxyIP, netcap.TCP.PerClient+10); kept != netcap.TCP.PerClient+10 {
		t.Errorf("the trusted proxy kept %d of %d connections, want all", kept, netcap.TCP.PerClient+10)
	}
	if got := d.srv.Counters()["conns_over_address_cap"]; got != 0 {
		t.Errorf("conns_over_address_cap = %d, want 0", got)
	}
}

// TestRunReportsCounters: Run reports the dashboard's counters and
// Config.Counters to the supervisor whenever they change, shown in its
// health as dashboard_<name>.
func TestRunReportsCounters(t *testing.T) {
	t.Parallel()
	var limited atomic.Uint64
	limited.Store(3)
	d := runGated(t, nil, func(c *Config, socket string) {
		c.Report = control.NewClient(socket)
		c.Counters = func() map[string]uint64 { return map[string]uint64{"logins_limited": limited.Load()} }
	})
	sup := control.NewClient(d.socket)
	waitCounters := func(want map[string]uint64) {
		t.Helper()
		testenv.EventuallyNil(t, 10*time.Second, fmt.Sprintf("the supervisor's counters to hold %v", want), func() error {
			h, err := sup.Health(context.Background())
			if err != nil {
				return err
			}
			for k, v := range want {
				if h.Counters[k] != v {
					return fmt.Errorf("they are %v", h.Counters)
				}
			}
			return nil
		})
	}
	waitCounters(map[string]uint64{"dashboard_logins_limited": 3, "dashboard_conns_over_address_cap": 0})
	limited.Store(4)
	d.holdIdle(t, attackerIP, netcap.TCP.PerClient+2)
	waitCounters(map[string]uint64{"dashboard_logins_limited": 4, "dashboard_conns_over_address_cap": 2})
}

// TestRunReportsWithoutSupervisor: with no supervisor on the socket, a
// report fails quietly and Run serves and stops as ever.
func TestRunReportsWithoutSupervisor(t *testing.T) {
	t.Parallel()
	read := make(chan struct{}, 1)
	d := runGated(t, nil, func(c *Config, _ string) {
		c.Report = control.NewClient(filepath.Join(t.TempDir(), "none.sock"))
		c.Counters = func() map[string]uint64 {
			select {
			case read <- struct{}{}:
			default:
			}
			return map[string]uint64{"logins_limited": 1}
		}
	})
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("Run never read its counters to report them")
	}
	getOK(t, signInFrom(t, d.base, clientIP), d.base+"/api/profiles")
}

// BenchmarkFlood measures an authenticated request (GET /api/profiles with
// a session, from 127.0.0.3) with no attacker, while 127.0.0.2 holds 1,000
// idle connections (the server keeps 64), and while it also dials again
// every connection closed at accept after 100 ms. Run with
// go test -run '^$' -bench Flood -benchtime 2000x ./internal/dashboard/
// (BENCHMARKS.md).
func BenchmarkFlood(b *testing.B) {
	for _, mode := range []string{"quiet", "idle1000", "redial1000"} {
		b.Run(mode, func(b *testing.B) {
			d := runGated(b, nil, nil)
			user := signInFrom(b, d.base, clientIP)
			getOK(b, user, d.base+"/api/profiles")
			stop := make(chan struct{})
			var attackers sync.WaitGroup
			switch mode {
			case "idle1000":
				if kept := d.holdIdle(b, attackerIP, 1000); kept != netcap.TCP.PerClient {
					b.Fatalf("the attacker kept %d connections, want %d", kept, netcap.TCP.PerClient)
				}
			case "redial1000":
				for range 1000 {
					attackers.Add(1)
					go func() {
						defer attackers.Done()
						redial(d.addr, stop)
					}()
				}
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				getOK(b, user, d.base+"/api/profiles")
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			close(stop)
			attackers.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(d.srv.Counters()["conns_over_address_cap"]), "refused")
		})
	}
}

// redial keeps one idle connection from the attacker's address open until
// stop, dialling again 100 ms after the server closes it.
func redial(addr string, stop <-chan struct{}) {
	for {
		c, err := dialerFrom(attackerIP).Dial("tcp4", addr)
		if err == nil {
			ended := make(chan struct{})
			go func() { io.Copy(io.Discard, c); close(ended) }()
			select {
			case <-stop:
				c.Close()
				<-ended
				return
			case <-ended:
				c.Close()
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
