package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/netcap"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// dialFrom dials addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAtOnce reports whether the server closes c without a word, well
// before its header timeout.
func closedAtOnce(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err == io.EOF
}

// TestRunConnectionBounds: one address holds at most netcap.TCP.PerClient
// connections (the next is closed at accept and logged), and another
// address is served meanwhile.
func TestRunConnectionBounds(t *testing.T) {
	port := freePort(t)
	home := gatewayHome(t, port)
	logs := &testenv.Buffer{}
	r := startRun(t, Config{Profile: profiles.MustParse(home, "default"), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	r.expectStates(t, StateStarting, StateRunning)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	held := make([]net.Conn, netcap.TCP.PerClient)
	for i := range held {
		held[i] = dialFrom(t, "127.0.0.2", addr)
	}
	if !closedAtOnce(dialFrom(t, "127.0.0.2", addr)) {
		t.Errorf("connection %d of 127.0.0.2 was kept open, want it closed at accept", netcap.TCP.PerClient+1)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
		return d.DialContext(ctx, "tcp", addr)
	}}}
	resp, err := hc.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("127.0.0.3 while 127.0.0.2 holds its bound: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health from 127.0.0.3 = %s, want 200", resp.Status)
	}
	if !strings.Contains(logs.String(), "gateway default: refused a connection over the bound") || !strings.Contains(logs.String(), "client=127.0.0.2") {
		t.Errorf("the refusal was not logged:\n%s", logs.String())
	}
	// A slot that frees is taken again (once the server has seen the
	// close).
	held[0].Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c := dialFrom(t, "127.0.0.2", addr)
		io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		if strings.HasPrefix(string(b), "HTTP/1.1 200") {
			break
		}
		if len(b) > 0 || time.Now().After(deadline) {
			t.Fatalf("after one of its connections closed, 127.0.0.2 got %q, want 200", b)
		}
	}
}
