package gateway

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// DesiredConfig configures a DesiredQueue.
type DesiredConfig struct {
	// Home is HERMES_HOME.
	Home string
	// Owner owns a state file that root writes (the hermes ids);
	// safefs.Keep when init is not root.
	Owner safefs.Owner
	// Now is the clock of desired_updated_at; nil is time.Now.
	Now func() time.Time
	// Refused is told of every record refused on a managed file (a
	// symlink, a hard link) or skipped on a lock held too long; nil drops
	// them.
	Refused func(safefs.Refusal)
	// Logger gets the other failures; nil discards them.
	Logger *slog.Logger
}

// DesiredQueue records an operator's starts and stops of the gateways (CLI,
// dashboard, control API, svc included) as desired_state in each profile's
// gateway_state.json, so that docker restart brings back exactly the
// gateways that were running. OnOperator, the supervisor's hook, runs on
// the supervisor's loop and only queues the change; Run writes the queue
// in the order the changes were made, off the loop (a write can wait for
// the file's lock).
type DesiredQueue struct {
	cfg     DesiredConfig
	mu      sync.Mutex
	pending []desiredChange
	wake    chan struct{}
	// queued and done count the changes queued and those written (or
	// given up on); progress is closed and replaced whenever done grows,
	// and closed is set once Run has returned (Flush then waits no more).
	queued, done uint64
	progress     chan struct{}
	closed       bool
}

// desiredChange is one queued desired_state record.
type desiredChange struct {
	profile profiles.Ref
	state   string
	at      time.Time
}

// NewDesiredQueue returns an empty queue; nothing is written until Run.
func NewDesiredQueue(cfg DesiredConfig) *DesiredQueue {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &DesiredQueue{cfg: cfg, wake: make(chan struct{}, 1), progress: make(chan struct{})}
}

// OnOperator is the supervisor's OnOperator hook (supervise.Config): a
// wanted state of a gateway service becomes a queued desired_state; any
// other service is ignored.
func (q *DesiredQueue) OnOperator(name string, want supervise.Want) {
	p, ok := ProfileOf(q.cfg.Home, name)
	if !ok {
		return
	}
	desired := DesiredStopped
	if want == supervise.WantUp {
		desired = DesiredRunning
	}
	q.mu.Lock()
	q.pending = append(q.pending, desiredChange{profile: p, state: desired, at: q.cfg.Now()})
	q.queued++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run writes the queued changes in order until ctx is done, then writes
// what is left, so that a change made just before the shutdown is not
// lost, and returns nil. Once ctx is done a write does not wait for a held
// lock at all.
func (q *DesiredQueue) Run(ctx context.Context) error {
	for {
		q.writePending(ctx)
		select {
		case <-q.wake:
		case <-ctx.Done():
			q.writePending(ctx)
			q.mu.Lock()
			q.closed = true
			close(q.progress)
			q.progress = make(chan struct{})
			q.mu.Unlock()
			return nil
		}
	}
}

// Flush returns once every change queued before the call has been written
// (or its write has failed, which the queue reports as usual), so that an
// operator told that a start or stop is done is told so only once its
// desired_state is on disk: a kill of init right after the answer keeps it.
// It returns ctx's error if ctx ends first, and nil at once after Run has
// returned.
func (q *DesiredQueue) Flush(ctx context.Context) error {
	q.mu.Lock()
	target := q.queued
	for q.done < target && !q.closed {
		wait := q.progress
		q.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}

// writePending writes and forgets what is queued.
func (q *DesiredQueue) writePending(ctx context.Context) {
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	q.mu.Unlock()
	for _, c := range batch {
		q.write(ctx, c)
	}
	if len(batch) > 0 {
		q.mu.Lock()
		q.done += uint64(len(batch))
		close(q.progress)
		q.progress = make(chan struct{})
		q.mu.Unlock()
	}
}

// write records one change. The state file's lock is waited for at most
// safefs.RootLockWait, and not at all once ctx is done (shutdown): a lock
// held longer skips the write with a refusal.
func (q *DesiredQueue) write(ctx context.Context, c desiredChange) {
	err := RecordDesired(ctx, Desired{
		Profile: c.profile, State: c.state, At: c.at,
		Owner: q.cfg.Owner, Wait: safefs.RootWait(nil),
	})
	path := filepath.Join(c.profile.Dir(), StateFile)
	if r, ok := safefs.Refuse(path, err, "desired_state "+c.state+" not recorded"); ok {
		if q.cfg.Refused != nil {
			q.cfg.Refused(r)
		}
	} else if err != nil {
		q.cfg.Logger.Warn("cannot record the desired state", "gateway", ServiceName(c.profile.Name()), "err", err)
	}
}
