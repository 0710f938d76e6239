package control_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

func newFixture(t *testing.T, opts controltest.Options) (*controltest.Supervisor, *control.Client) {
	t.Helper()
	uid := fixtureUID()
	opts.HermesUID, opts.HermesGID = uid, uid
	sup := controltest.NewSupervisor(home, uid, uid).Reserve(runtimeNames)
	return sup, control.NewClient(controltest.Serve(t, sup, home, opts))
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// TestLogsFollow checks that a followed log is flushed line by line: a line
// appended after the request arrives while the request is still open.
func TestLogsFollow(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{})
	ctx := context.Background()
	if _, err := sup.Register(ctx, supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}, true); err != nil {
		t.Fatal(err)
	}
	t0 := controltest.Epoch()
	sup.AppendLog("web",
		logpipe.Entry{Time: t0, Stream: logpipe.Stdout, Line: "one"},
		logpipe.Entry{Time: t0, Stream: logpipe.Stderr, Line: "two"},
		logpipe.Entry{Time: t0, Stream: logpipe.Stdout, Line: "three"})

	fctx, cancel := context.WithCancel(ctx)
	lines := make(chan control.LogLine, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Logs(fctx, "web", 2, true, func(l control.LogLine) error { lines <- l; return nil })
	}()
	for _, want := range []string{"two", "three"} {
		if got := receive(t, lines); got.Line != want {
			t.Errorf("followed line = %q, want %q", got.Line, want)
		}
	}
	sup.AppendLog("web", logpipe.Entry{Time: t0.Add(time.Second), Stream: logpipe.Stderr, Line: "four", Continued: true})
	got := receive(t, lines)
	want := control.LogLine{Time: t0.Add(time.Second), Stream: "stderr", Line: "four", Continued: true}
	if got != want {
		t.Errorf("new line = %+v, want %+v", got, want)
	}
	cancel()
	if err := receive(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Logs after cancel = %v, want context.Canceled", err)
	}
}

