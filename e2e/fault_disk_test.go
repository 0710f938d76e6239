package e2e

// Scenarios 3 (full disk) and 4 (stalled console) of the fault suite.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/metrics"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size on dir (created) and unmounts it when
// the test ends.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	testenv.NeedProgram(t, "mount", "mount a small tmpfs (Debian package mount)")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// consoleTap is init's stdout as the container engine reads it: it counts
// the lines and keeps those that contain one of its markers.
type consoleTap struct {
	mu      sync.Mutex
	lines   int
	partial []byte
	marked  []string
	markers []string
	tail    []string // the last lines without a marker
}

func (c *consoleTap) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data := append(c.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := string(data[:i])
		data = data[i+1:]
		c.lines++
		if !strings.Contains(line, "full disk test") {
			c.tail = append(c.tail, line)
			if len(c.tail) > 40 {
				c.tail = c.tail[20:]
			}
		}
		for _, m := range c.markers {
			if strings.Contains(line, m) {
				c.marked = append(c.marked, line)
				if len(c.marked) > 1000 {
					c.marked = c.marked[500:]
				}
			}
		}
	}
	c.partial = append(c.partial[:0], data...)
	return len(p), nil
}

func (c *consoleTap) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

func (c *consoleTap) count(marker string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.marked {
		if strings.Contains(l, marker) {
			n++
		}
	}
	return n
}

