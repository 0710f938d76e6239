package e2e

// The control socket under attack: uids other than root and the hermes uid
// flood the socket of a real hermes init in a PID namespace (issue 9 item
// 4: two processes of uid 10001 with 10,500 connections each filled init's
// file descriptors, and the hermes uid's hermes svc status timed out).
// Scaled down: init runs with 640 file descriptors, and 17 uids try to hold
// 40 idle connections each (680, more than init has).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// Roles of the test binary (TestMain): a peer of the control socket.
const (
	helperEnv     = "HERMES_E2E_HELPER"
	helperSockEnv = "HERMES_E2E_SOCKET"
	helperNEnv    = "HERMES_E2E_CONNS"
)

// runHelper runs the role named by HERMES_E2E_HELPER and returns its exit
// code; ok is false when no role is named.
func runHelper() (code int, ok bool) {
	switch os.Getenv(helperEnv) {
	case "flood":
		n, _ := strconv.Atoi(os.Getenv(helperNEnv))
		return floodHelper(os.Getenv(helperSockEnv), n), true
	case "request":
		return requestHelper(os.Getenv(helperSockEnv)), true
	case "load": // fault_load_test.go
		return loadHelper(os.Getenv(helperSockEnv)), true
	case "integrity": // fault_stop_test.go
		return integrityHelper(os.Getenv(helperDBEnv)), true
	}
	return 0, false
}

// floodHelper keeps n idle connections to the socket open (sending
// nothing) until its stdin closes: a connection the server closes is
// dialled again, after a pause when it was closed at once. It prints "up"
// once n connections were dialled.
func floodHelper(path string, n int) int {
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	var wg sync.WaitGroup
	var up sync.WaitGroup
	up.Add(n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				c, err := net.Dial("unix", path)
				if first {
					first = false
					up.Done()
				}
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					continue
				}
				start := time.Now()
				ended := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(ended) }()
				select {
				case <-stop:
					c.Close()
					return
				case <-ended:
					c.Close()
				}
				if time.Since(start) < 100*time.Millisecond {
					// Closed at accept: try again later, as an attacker
					// that wants to stay would.
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		}()
	}
	up.Wait()
	fmt.Println("up")
	wg.Wait()
	return 0
}

// requestHelper sends one request and prints the status, whether the
// answer said Connection: close and what reading on gave.
func requestHelper(path string) int {
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /v1/services HTTP/1.1\r\nHost: hermes\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	io.Copy(io.Discard, resp.Body)
	_, err = br.ReadByte()
	fmt.Printf("%d close=%v then %v\n", resp.StatusCode, resp.Close, err)
	return 0
}

// asUID is a command of the test binary in role, run as uid.
func asUID(bin string, uid int, role, socket string, extra ...string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = testenv.ChildEnv(append([]string{helperEnv + "=" + role, helperSockEnv + "=" + socket, "PATH=/usr/bin:/bin"}, extra...)...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

// fdCount is how many file descriptors pid has open.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("counting the descriptors of init (pid %d): %v", pid, err)
	}
	return len(ents)
}

