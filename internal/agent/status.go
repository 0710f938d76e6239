// What the agent reports of itself for GET /health/detailed: the requests
// in flight, the drain, and its upstream (reachable now, and the last
// failure it met).

package agent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Status is the agent's state, for the gateway's GET /health/detailed.
type Status struct {
	// Draining is set once Drain was called.
	Draining bool `json:"draining"`
	// InFlight is the number of API requests being served (streams
	// included); MaxConcurrent is gateway.max_concurrent.
	InFlight      int `json:"in_flight"`
	MaxConcurrent int `json:"max_concurrent"`
	// Upstream is the configured upstream.
	Upstream UpstreamStatus `json:"upstream"`
}

// UpstreamStatus is what the agent knows of its upstream.
type UpstreamStatus struct {
	// Configured is false while model.base_url or model.name is unset.
	Configured bool `json:"configured"`
	// Host is the upstream's host and port (never a key).
	Host string `json:"host,omitempty"`
	// Reachable reports that a TCP connection to the upstream (or to the
	// proxy the environment names for it) opened just now; Error says why
	// not.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// LastError is the last failure of an upstream call since the
	// gateway started (nil for none); LastSuccessAt the end of the last
	// call that succeeded.
	LastError     *UpstreamError `json:"last_error"`
	LastSuccessAt *time.Time     `json:"last_success_at"`
}

// UpstreamError is a failure of an upstream call.
type UpstreamError struct {
	At      time.Time `json:"at"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
}

// upstreamRecord keeps the last failure and success of the upstream calls.
type upstreamRecord struct {
	mu      sync.Mutex
	lastErr *UpstreamError
	lastOK  time.Time
}

func (u *upstreamRecord) fail(e UpstreamError) {
	u.mu.Lock()
	u.lastErr = &e
	u.mu.Unlock()
}

func (u *upstreamRecord) ok(at time.Time) {
	u.mu.Lock()
	u.lastOK = at
	u.mu.Unlock()
}

// upstreamFault reports whether err is a failure of the upstream (its
// answer, its connection, its time), not of the client's request nor of
// this gateway.
func upstreamFault(err error) (*apiError, bool) {
	var ae *apiError
	if !errors.As(err, &ae) {
		return nil, false
	}
	switch {
	case ae.kind == ErrUpstream || ae.kind == ErrUpstreamTimeout:
		return ae, true
	case ae.code == "upstream_rejected" || ae.code == "upstream_rate_limited":
		return ae, true
	}
	return nil, false
}

// noteUpstream records err as the last upstream failure when it is one.
func (a *Agent) noteUpstream(err error) {
	if ae, ok := upstreamFault(err); ok {
		a.upstream.fail(UpstreamError{At: a.now().UTC(), Code: ae.code, Message: ae.Error()})
	}
}

// probeTimeout bounds the connection Status opens to the upstream.
const probeTimeout = 3 * time.Second

// Status reports the agent's state; it opens (and closes) a TCP
// connection to the upstream, within probeTimeout and ctx. It sends the
// upstream nothing: the gateway calls only its chat completions.
func (a *Agent) Status(ctx context.Context) Status {
	st := Status{Draining: a.draining.Load(), InFlight: len(a.slots), MaxConcurrent: cap(a.slots)}
	a.upstream.mu.Lock()
	if e := a.upstream.lastErr; e != nil {
		c := *e
		st.Upstream.LastError = &c
	}
	if !a.upstream.lastOK.IsZero() {
		t := a.upstream.lastOK
		st.Upstream.LastSuccessAt = &t
	}
	a.upstream.mu.Unlock()
	m, _, err := a.model.get()
	if err != nil {
		st.Upstream.Error = err.Error()
		return st
	}
	if m.BaseURL == "" || m.Name == "" {
		st.Upstream.Error = "no model is configured (model.base_url, model.name)"
		return st
	}
	st.Upstream.Configured = true
	addr, err := a.dialAddr(m.BaseURL)
	if err != nil {
		st.Upstream.Error = err.Error()
		return st
	}
	u, _ := url.Parse(m.BaseURL)
	st.Upstream.Host = u.Host
	ctx, cancel := context.WithTimeout(ctx, min(probeTimeout, a.timeouts.Connect))
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		st.Upstream.Error = unwrapURL(err).Error()
		return st
	}
	conn.Close()
	st.Upstream.Reachable = true
	return st
}

// dialAddr is the address a call to base goes to first: the upstream's
// host and port, or the proxy that the client's transport picks for it.
func (a *Agent) dialAddr(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", errors.New("model.base_url is not a URL")
	}
	target := u
	tr := a.client.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	if t, ok := tr.(*http.Transport); ok && t.Proxy != nil {
		if p, err := t.Proxy(&http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}}); err == nil && p != nil {
			target = p
		}
	}
	port := target.Port()
	if port == "" {
		port = "80"
		if target.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(target.Hostname(), port), nil
}
