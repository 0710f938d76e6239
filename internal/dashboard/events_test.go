package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// TestActionsFor: each button is enabled only when its action makes sense.
func TestActionsFor(t *testing.T) {
	tests := []struct {
		state supervise.State
		want  actions
	}{
		{supervise.Running, actions{Stop: true, Restart: true}},
		{supervise.Starting, actions{Stop: true}},
		{supervise.Stopping, actions{}},
		{supervise.Stopped, actions{Start: true}},
		{supervise.Failed, actions{Start: true}},
		{supervise.Backoff, actions{Start: true, Stop: true}},
	}
	for _, tt := range tests {
		if got := actionsFor(supervise.Status{State: tt.state}); got != tt.want {
			t.Errorf("actionsFor(%s) = %+v, want %+v", tt.state, got, tt.want)
		}
	}
}

// TestSelfRow: the dashboard service's row says which dashboard the page
// comes from, instead of a bare "stopped".
func TestSelfRow(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	tests := []struct {
		st       supervise.Status
		self     string
		wantNote string
	}{
		{supervise.Status{Name: ServiceName, State: supervise.Running, PID: f.srv.pid}, "supervised", "this dashboard (pid "},
		{supervise.Status{Name: ServiceName, State: supervise.Stopped}, "standalone", "you are looking at a standalone dashboard (pid "},
		{supervise.Status{Name: ServiceName, State: supervise.Running, PID: f.srv.pid + 1}, "standalone", "the supervised one is running"},
		{supervise.Status{Name: "worker", State: supervise.Running, PID: f.srv.pid}, "", ""},
	}
	for _, tt := range tests {
		v := f.srv.view(tt.st)
		if v.Self != tt.self || (tt.wantNote == "") != (v.Note == "") || !strings.Contains(v.Note, tt.wantNote) {
			t.Errorf("view(%s %s pid %d) = self %q note %q, want %q with %q", tt.st.Name, tt.st.State, tt.st.PID, v.Self, v.Note, tt.self, tt.wantNote)
		}
	}
}

// TestEventsStream: /api/events sends the whole overview at once, then a
// new one when a service changes (the supervisor's event wakes the
// poller), with the buttons that make sense in the new state; it is
// behind the gate.
func TestEventsStream(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	f.sup.Put(supervise.Status{Name: ServiceName, State: supervise.Running, PID: f.srv.pid, Want: supervise.WantUp})
	ts := httptest.NewServer(f.handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polled := make(chan error, 1)
	go func() { polled <- f.srv.runEvents(ctx) }()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/events without the token = %v %v, want 401", resp.Status, err)
	}
	req.Header.Set("X-Hermes-Session-Token", f.gate.LocalToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/events = %v %v", resp, err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	next := func() snapshot {
		t.Helper()
		ev, err := readEvent(br)
		if err != nil || ev.event != "state" {
			t.Fatalf("event = %+v, %v", ev, err)
		}
		var sn snapshot
		if err := json.Unmarshal([]byte(ev.data), &sn); err != nil {
			t.Fatal(err)
		}
		return sn
	}
	row := func(sn snapshot, name string) serviceView {
		for _, v := range sn.Services {
			if v.Name == name {
				return v
			}
		}
		t.Fatalf("no %s in %+v", name, sn.Services)
		return serviceView{}
	}
	sn := next()
	if len(sn.Profiles) != 1 || sn.Profiles[0].Name != "default" {
		t.Errorf("profiles = %+v", sn.Profiles)
	}
	if w := row(sn, "worker"); w.State != supervise.Running || w.Actions != (actions{Stop: true, Restart: true}) {
		t.Errorf("worker = %s %+v", w.State, w.Actions)
	}
	if d := row(sn, ServiceName); d.Self != "supervised" {
		t.Errorf("the dashboard's own row = %+v", d)
	}
	if _, err := f.sup.Stop(ctx, "worker"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sn = next()
		if w := row(sn, "worker"); w.State == supervise.Stopped {
			if w.Actions != (actions{Start: true}) {
				t.Errorf("stopped worker's actions = %+v, want start only", w.Actions)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event with the worker stopped")
		}
	}
	cancel()
	select {
	case <-polled:
	case <-time.After(5 * time.Second):
		t.Fatal("the poller did not return after its context ended")
	}
}
