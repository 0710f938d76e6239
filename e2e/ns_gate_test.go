package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestGateLimitsPerNetwork: issue 9's attacks on the real binary. 50
// addresses of one IPv6 /64 got 490 guesses to the password check where
// one address gets 10. hermes dashboard binds an address of a /64 on a veth
// device in a network namespace of its own; the guesses come from 50
// addresses of that /64, ten each: ten reach the password check, the rest
// are refused with 429, while an address of another /64 still gets its own
// ten, and the right password from there signs in. And a 22 MB
// config.yaml is answered at once by the public /api/model/info, with nulls.
func TestGateLimitsPerNetwork(t *testing.T) {
	ns := newBrowserNetns(t)
	ip := testenv.NeedProgram(t, "ip", "give a network namespace IPv6 addresses (Debian package iproute2)")
	const (
		attacker = "2001:db8:1:2::" // the /64 of the guesses and of the bind
		other    = "2001:db8:1:3::1"
		bind     = attacker + "1"
		user     = "admin"
		password = "correct horse battery staple"
	)
	run := func(args ...string) {
		t.Helper()
		if out, err := ns.command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("link", "add", "h0", "type", "veth", "peer", "name", "h1")
	run("link", "set", "h0", "up")
	run("link", "set", "h1", "up")
	for i := 1; i <= 50; i++ {
		run("-6", "addr", "add", fmt.Sprintf("%s%x/64", attacker, i), "dev", "h0", "nodad")
	}
	run("-6", "addr", "add", other+"/64", "dev", "h0", "nodad")

	home, err := os.MkdirTemp("", "hermes-gate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	// And issue 9's config.yaml of 22 MB (a flat mapping: 169 s to parse),
	// which the public /api/model/info read on every request.
	var big strings.Builder
	big.WriteString("model:\n  name: m\n  base_url: https://x.example/v1\n")
	for i := 0; big.Len() < 22<<20; i++ {
		fmt.Fprintf(&big, "k%d: 1\n", i)
	}
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte(big.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := ns.command(hermesBin, "dashboard", "--host", bind, "--port", "9119", "--no-open")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HERMES_HOME=" + home,
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME=" + user, "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD=" + password}
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("dashboard output:\n%s", logs)
		}
	})

	// from is a client whose connections leave from source.
	from := func(source string) *http.Client {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
		dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.inside(func() error { c, err = d.DialContext(ctx, network, addr); return err })
			return c, err
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	base := "http://[" + bind + "]:9119"
	status := from(other)
	testenv.EventuallyNil(t, 30*time.Second, "GET "+base+"/api/status to answer 200", func() error {
		select {
		case <-exited:
			t.Fatalf("the dashboard exited before it answered:\n%s", logs)
		default:
		}
		resp, err := status.Get(base + "/api/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	})
	resp, err := status.Get(base + "/api/model/info")
	if err != nil {
		t.Fatalf("GET /api/model/info with a 22 MB config.yaml: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := strings.TrimSpace(string(b)), `{"profile":"default","model":null,"base_url_host":null}`; resp.StatusCode != 200 || got != want {
		t.Errorf("GET /api/model/info with a 22 MB config.yaml: %d %s, want 200 %s", resp.StatusCode, got, want)
	}

	login := func(c *http.Client, pw string) int {
		t.Helper()
		resp, err := c.PostForm(base+"/auth/password-login", url.Values{"username": {user}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	checked, limited := 0, 0
	for i := 1; i <= 50; i++ {
		c := from(fmt.Sprintf("%s%x", attacker, i))
		for j := 0; j < 10; j++ {
			switch code := login(c, fmt.Sprintf("guess-%d-%d", i, j)); code {
			case http.StatusUnauthorized:
				checked++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("guess %d from address %d: status %d", j, i, code)
			}
		}
		// The /64 may hold 64 connections at once (netcap): one per address.
		c.CloseIdleConnections()
	}
	if checked != 10 || limited != 490 {
		t.Errorf("50 addresses of one /64, 10 guesses each: %d reached the password check and %d were refused; want 10 and 490", checked, limited)
	}
	c := from(other)
	for j := 0; j < 9; j++ {
		if code := login(c, "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("another /64, guess %d: status %d", j, code)
		}
	}
	if code := login(c, password); code != http.StatusSeeOther {
		t.Errorf("the right password from another /64: status %d, want 303", code)
	}
}