// svcJSON is one service of hermes svc status --json.
func (f *faultRig) svcJSON(name string) supervise.Status {
	f.t.Helper()
	var list []supervise.Status
	if err := json.Unmarshal([]byte(f.must("svc", "status", "--json")), &list); err != nil {
		f.t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	f.t.Fatalf("no service %s in svc status", name)
	return supervise.Status{}
}

// logCounters are service's dropped log lines and log write errors as
// hermes svc metrics counts them (0 when a series is missing).
func (f *faultRig) logCounters(service string) (dropped, writeErrors uint64) {
	f.t.Helper()
	text := f.must("svc", "metrics")
	label := fmt.Sprintf("service=%q", service)
	d, ok := promSample(text, metrics.ServiceLogDropped, label)
	if !ok {
		f.t.Errorf("svc metrics has no %s{%s}", metrics.ServiceLogDropped, label)
	}
	e, ok := promSample(text, metrics.ServiceLogWriteErrors, label)
	if !ok {
		f.t.Errorf("svc metrics has no %s{%s}", metrics.ServiceLogWriteErrors, label)
	}
	return uint64(d), uint64(e)
}

// TestFaultFullDisk (scenario 3): logs on a 4 MiB tmpfs, HERMES_HOME on a
// 32 MiB one. A service writes 100 MB: it keeps running, its console copy
// keeps flowing, the lines that could not be written are counted (svc
// status, its --json, doctor, svc metrics), writing resumes by itself once space
// returns, and the gateway's sessions and the state files are intact. A
// HERMES_HOME full at boot is explained in one line, and never becomes a
// crash loop.
func TestFaultFullDisk(t *testing.T) {
	f := newFaultRig(t)
	mountTmpfs(t, f.h.home, "32m")
	os.Chown(f.h.home, 10000, 10000)
	logs := filepath.Join(f.h.home, "logs")
	mountTmpfs(t, logs, "4m")
	os.Chown(logs, 10000, 10000) // a mount point: boot explains, never changes, its owner
	f.h.service(t, "writer", `argv: ["sh", "-c", "yes 'a line of the full disk test, long enough to make a hundred bytes with its timestamp ......' | head -c 104857600; echo done-writing; while :; do echo tick; sleep 0.1; done"]`+"\n")
	tap := &consoleTap{markers: []string{"done-writing", "tick"}}
	t.Cleanup(func() {
		if t.Failed() {
			tap.mu.Lock()
			t.Logf("init's console, last lines:\n%s", strings.Join(tap.tail, "\n"))
			tap.mu.Unlock()
		}
	})
	r := f.boot(tap)
	gw := f.gateway("default")
	client := &http.Client{Timeout: 10 * time.Second}
	var ids []string
	start := time.Now()
	testenv.EventuallyNil(t, 120*time.Second, "the writer to have written its 100 MB", func() error {
		if tap.count("done-writing") == 0 {
			return fmt.Errorf("%d console lines so far", tap.total())
		}
		return nil
	})
	wrote := time.Since(start)
	// Session turns while the logs' disk is full.
	for i := range 5 {
		id, err := gw.respond(context.Background(), client, fmt.Sprintf("full disk turn %d", i))
		if err != nil {
			t.Fatalf("a session turn with the logs' disk full: %v", err)
		}
		ids = append(ids, id)
	}
	ticks := tap.count("tick")
	testenv.Eventually(t, 10*time.Second, "the console copy to keep flowing", func() bool { return tap.count("tick") > ticks+5 })
	st := f.svcJSON("writer")
	if st.State != supervise.Running || st.Restarts != 0 {
		t.Errorf("writer is %s after %d restarts, want running without one", st.State, st.Restarts)
	}
	if st.Logs.Dropped == 0 || st.Logs.WriteErrors == 0 {
		t.Errorf("writer's log counters %+v: want dropped lines and write errors counted", st.Logs)
	}
	text := f.must("svc", "status")
	if !strings.Contains(text, "writer: ") || !strings.Contains(text, "log lines dropped") {
		t.Errorf("svc status does not show the dropped lines:\n%s", text)
	}
	doc := f.hermes("doctor")
	if !strings.Contains(doc.Stdout+doc.Stderr, "writer dropped") {
		t.Errorf("doctor does not name the dropped lines:\n%s", doc)
	}
	// And in the metrics, read after the status: the disk is still full,
	// so the counters can only have grown since.
	mDropped, mErrors := f.logCounters("writer")
	if mDropped == 0 || mDropped < st.Logs.Dropped || mErrors < st.Logs.WriteErrors {
		t.Errorf("svc metrics count %d dropped lines and %d write errors of writer, want at least svc status's %d and %d (and more than 0)",
			mDropped, mErrors, st.Logs.Dropped, st.Logs.WriteErrors)
	}
	dropped := st.Logs.Dropped

	// Space returns: the file gets lines again by itself.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", logs).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	resumed := time.Now()
	cur := filepath.Join(logs, "writer", "current")
	testenv.EventuallyNil(t, 20*time.Second, "writer's log file to get lines again", func() error {
		b, err := os.ReadFile(cur)
		if err != nil {
			return err
		}
		if n := bytes.Count(b, []byte(" tick\n")); n < 5 {
			return fmt.Errorf("%d tick lines in current", n)
		}
		return nil
	})
	took := time.Since(resumed)
	before := f.svcJSON("writer").Logs
	testenv.Eventually(t, 5*time.Second, "a few more lines", func() bool { return f.svcJSON("writer").Logs.Lines > before.Lines+10 })
	after := f.svcJSON("writer").Logs
	if after.WriteErrors != before.WriteErrors || after.Dropped != before.Dropped {
		t.Errorf("write errors or drops still grow after space returned: %+v then %+v", before, after)
	}
	// The counters stand still now: the metrics say exactly what the
	// status says.
	if d, e := f.logCounters("writer"); d != after.Dropped || e != after.WriteErrors {
		t.Errorf("once space returned, svc metrics count %d dropped lines and %d write errors of writer, svc status %d and %d", d, e, after.Dropped, after.WriteErrors)
	}
	for _, id := range ids {
		if code, err := gw.stored(client, id); err != nil || code != 200 {
			t.Errorf("response %s stored with the logs' disk full: %d %v", id, code, err)
		}
	}
	r.stop(t)
	if bad := checkManagedFiles(t, f.h.home, testenv.Executable(t)); len(bad) > 0 {
		t.Errorf("after the full log disk: %s", strings.Join(bad, "\n"))
	}

	// HERMES_HOME full at boot (the writer is gone: its lines would drown
	// the boot's).
	os.Remove(filepath.Join(f.h.services, "writer.yaml"))
	fill := filepath.Join(f.h.home, "filler")
	out, _ := exec.Command("dd", "if=/dev/zero", "of="+fill, "bs=1M").CombinedOutput()
	if !strings.Contains(string(out), "No space left") {
		t.Fatalf("filling HERMES_HOME: %s", out)
	}
	cmd := f.h.initCmd(pidNS, f.env, "sleep", "100000")
	var boot lockedBuffer
	cmd.Stdout, cmd.Stderr = &boot, &boot
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	full := ""
	select {
	case <-done:
		full = fmt.Sprintf("init exited %d", cmd.ProcessState.ExitCode())
		t.Errorf("a full HERMES_HOME at boot: init exited %d, want it serving (svc status, doctor)", cmd.ProcessState.ExitCode())
	case <-time.After(5 * time.Second):
	}
	if full == "" {
		// The gateway cannot start: failed, once, saying why, not
		// restarted in a loop.
		var st supervise.Status
		testenv.EventuallyNil(t, 10*time.Second, "the gateway on a full HERMES_HOME to be failed", func() error {
			if st = f.svcJSON("gateway-default"); st.State != supervise.Failed {
				return fmt.Errorf("it is %s/%s after %d restarts (%s)", st.Want, st.State, st.Restarts, st.Reason)
			}
			return nil
		})
		full = fmt.Sprintf("the default gateway %s after %d restarts, reason %q", st.State, st.Restarts, st.Reason)
	}
	text = boot.String()
	t.Logf("the boot on a full HERMES_HOME said:\n%s", text)
	lines := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "no space left") {
			lines++
		}
	}
	if lines == 0 || lines > 2 || strings.Contains(text, "goroutine ") {
		t.Errorf("a full HERMES_HOME at boot: %d lines explain it (want one from init, one from the gateway, no stack trace):\n%s", lines, text)
	}
	// Space returns: the operator's start works.
	os.Remove(fill)
	f.must("gateway", "start")
	f.h.waitState(t, f.h.socket, "gateway-default", "up/running")
	syscall.Kill(initPID(t, pidNS, cmd), syscall.SIGTERM)
	<-done
	figure(t, "100 MB written in %v with the logs' 4 MiB disk full: %d lines dropped, %d write errors counted (svc status; svc metrics then %d and %d), the service never restarted, its console copy flowing; writing resumed %v after space returned; %d session turns stored; HERMES_HOME full at boot: %s, explained in %d line(s)",
		wrote.Round(time.Millisecond), dropped, st.Logs.WriteErrors, mDropped, mErrors, took.Round(time.Millisecond), len(ids), full, lines)
}

