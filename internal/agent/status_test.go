package agent

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// Status: the requests in flight, the drain, the upstream reachable now,
// and its last failure.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	p := newProfile(t, profileOpts{})
	st := p.agent.Status(ctx)
	if !st.Upstream.Configured || !st.Upstream.Reachable || st.Upstream.Error != "" || st.Upstream.LastError != nil || st.InFlight != 0 || st.Draining || st.MaxConcurrent != profiles.DefaultMaxConcurrent {
		t.Errorf("Status of an idle agent = %+v", st)
	}
	if !strings.HasPrefix(st.Upstream.Host, "127.0.0.1:") {
		t.Errorf("upstream host = %q", st.Upstream.Host)
	}
	if n := len(p.up.requests()); n != 0 {
		t.Errorf("Status sent the upstream %d requests, want none", n)
	}

	// A request in flight, then an upstream failure.
	release := make(chan struct{})
	entered := make(chan struct{})
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		close(entered)
		<-release
		w.WriteHeader(500)
		w.Write([]byte(`{"error":{"message":"the model crashed"}}`))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, _ := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
		resp.Body.Close()
	}()
	<-entered
	if st := p.agent.Status(ctx); st.InFlight != 1 {
		t.Errorf("in flight = %d, want 1", st.InFlight)
	}
	before := time.Now().UTC()
	close(release)
	<-done
	st = p.agent.Status(ctx)
	if e := st.Upstream.LastError; e == nil || e.Code != "upstream_error" || !strings.Contains(e.Message, "the model crashed") || e.At.Before(before.Add(-time.Second)) {
		t.Errorf("last upstream error = %+v, want the 500 and its time", e)
	}
	if st.InFlight != 0 {
		t.Errorf("in flight after the request = %d", st.InFlight)
	}
	p.up.setHandler(nil)
	resp, _ := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi")))
	resp.Body.Close()
	if st := p.agent.Status(ctx); st.Upstream.LastSuccessAt == nil || st.Upstream.LastError == nil {
		t.Errorf("after a success: %+v, want its time and the last error kept", st.Upstream)
	}
	p.agent.Drain()
	if st := p.agent.Status(ctx); !st.Draining {
		t.Error("Status does not show the drain")
	}

	for _, tt := range []struct{ config, says string }{
		{"model: {base_url: 'http://127.0.0.1:1/v1', name: m}\n", "refused"},
		{"gateway: {port: 8642}\n", "no model is configured"},
	} {
		q := newProfile(t, profileOpts{config: tt.config})
		st := q.agent.Status(ctx)
		if st.Upstream.Reachable || !strings.Contains(st.Upstream.Error, tt.says) {
			t.Errorf("Status with %q = %+v, want unreachable saying %q", tt.config, st.Upstream, tt.says)
		}
	}
}
