package control_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// floodConns is how many connections the other uid of TestOtherUIDBounds
// opens at once: more than MaxConnsPerUID.
const floodConns = 40

// connsHelper is the other uid of TestOtherUIDBounds. It opens floodConns
// connections that send nothing, reports how many the server closed at
// once (over the per-uid bound) and how many it held until the header
// timeout, then sends one request on a fresh connection and reports the
// answer and whether the server closed the connection after it.
func connsHelper(path string) int {
	conns := make([]net.Conn, floodConns)
	dialed := make([]time.Time, floodConns)
	for i := range conns {
		c, err := net.Dial("unix", path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			return 2
		}
		conns[i], dialed[i] = c, time.Now()
	}
	closedAfter := make([]time.Duration, floodConns)
	var refused sync.WaitGroup
	refused.Add(floodConns - control.MaxConnsPerUID)
	var all sync.WaitGroup
	var mu sync.Mutex
	quick := 0
	for i, c := range conns {
		all.Add(1)
		go func() {
			defer all.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, _ := io.Copy(io.Discard, c)
			closedAfter[i] = time.Since(dialed[i])
			if n != 0 {
				closedAfter[i] = -1 // the server wrote something: wrong
			}
			mu.Lock()
			defer mu.Unlock()
			if closedAfter[i] >= 0 && closedAfter[i] < control.HeaderTimeout/2 {
				if quick++; quick <= floodConns-control.MaxConnsPerUID {
					refused.Done()
				}
			}
		}()
	}
	refused.Wait()
	fmt.Println("holding") // the test asks for its health now
	all.Wait()
	held, atOnce := 0, 0
	for _, d := range closedAfter {
		switch {
		case d < 0:
		case d < control.HeaderTimeout/2:
			atOnce++
		case d >= control.HeaderTimeout*9/10:
			held++
		}
	}
	fmt.Printf("closed at once %d, held until the header timeout %d\n", atOnce, held)

	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 2
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /v1/health HTTP/1.1\r\nHost: hermes\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the answer:", err)
		return 2
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	// ReadResponse takes "Connection: close" out of the header into Close.
	fmt.Printf("request: %d, Connection: close %v, then %v\n", resp.StatusCode, resp.Close, err)
	return 0
}

// TestOtherUIDBounds: a uid other than root and the hermes uid holds at
// most MaxConnsPerUID connections (the others are closed at accept), those
// are closed after HeaderTimeout when they send nothing, its request gets
// 403 with Connection: close and the connection ends; root is served
// meanwhile; past RefusalsLogged refusals, they are counted, not logged.
func TestOtherUIDBounds(t *testing.T) {
	testenv.NeedRoot(t, "run a client as another uid")
	t.Parallel()
	const hermesUID, otherUID = 23456, 12345
	dir, err := os.MkdirTemp("", "hermes-conns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Executable(t)
	path := filepath.Join(dir, "sock", "control.sock")
	logs := &testenv.Buffer{}
	sup := controltest.NewSupervisor(home, hermesUID, hermesUID)
	serve(t, sup, hermesUID, path, func(c *control.Config) { c.Logger = testLogger(logs) })

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = testenv.ChildEnv("HERMES_CONTROL_TEST_HELPER=conns", "HERMES_CONTROL_SOCKET="+path, "PATH=/usr/bin:/bin")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID, Groups: []uint32{}}}
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "holding" {
		cmd.Wait()
		t.Fatalf("helper: %q, want holding\n%s", sc.Text(), stderr.String())
	}
	// Root is served while the other uid holds all it may.
	cl := control.NewClient(path)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := cl.Health(ctx)
	if err != nil {
		t.Fatalf("root's health while uid %d holds its connections: %v", otherUID, err)
	}
	if got := h.Counters["control_conns_over_uid_cap"]; got != floodConns-control.MaxConnsPerUID {
		t.Errorf("control_conns_over_uid_cap while held = %d, want %d", got, floodConns-control.MaxConnsPerUID)
	}
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	want := []string{
		fmt.Sprintf("closed at once %d, held until the header timeout %d", floodConns-control.MaxConnsPerUID, control.MaxConnsPerUID),
		"request: 403, Connection: close true, then EOF",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("the other uid saw:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	if h, err = cl.Health(ctx); err != nil {
		t.Fatal(err)
	}
	refusals := uint64(floodConns + 1) // 24 over the bound, 16 timed out, 1 403
	for name, want := range map[string]uint64{
		"control_conns_over_uid_cap":   floodConns - control.MaxConnsPerUID,
		"control_conns_over_total_cap": 0,
		"control_conns_header_timeout": control.MaxConnsPerUID,
		"control_conns_refused":        1,
		"control_refused":              1,
		"control_refusals_unlogged":    refusals - control.RefusalsLogged,
	} {
		if got := h.Counters[name]; got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if n := strings.Count(logs.String(), "\n"); n != control.RefusalsLogged {
		t.Errorf("%d lines logged for %d refusals, want %d:\n%s", n, refusals, control.RefusalsLogged, logs.String())
	}
}

// TestHeaderTimeout: a connection that sends no complete request header
// within HeaderTimeout is closed and counted, whether it sent nothing or
// part of a header; the server goes on serving.
func TestHeaderTimeout(t *testing.T) {
	t.Parallel()
	uid := fixtureUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	path := filepath.Join(t.TempDir(), "control.sock")
	serve(t, sup, uid, path, nil)
	var wg sync.WaitGroup
	for _, sent := range []string{"", "GET /v1/health HTTP/1.1\r\nHost: hermes\r\n"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			start := time.Now()
			io.WriteString(c, sent)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := io.Copy(io.Discard, c)
			took := time.Since(start)
			if err != nil || n != 0 || took < control.HeaderTimeout*9/10 {
				t.Errorf("after sending %q: read %d bytes, %v, closed after %s; want EOF after about %s", sent, n, err, took, control.HeaderTimeout)
			}
		}()
	}
	wg.Wait()
	h, err := control.NewClient(path).Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Counters["control_conns_header_timeout"]; got != 2 {
		t.Errorf("control_conns_header_timeout = %d, want 2", got)
	}
}

// TestTotalBound: root and the hermes uid may hold MaxConns+ReservedConns
// connections and no more; the one over is closed at accept and counted.
func TestTotalBound(t *testing.T) {
	t.Parallel()
	uid := fixtureUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	path := filepath.Join(t.TempDir(), "control.sock")
	serve(t, sup, uid, path, nil)
	n := control.MaxConns + control.ReservedConns + 1
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	// Every connection ends: the last at once, the others at the header
	// timeout; then the counters say which.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
		}()
	}
	wg.Wait()
	h, err := control.NewClient(path).Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{
		"control_conns_over_total_cap": 1,
		"control_conns_header_timeout": uint64(n - 1),
	} {
		if got := h.Counters[name]; got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

// testLogger logs warnings and errors as text lines into w.
func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
