package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// parts runs long-running parts, each Run(ctx) error, until stop. An error
// other than the end of the parts' context is logged when it happens and
// kept for stop.
type parts struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	errs    []error
}

func newParts(log *slog.Logger) *parts {
	ctx, cancel := context.WithCancel(context.Background())
	return &parts{ctx: ctx, cancel: cancel, log: log}
}

// start runs run on a goroutine of its own until the parts stop; msg and
// attrs name it in the log line of its error. It reports false, and runs
// nothing, once stop has begun.
func (p *parts) start(run func(context.Context) error, msg string, attrs ...any) bool {
	return p.run(run, true, msg, attrs...)
}

// startUnlogged is start for a part whose error is about init's own log
// stream (a console that stalled): the error is kept, not logged, since
// logging it could block on that very stream.
func (p *parts) startUnlogged(run func(context.Context) error, msg string) bool {
	return p.run(run, false, msg)
}

func (p *parts) run(run func(context.Context) error, logged bool, msg string, attrs ...any) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := run(p.ctx)
		if err == nil || errors.Is(err, context.Canceled) && p.ctx.Err() != nil {
			return
		}
		if logged {
			p.log.Error(msg, append(attrs, "err", err)...)
		}
		p.mu.Lock()
		p.errs = append(p.errs, fmt.Errorf("%s: %w", msg, err))
		p.mu.Unlock()
	}()
	return true
}

// stop ends the parts' context, waits until every part has returned, and
// returns their errors.
func (p *parts) stop() error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}
