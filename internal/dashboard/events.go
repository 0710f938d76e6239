package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hermes-agent/hermes/internal/supervise"
)

// Live state (GET /api/events). The supervisor's control socket already
// streams every service change (GET /v1/events, control.Client.Events), but
// a gateway's state is read from its profile's own files (gateway.Observe)
// and the profiles themselves change on disk, so the dashboard does not
// relay the socket's events: one poller (hub.run, started by Server.Run)
// builds the whole overview (snapshot) when the supervisor reports a change,
// when a page subscribes, and every pollInterval while anyone watches, and
// fans out each snapshot that differs from the last to every subscriber.
// Nothing is read while nobody watches.
const (
	// pollInterval is how often the overview is re-read while a page
	// watches: what the supervisor does not report (a gateway's state file,
	// a profile made by the CLI, a session's activity).
	pollInterval = 2 * time.Second
	// followRetry is the wait before the supervisor's event stream is
	// followed again after it ended or failed.
	followRetry = 2 * time.Second
	// eventsHeartbeat keeps an idle event stream open through proxies.
	eventsHeartbeat = 15 * time.Second
)

// snapshot is the overview as /api/events pushes it and the overview page
// shows it.
type snapshot struct {
	Profiles       []profileBody `json:"profiles"`
	Services       []serviceView `json:"services"`
	ServicesError  string        `json:"services_error,omitempty"`
	ActiveSessions int           `json:"active_sessions"`
	Running        int           `json:"running"`
}

// serviceView is one service as the pages show it: the supervisor's
// status, which of the three actions make sense now, and, for the
// dashboard's own row, which dashboard the page is served by.
type serviceView struct {
	supervise.Status
	Actions actions `json:"actions"`
	// Self is set on the dashboard service's row only: "supervised" when
	// this process is that service, "standalone" when the page comes
	// from another `hermes dashboard`.
	Self string `json:"self,omitempty"`
	// Note says the same in words.
	Note string `json:"note,omitempty"`
}

// actions says which buttons of a service are enabled.
type actions struct {
	Start   bool `json:"start"`
	Stop    bool `json:"stop"`
	Restart bool `json:"restart"`
}

// actionsFor is when each action makes sense: start when no process runs
// (stopped, failed, or waiting out a backoff), stop while one runs or is
// due, restart while one runs.
func actionsFor(st supervise.Status) actions {
	switch st.State {
	case supervise.Running:
		return actions{Stop: true, Restart: true}
	case supervise.Starting:
		return actions{Stop: true}
	case supervise.Backoff:
		return actions{Start: true, Stop: true}
	case supervise.Stopped, supervise.Failed:
		return actions{Start: true}
	}
	return actions{} // stopping: wait for it
}

// view is the service's row.
func (s *Server) view(st supervise.Status) serviceView {
	v := serviceView{Status: st, Actions: actionsFor(st)}
	if st.Name != ServiceName {
		return v
	}
	if st.PID != 0 && st.PID == s.pid {
		v.Self = "supervised"
		v.Note = fmt.Sprintf("this dashboard (pid %d, supervised)", s.pid)
		return v
	}
	v.Self = "standalone"
	v.Note = fmt.Sprintf("you are looking at a standalone dashboard (pid %d, hermes dashboard); the supervised one is %s", s.pid, st.State)
	return v
}

// snapshot reads the whole overview: every profile from its files, the
// services from the supervisor.
func (s *Server) snapshot(ctx context.Context) snapshot {
	sn := snapshot{Profiles: s.readProfiles(ctx), Services: []serviceView{}}
	for _, p := range sn.Profiles {
		sn.ActiveSessions += p.ActiveSessions
		if p.Gateway.Running {
			sn.Running++
		}
	}
	list, errText := s.listServices(ctx)
	sn.ServicesError = errText
	for _, st := range list {
		sn.Services = append(sn.Services, s.view(st))
	}
	return sn
}

// hub fans the snapshots out to the pages that watch.
type hub struct {
	wake chan struct{} // buffered 1: build a snapshot now

	mu   sync.Mutex
	subs map[chan []byte]struct{}
	last []byte
}

func newHub() *hub {
	return &hub{wake: make(chan struct{}, 1), subs: map[chan []byte]struct{}{}}
}

// poke asks the poller for a snapshot now (coalesced).
func (h *hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// subscribe adds a watcher; its channel holds the latest snapshot not yet
// taken (an older one is replaced).
func (h *hub) subscribe() chan []byte {
	ch := make(chan []byte, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	delete(h.subs, ch)
	if len(h.subs) == 0 {
		h.last = nil // the next watcher's first poll is sent even if unchanged
	}
	h.mu.Unlock()
}

func (h *hub) watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// publish sends b to every watcher unless it is the snapshot sent last.
func (h *hub) publish(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if bytes.Equal(b, h.last) {
		return
	}
	h.last = b
	for ch := range h.subs {
		select {
		case <-ch: // not taken yet: replaced
		default:
		}
		ch <- b
	}
}

// runEvents is the poller: it follows the supervisor's events (each one
// pokes it) and, while anyone watches, builds a snapshot when poked and
// every pollInterval. It returns nil once ctx is done and the follower has
// returned.
func (s *Server) runEvents(ctx context.Context) error {
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		s.followSupervisor(ctx)
	}()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-followed
			return nil
		case <-tick.C:
		case <-s.hub.wake:
		}
		if s.hub.watchers() == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := json.Marshal(s.snapshot(rctx))
		cancel()
		if err == nil {
			s.hub.publish(b)
		}
	}
}

// followSupervisor pokes the poller on every change the supervisor
// reports, following its event stream again followRetry after it ends,
// until ctx is done.
func (s *Server) followSupervisor(ctx context.Context) {
	for ctx.Err() == nil {
		s.control(ctx).Events(ctx, func(supervise.Status) error {
			s.hub.poke()
			return nil
		})
		s.hub.poke() // the stream ended: whatever changed meanwhile
		select {
		case <-ctx.Done():
		case <-time.After(followRetry):
		}
	}
}

// apiEvents is GET /api/events: server-sent events, one "state" event
// with the whole overview (snapshot) as its data at once, then one each
// time it changes. It ends when the client goes away or Run shuts down.
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := streamContext(r)
	defer cancel()
	ch := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	first, err := json.Marshal(s.snapshot(ctx))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	s.hub.poke() // the poller's next snapshot is compared with a fresh one
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) error {
		if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if _, err := fmt.Fprint(w, ": hermes events\nretry: 3000\n\n"); err != nil {
		return
	}
	if send(first) != nil {
		return
	}
	tick := time.NewTicker(eventsHeartbeat)
	defer tick.Stop()
	for {
		var werr error
		select {
		case <-ctx.Done():
			return
		case b := <-ch:
			if !bytes.Equal(b, first) {
				werr = send(b)
			}
			first = nil
		case <-tick.C:
			if _, werr = fmt.Fprint(w, ": keep-alive\n\n"); werr == nil {
				werr = rc.Flush()
			}
		}
		if werr != nil {
			return
		}
	}
}