// TestFaultStalledConsole (scenario 4): nobody reads the container's
// stdout (a pipe that fills and stays full). A service writing 200,000
// lines is never blocked by it: it finishes and keeps ticking; its file
// keeps every line; what the console lost is counted.
func TestFaultStalledConsole(t *testing.T) {
	const n = 200000
	f := newFaultRig(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	f.h.service(t, "chatty", fmt.Sprintf(`argv: ["sh", "-c", "seq -f 'line %%.0f' 1 %d; echo done-writing; while :; do echo tick; sleep 0.1; done"]`+"\n", n))
	start := time.Now()
	r := f.boot(pw)
	pw.Close() // init holds its own copy; nobody reads pr
	dir := filepath.Join(f.h.home, "logs", "chatty")
	count := func(what string) int {
		ents, _ := os.ReadDir(dir)
		c := 0
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			c += bytes.Count(b, []byte(what))
		}
		return c
	}
	testenv.EventuallyNil(t, 60*time.Second, "chatty to finish writing with the console stalled", func() error {
		if count(" done-writing\n") == 0 {
			return fmt.Errorf("%d lines in its files", count(" line "))
		}
		return nil
	})
	took := time.Since(start)
	ticks := count(" tick\n")
	testenv.Eventually(t, 10*time.Second, "chatty to keep ticking", func() bool { return count(" tick\n") > ticks+5 })
	if got := count(" line "); got != n {
		t.Errorf("chatty's files hold %d of its %d lines", got, n)
	}
	st := f.svcJSON("chatty")
	if st.Logs.Dropped == 0 {
		t.Errorf("chatty's counters %+v: want the console's losses counted", st.Logs)
	}
	if st.Logs.WriteErrors != 0 {
		t.Errorf("chatty's file had write errors: %+v", st.Logs)
	}
	// The console is read again: init still shuts down in time.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := pr.Read(buf); err != nil {
				return
			}
		}
	}()
	stopStart := time.Now()
	if code := r.stop(t); code != 143 && code != 0 {
		t.Errorf("init exited %d after the stalled console", code)
	}
	figure(t, "%d lines written in %v with nobody reading stdout: all %d in the files, %d console lines counted lost, 0 write errors; init stopped %v after SIGTERM",
		n, took.Round(time.Millisecond), n, st.Logs.Dropped, time.Since(stopStart).Round(time.Millisecond))
}
