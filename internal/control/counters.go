package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// The bounds of reported counters (PUT /v1/counters/{source}): a source
// and a counter are snake_case names, and the server keeps at most
// MaxCounterSources sources of at most MaxCountersPerSource counters, from
// a body of at most MaxCounterBytes.
const (
	MaxCounterBytes      = 16 << 10
	MaxCountersPerSource = 64
	MaxCounterSources    = 16
	maxSourceLen         = 32
	maxCounterNameLen    = 64
)

// ReportEvery is how often a reporter (Client.ReportCounters) sends its
// counters at most.
const ReportEvery = time.Second

// validCounterName reports whether name is a counter's or a source's name:
// a lower-case letter, then lower-case letters, digits and '_', at most
// max bytes.
func validCounterName(name string, max int) bool {
	if name == "" || len(name) > max || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// decodeCounters decodes a counters body strictly: one JSON object of
// valid names to non-negative integers, nothing after it.
func decodeCounters(r io.Reader) (map[string]uint64, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxCounterBytes+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: the counters are larger than %d bytes", ErrTooLarge, MaxCounterBytes)
		}
		return nil, fmt.Errorf("%w: reading the counters: %v", ErrBadRequest, err)
	}
	if len(body) > MaxCounterBytes {
		return nil, fmt.Errorf("%w: the counters are larger than %d bytes", ErrTooLarge, MaxCounterBytes)
	}
	var counters map[string]uint64
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&counters); err != nil {
		return nil, fmt.Errorf("%w: the counters are not a JSON object of names to non-negative integers: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the counters are followed by more data", ErrBadRequest)
	}
	if counters == nil {
		return nil, fmt.Errorf("%w: the counters must be a JSON object (null given)", ErrBadRequest)
	}
	if len(counters) > MaxCountersPerSource {
		return nil, fmt.Errorf("%w: %d counters, at most %d are kept per source", ErrBadRequest, len(counters), MaxCountersPerSource)
	}
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		if !validCounterName(name, maxCounterNameLen) {
			return nil, fmt.Errorf("%w: counter name %q: want a lower-case letter, then lower-case letters, digits and '_' (at most %d)", ErrBadRequest, name, maxCounterNameLen)
		}
	}
	return counters, nil
}

// pushedCounters are the counters other processes report, by source.
type pushedCounters struct {
	mu      sync.Mutex
	sources map[string]map[string]uint64
}

// set replaces source's counters.
func (p *pushedCounters) set(source string, counters map[string]uint64) error {
	if !validCounterName(source, maxSourceLen) {
		return fmt.Errorf("%w: counter source %q: want a lower-case letter, then lower-case letters, digits and '_' (at most %d)", ErrBadRequest, source, maxSourceLen)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sources == nil {
		p.sources = map[string]map[string]uint64{}
	}
	if _, ok := p.sources[source]; !ok && len(p.sources) >= MaxCounterSources {
		return fmt.Errorf("%w: %d counter sources report already, at most %d are kept", ErrBadRequest, len(p.sources), MaxCounterSources)
	}
	p.sources[source] = counters
	return nil
}

// snapshot returns every reported counter as <source>_<name>.
func (p *pushedCounters) snapshot() map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]uint64{}
	for src, cs := range p.sources {
		for name, v := range cs {
			out[src+"_"+name] = v
		}
	}
	return out
}

// PutCounters reports counters (snake_case names) as source's; they
// replace what source reported before, and GET /v1/health shows them as
// <source>_<name>. Root and the hermes uid may report.
func (c *Client) PutCounters(ctx context.Context, source string, counters map[string]uint64) error {
	if counters == nil {
		counters = map[string]uint64{}
	}
	return c.call(ctx, http.MethodPut, "/v1/counters/"+url.PathEscape(source), nil, counters, nil)
}

// ReportCounters reports read's counters as source's whenever they change,
// at most once every ReportEvery, until ctx is done; then it returns nil.
// A report that fails (no supervisor answers, say) is dropped, and the
// next change is reported again: a process run without a supervisor tries
// once per change, never in a loop.
func (c *Client) ReportCounters(ctx context.Context, source string, read func() map[string]uint64) error {
	t := time.NewTicker(ReportEvery)
	defer t.Stop()
	var last map[string]uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := read()
		if last != nil && maps.Equal(now, last) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, ReportEvery)
		c.PutCounters(rctx, source, now) // a failure waits for the next change
		cancel()
		last = now
	}
}
