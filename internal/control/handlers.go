package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func (s *Server) listServices(c *call) error {
	list := s.withResources(slices.Clone(s.sup.List()))
	if list == nil {
		list = []supervise.Status{}
	}
	slices.SortFunc(list, func(a, b supervise.Status) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(c.w, http.StatusOK, list)
	return nil
}

func (s *Server) getService(c *call) error {
	st, err := s.sup.Status(c.name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, s.withResources([]supervise.Status{st})[0])
	return nil
}

// putService registers a spec; with ?save=true it also keeps it in
// HERMES_HOME/services.d (SavedFile), which the spec must fit: the hermes
// uid's rights, whoever asks, since the boot loads it with those alone.
// Registered without save, a service that was saved is no longer: its
// file goes, so that no older spec comes back at the next boot.
func (s *Server) putService(c *call) error {
	q := c.r.URL.Query()
	start, err := parseBool(q, "start", true)
	if err != nil {
		return err
	}
	save, err := parseBool(q, "save", false)
	if err != nil {
		return err
	}
	spec := *c.spec
	spec.Saved = save
	if !save {
		st, err := s.sup.Register(c.r.Context(), spec, start)
		if err != nil {
			return err
		}
		if err := s.pol.removeSaved(spec.Name); err != nil {
			s.log.Warn("the saved file stays", "service", spec.Name, "err", err)
		}
		writeJSON(c.w, http.StatusOK, st)
		return nil
	}
	if err := s.pol.hermesRights(spec); err != nil {
		return fmt.Errorf("%w (a saved service is loaded at boot with the hermes user's rights: it runs as the hermes user, with dir and log_file inside %s)", err, s.pol.home)
	}
	_, statErr := os.Lstat(SavedFile(s.pol.home, spec.Name))
	if err := s.pol.saveService(spec); err != nil {
		return err
	}
	st, err := s.sup.Register(c.r.Context(), spec, start)
	if err != nil {
		if errors.Is(statErr, os.ErrNotExist) {
			_ = s.pol.removeSaved(spec.Name) // not registered: not saved either
		}
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

// deleteService stops and removes a service, and its saved file.
func (s *Server) deleteService(c *call) error {
	if err := s.sup.Remove(c.r.Context(), c.name); err != nil && !errors.Is(err, supervise.ErrNotFound) {
		return err
	}
	if err := s.pol.removeSaved(c.name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) startService(c *call) error   { return s.change(c, s.sup.Start) }
func (s *Server) stopService(c *call) error    { return s.change(c, s.sup.Stop) }
func (s *Server) restartService(c *call) error { return s.change(c, s.sup.Restart) }

// change runs a synchronous start, stop or restart and answers the status
// it ends in.
func (s *Server) change(c *call, do func(ctx context.Context, name string) (supervise.Status, error)) error {
	st, err := do(c.r.Context(), c.name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

func (s *Server) signalService(c *call) error {
	sig, err := parseSig(c.r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.sup.Signal(c.name, sig); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// openLog returns the log of a service, preferring LogOpener.
func (s *Server) openLog(name string) (LogReader, error) {
	if o, ok := s.sup.(LogOpener); ok {
		return o.OpenLog(name)
	}
	l, err := s.sup.Log(name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fmt.Errorf("%w: %s has no log", supervise.ErrNotFound, name)
	}
	return l, nil
}

func (s *Server) serviceLogs(c *call) error {
	q := c.r.URL.Query()
	tail, err := parseTail(q)
	if err != nil {
		return err
	}
	follow, err := parseBool(q, "follow", false)
	if err != nil {
		return err
	}
	lr, err := s.openLog(c.name)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/x-ndjson")
	c.w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(c.w)
	enc.SetEscapeHTML(false)
	if !follow {
		c.w.WriteHeader(http.StatusOK)
		for _, e := range lr.Tail(tail) {
			if err := enc.Encode(logLine(e)); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := streamContext(c.r)
	defer cancel()
	c.w.WriteHeader(http.StatusOK)
	if err := c.w.flush(); err != nil {
		return err
	}
	err = lr.Follow(ctx, tail, func(e logpipe.Entry) error {
		if err := enc.Encode(logLine(e)); err != nil {
			return err
		}
		return c.w.flush()
	})
	if ctx.Err() != nil {
		return nil // the client left or the server is stopping
	}
	return err
}

// events streams status changes as server-sent events. The headers are sent
// once the subscription is in place, so a client that lists the services
// after that point misses no change.
func (s *Server) events(c *call) error {
	ctx, cancel := streamContext(c.r)
	defer cancel()
	ch := s.sup.Subscribe(ctx)
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(c.w, ": hermes events\n\n"); err != nil {
		return err
	}
	if err := c.w.flush(); err != nil {
		return err
	}
	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case st, ok := <-ch:
			if !ok {
				return nil
			}
			var b []byte
			if b, err = json.Marshal(st); err == nil {
				_, err = fmt.Fprintf(c.w, "event: service\ndata: %s\n\n", b)
			}
		case <-tick.C:
			_, err = fmt.Fprint(c.w, ": heartbeat\n\n")
		}
		if err == nil {
			err = c.w.flush()
		}
		if err != nil {
			return err
		}
	}
}

// getHealth answers the boot's health with every counter: what other
// processes reported (<source>_<name>), what the boot counts, and the
// server's own (control_<name>), later ones winning a clash, so that no
// report can hide what init counts itself.
func (s *Server) getHealth(c *call) error {
	h := s.health()
	counters := s.pushed.snapshot()
	for k, v := range h.Counters {
		counters[k] = v
	}
	for k, v := range s.Counters().counterMap() {
		counters[k] = v
	}
	h.Counters = counters
	writeJSON(c.w, http.StatusOK, h)
	return nil
}

// putCounters replaces the counters reported by one source (the dashboard
// reports the logins it rate-limited and the connections it refused).
func (s *Server) putCounters(c *call) error {
	counters, err := decodeCounters(c.r.Body)
	if err != nil {
		return err
	}
	if err := s.pushed.set(c.r.PathValue("source"), counters); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// noRoute answers a request that matched no route: 405 with Allow when the
// path exists under another method, else 404.
func (s *Server) noRoute(c *call) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		probe := c.r.Clone(c.r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		c.w.Header().Set("Allow", strings.Join(allowed, ", "))
		return fmt.Errorf("%w: %s %s (allowed: %s)", ErrMethod, c.r.Method, c.r.URL.Path, strings.Join(allowed, ", "))
	}
	return fmt.Errorf("%w: %s %s", ErrNoRoute, c.r.Method, c.r.URL.Path)
}

// gatewaysOrErr returns the server's Gateways, or an error when this
// supervisor does not manage gateways.
func (s *Server) gatewaysOrErr() (Gateways, error) {
	if s.gateways == nil {
		return nil, fmt.Errorf("gateways are %w", ErrNotManaged)
	}
	return s.gateways, nil
}

// putGateway registers gateway-<profile> from the canonical spec, which
// the supervisor builds itself; ?start= defaults to false (a profile's
// gateway is registered down unless asked otherwise).
func (s *Server) putGateway(c *call) error {
	g, err := s.gatewaysOrErr()
	if err != nil {
		return err
	}
	start, err := parseBool(c.r.URL.Query(), "start", false)
	if err != nil {
		return err
	}
	st, err := g.RegisterGateway(c.r.Context(), c.profile, start)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

// deleteGateway stops and removes gateway-<profile>; 204 even if absent.
func (s *Server) deleteGateway(c *call) error {
	g, err := s.gatewaysOrErr()
	if err != nil {
		return err
	}
	if err := g.RemoveGateway(c.r.Context(), c.profile); err != nil && !errors.Is(err, supervise.ErrNotFound) {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