// TestInitControlSocketFlood: 17 other uids flooding the control socket
// hold at most 16 connections each and 256 in all; init's descriptors stay
// bounded; root and the hermes uid are served throughout; a refused peer
// gets 403 with Connection: close; init logs 10 refusals and counts the
// rest.
func TestInitControlSocketFlood(t *testing.T) {
	const (
		uids     = 17 // 17 × 16 > 256: the total bound is reached too
		perUID   = 40 // > 16: the per-uid bound is reached
		initFDs  = 640
		firstUID = 20001
	)
	h := newNSHome(t)
	bin := testenv.Executable(t)
	// As PID 1 with 640 descriptors (fewer than the 680 connections the
	// flood tries to hold).
	cmd := h.initCmd(pidNS, nil, "sh", "-c", `trap 'exit 0' TERM; while :; do sleep 0.1; done`)
	cmd.Args = append([]string{"sh", "-c", `ulimit -n ` + strconv.Itoa(initFDs) + ` && exec "$0" "$@"`}, cmd.Args...)
	cmd.Path = "/bin/sh"
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	h.waitReady(t)
	pid := initPID(t, pidNS, cmd)
	base := fdCount(t, pid)

	// A peer without rights: its 403, Connection: close, and the end of
	// the connection.
	req := asUID(bin, firstUID, "request", h.socket)
	if b, err := req.CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "403 close=true then EOF" {
		t.Errorf("a request of uid %d: %v %q, want 403 close=true then EOF", firstUID, err, b)
	}

	// Started together, then each says when its connections are dialled;
	// stopped together.
	ups := make([]*bufio.Reader, uids)
	var stdins []io.Closer
	var waits []func()
	defer func() {
		for _, c := range stdins {
			c.Close()
		}
		for _, wait := range waits {
			wait()
		}
	}()
	for i := range uids {
		f := asUID(bin, firstUID+i, "flood", h.socket, helperNEnv+"="+strconv.Itoa(perUID))
		stdin, err := f.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := f.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		f.Stderr = os.Stderr
		if err := f.Start(); err != nil {
			t.Fatal(err)
		}
		stdins = append(stdins, stdin)
		waits = append(waits, func() {
			if err := f.Wait(); err != nil {
				t.Errorf("flood of uid %d: %v", firstUID+i, err)
			}
		})
		ups[i] = bufio.NewReader(stdout)
	}
	for i, up := range ups {
		if line, _ := up.ReadString('\n'); line != "up\n" {
			t.Fatalf("flood of uid %d said %q, want up", firstUID+i, line)
		}
	}

	// The total bound has been reached, and connections that sent nothing
	// were closed at the header timeout (and dialled again), once the
	// counters say so.
	root := control.NewClient(h.socket)
	health := func() control.Health {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hl, err := root.Health(ctx)
		if err != nil {
			t.Fatalf("root's health during the flood: %v\n%s", err, out.String())
		}
		return hl
	}
	reached := func() bool {
		c := health().Counters
		return c["control_conns_over_total_cap"] > 0 && c["control_conns_header_timeout"] > 0
	}
	testenv.EventuallyNil(t, 20*time.Second, "the flood to reach the total bound and the header timeout", func() error {
		if !reached() {
			return fmt.Errorf("counters %v", health().Counters)
		}
		return nil
	})

	// Root and the hermes uid are served while the flood goes on, and
	// init's descriptors stay within the bounds.
	bound := base + control.MaxConns + control.ReservedConns
	maxFDs := 0
	for _, uid := range []int{0, 10000, 0, 10000} {
		st := exec.Command(hermesBin, "svc", "status")
		st.Env = []string{"HERMES_CONTROL_SOCKET=" + h.socket, "HERMES_HOME=" + h.home, "PATH=/usr/bin:/bin"}
		st.Dir = "/"
		st.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
		start := time.Now()
		b, err := runBounded(st, 10*time.Second)
		if err != nil {
			t.Errorf("hermes svc status as uid %d during the flood: %v\n%s", uid, err, b)
		} else {
			t.Logf("hermes svc status as uid %d during the flood: %s", uid, time.Since(start).Round(time.Millisecond))
		}
		maxFDs = max(maxFDs, fdCount(t, pid))
	}
	if maxFDs > bound {
		t.Errorf("init held %d descriptors during the flood, want at most %d (%d before + %d + %d)", maxFDs, bound, base, control.MaxConns, control.ReservedConns)
	}
	t.Logf("init's descriptors: %d before the flood, at most %d during it (bound %d)", base, maxFDs, bound)
	hl := health()
	for _, name := range []string{"control_conns_over_uid_cap", "control_conns_over_total_cap", "control_conns_header_timeout", "control_conns_refused", "control_refusals_unlogged"} {
		if hl.Counters[name] == 0 {
			t.Errorf("%s = 0 after the flood, want > 0: %v", name, hl.Counters)
		}
	}
	t.Logf("counters: %v", hl.Counters)

	// Refusals are logged 10 a minute, the rest counted.
	logged := 0
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "control: refused") || strings.Contains(l, "control: closed a connection") {
			logged++
		}
	}
	if logged > control.RefusalsLogged {
		t.Errorf("init logged %d refusals, want at most %d", logged, control.RefusalsLogged)
	}
}

// runBounded runs cmd and returns its combined output, killing it after d.
func runBounded(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var b testenv.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(b.String()), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return []byte(b.String()), fmt.Errorf("no answer within %s", d)
	}
}