// TestEvents checks the SSE stream: one event per status change, in the
// order of the changes, and the heartbeat comment.
func TestEvents(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{Heartbeat: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan supervise.Status, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Events(ctx, func(st supervise.Status) error { events <- st; return nil })
	}()
	testenv.Eventually(t, 10*time.Second, "the stream to subscribe", func() bool { return sup.Subscribers() == 1 })

	if _, err := sup.Register(ctx, supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := sup.Start(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []supervise.State{supervise.Stopped, supervise.Running} {
		if st := receive(t, events); st.Name != "web" || st.State != want {
			t.Errorf("event = %s %s, want web %s", st.Name, st.State, want)
		}
	}
	cancel()
	if err := receive(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Events after cancel = %v, want context.Canceled", err)
	}
	testenv.Eventually(t, 10*time.Second, "the stream to unsubscribe", func() bool { return sup.Subscribers() == 0 })
}

// TestEventsWire reads the event stream raw: a greeting comment, then
// heartbeats, and "event: service" with a one-line JSON status as data.
func TestEventsWire(t *testing.T) {
	uid := fixtureUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	path := controltest.Serve(t, sup, home, controltest.Options{HermesUID: uid, HermesGID: uid, Heartbeat: 10 * time.Millisecond})
	resp, err := httpClient(path).Do(mustRequest(t, "GET", "/v1/events", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	readBlock := func() string {
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if line == "\n" {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	if got := readBlock(); got != ": hermes events\n" {
		t.Errorf("first block = %q, want the greeting", got)
	}
	if got := readBlock(); got != ": heartbeat\n" {
		t.Errorf("second block = %q, want a heartbeat", got)
	}
	sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: 42, Since: controltest.Epoch(), UID: uid})
	for {
		got := readBlock()
		if got == ": heartbeat\n" {
			continue
		}
		want := fmt.Sprintf("event: service\ndata: {\"name\":\"web\",\"want\":\"up\",\"state\":\"running\",\"pid\":42,"+
			"\"since\":\"2025-06-01T12:00:00Z\",\"restarts\":0,\"last_exit\":null,\"reason\":\"\","+
			"\"logs\":{\"lines\":0,\"stdout_lines\":0,\"stderr_lines\":0,\"bytes\":0,\"dropped\":0,\"write_errors\":0},\"uid\":%d}\n", uid)
		if got != want {
			t.Errorf("event block:\n got %q\nwant %q", got, want)
		}
		break
	}
}

// blockingStop is a supervisor whose Stop waits until its context ends.
type blockingStop struct {
	*controltest.Supervisor
	entered chan struct{}
}

func (b blockingStop) Stop(ctx context.Context, name string) (supervise.Status, error) {
	close(b.entered)
	<-ctx.Done()
	return supervise.Status{}, ctx.Err()
}

// TestRunShutdown checks Run's contract: when its context ends, follow and
// event streams end at once, a synchronous request that outlives the grace
// has its context cancelled, and Run returns nil.
func TestRunShutdown(t *testing.T) {
	uid := fixtureUID()
	fake := controltest.NewSupervisor(home, uid, uid)
	if _, err := fake.Register(context.Background(), supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}, true); err != nil {
		t.Fatal(err)
	}
	sup := blockingStop{fake, make(chan struct{})}
	srv := control.NewServer(control.Config{
		Sup: sup, Home: home, HermesUID: uid, HermesGID: uid, ShutdownGrace: 200 * time.Millisecond,
		Health: func() control.Health { return control.Health{Boot: control.BootReady} },
	})
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := control.Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, ln) }()

	c := control.NewClient(path)
	bg := context.Background()
	fake.AppendLog("web", logpipe.Entry{Time: controltest.Epoch(), Line: "hello"})
	following := make(chan struct{}, 1)
	follow := make(chan error, 1)
	go func() {
		follow <- c.Logs(bg, "web", 1, true, func(control.LogLine) error {
			following <- struct{}{}
			return nil
		})
	}()
	receive(t, following)
	events := make(chan error, 1)
	go func() { events <- c.Events(bg, func(supervise.Status) error { return nil }) }()
	stop := make(chan error, 1)
	go func() { _, err := c.Stop(bg, "web"); stop <- err }()
	receive(t, sup.entered)
	testenv.Eventually(t, 10*time.Second, "the stream to subscribe", func() bool { return fake.Subscribers() == 1 })

	start := time.Now()
	cancel()
	if err := receive(t, follow); err != nil {
		t.Errorf("follow stream after shutdown = %v, want a clean end (nil)", err)
	}
	if err := receive(t, events); err != nil {
		t.Errorf("event stream after shutdown = %v, want a clean end (nil)", err)
	}
	if err := receive(t, stop); err == nil {
		t.Errorf("a stop cancelled by the shutdown succeeded")
	}
	if err := receive(t, ran); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	if _, err := c.Health(bg); !errors.Is(err, control.ErrUnavailable) {
		t.Errorf("Health after shutdown = %v, want ErrUnavailable", err)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("the socket file is left behind after Run")
	}
}

// TestRunIncompleteConfig checks that Run reports what NewServer lacked.
func TestRunIncompleteConfig(t *testing.T) {
	for _, cfg := range []control.Config{
		{Home: home, HermesUID: 10000, Health: func() control.Health { return control.Health{} }},
		{Sup: controltest.NewSupervisor(home, 1, 1), Home: home, HermesUID: 10000},
		{Sup: controltest.NewSupervisor(home, 1, 1), Home: "rel", HermesUID: 10000, Health: func() control.Health { return control.Health{} }},
		{Sup: controltest.NewSupervisor(home, 1, 1), Home: home, Health: func() control.Health { return control.Health{} }},
	} {
		ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
		if err != nil {
			t.Fatal(err)
		}
		if err := control.NewServer(cfg).Run(context.Background(), ln); err == nil {
			t.Errorf("Run with %+v = nil, want an error", cfg)
		}
	}
}

// TestConcurrentRegistrations registers 100 services and removes half of
// them concurrently through the socket: the table ends consistent.
func TestConcurrentRegistrations(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 100 {
		wg.Go(func() {
			name := fmt.Sprintf("svc-%03d", i)
			if _, err := c.Register(ctx, supervise.Spec{Name: name, Argv: []string{"/bin/x", name}}, i%3 == 0); err != nil {
				errs <- err
				return
			}
			if i%2 == 0 {
				if err := c.Remove(ctx, name); err != nil {
					errs <- err
				}
				if err := c.Remove(ctx, name); err != nil { // absent: still 204
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 50 {
		t.Fatalf("List has %d services, want 50", len(list))
	}
	for j, st := range list {
		i := 2*j + 1
		name := fmt.Sprintf("svc-%03d", i)
		wantState := supervise.Stopped
		if i%3 == 0 {
			wantState = supervise.Running
		}
		if st.Name != name || st.State != wantState {
			t.Errorf("List[%d] = %s %s, want %s %s", j, st.Name, st.State, name, wantState)
		}
		if spec, ok := sup.Spec(name); !ok || spec.Argv[1] != name || spec.Dir != home {
			t.Errorf("spec of %s = %+v, %v", name, spec, ok)
		}
	}
}
