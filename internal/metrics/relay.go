package metrics

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// relayTimeout bounds one fetch of a relayed scrape.
const relayTimeout = 5 * time.Second

// maxRelayBytes bounds a relayed scrape (init's with hundreds of services
// is a few hundred KiB).
const maxRelayBytes = 16 << 20

// Relay is a Gatherer of another process's metrics, fetched in the text
// format at each scrape (the dashboard relays init's through the control
// socket). Its series keep their labels: init's runtime series carry
// component="init" and never collide with the relaying process's own.
type Relay struct {
	fetch func(ctx context.Context) (io.ReadCloser, error)
}

// NewRelay returns the Gatherer of what fetch returns.
func NewRelay(fetch func(ctx context.Context) (io.ReadCloser, error)) *Relay {
	return &Relay{fetch: fetch}
}

// Gather fetches and parses one scrape.
func (r *Relay) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	body, err := r.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("relaying metrics: %w", err)
	}
	defer body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(body, maxRelayBytes))
	if err != nil {
		return nil, fmt.Errorf("relaying metrics: %w", err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	return out, nil
}

var _ prometheus.Gatherer = (*Relay)(nil)
