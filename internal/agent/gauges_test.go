package agent

import (
	"sync"
	"testing"
)

// TestExchangeMetricsFields: the Exchange an observer gets carries the
// tokens the upstream reported and the kind of an upstream failure (the
// gateway's metrics are made of them).
func TestExchangeMetricsFields(t *testing.T) {
	var mu sync.Mutex
	var seen []Exchange
	observe := func(c *Config) {
		c.Observe = func(ex *Exchange) {
			mu.Lock()
			seen = append(seen, *ex)
			mu.Unlock()
		}
	}
	p := newProfile(t, profileOpts{mod: observe})
	p.call(t, "POST", "/v1/chat/completions", chatBody("gpt-4o", false, user("hi")))
	p.call(t, "POST", "/v1/chat/completions", chatBody("gpt-4o", true, user("one two three")))
	down := newProfile(t, profileOpts{config: defaultConfig("http://127.0.0.1:1/v1"), mod: observe})
	down.call(t, "POST", "/v1/chat/completions", chatBody("gpt-4o", false, user("hi")))
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("observed %d exchanges, want 3", len(seen))
	}
	if ex := seen[0]; ex.PromptTokens != 7 || ex.CompletionTokens != 3 || ex.UpstreamError != "" {
		t.Errorf("completion: tokens %d/%d, upstream error %q; want 7/3, none", ex.PromptTokens, ex.CompletionTokens, ex.UpstreamError)
	}
	if ex := seen[1]; ex.PromptTokens != 7 || ex.CompletionTokens != 4 {
		t.Errorf("stream: tokens %d/%d; want the usage chunk's 7/4 (one a word of the echo)", ex.PromptTokens, ex.CompletionTokens)
	}
	if ex := seen[2]; ex.UpstreamError != "upstream_unreachable" || ex.PromptTokens != 0 {
		t.Errorf("unreachable upstream: upstream error %q, tokens %d; want upstream_unreachable, 0", ex.UpstreamError, ex.PromptTokens)
	}
	if p.agent.InFlight() != 0 || p.agent.Draining() {
		t.Errorf("idle agent: in flight %d, draining %v", p.agent.InFlight(), p.agent.Draining())
	}
}
