package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// TestDesiredQueue: an operator's changes of a gateway are written in the
// order they were made, what is queued at the end of Run is still
// written, and other services are none of its business.
func TestDesiredQueue(t *testing.T) {
	home := t.TempDir()
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	var refused []safefs.Refusal
	q := NewDesiredQueue(DesiredConfig{
		Home: home, Owner: safefs.Keep, Now: func() time.Time { return at },
		Refused: func(r safefs.Refusal) { refused = append(refused, r) },
	})
	q.OnOperator("gateway-default", supervise.WantUp)
	q.OnOperator("web", supervise.WantDown)
	q.OnOperator("gateway-default", supervise.WantDown)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the queue is written once more as Run ends
	if err := q.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := ReadProfileState(profiles.MustParse(home, profiles.Default))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.DesiredState, DesiredStopped; got != want {
		t.Errorf("desired_state = %q, want %q (the last change)", got, want)
	}
	if got, want := st.DesiredUpdatedAt, "2026-11-26T08:00:00Z"; got != want {
		t.Errorf("desired_updated_at = %q, want %q (the injected clock)", got, want)
	}
	if len(refused) != 0 {
		t.Errorf("refused %v", refused)
	}
}

// TestDesiredQueueFlush: Flush returns only once the changes queued
// before it are on disk (the fault suite's abrupt stop found an
// acknowledged gateway stop lost to a kill of init: the answer went out
// before the queue wrote it), and at once after Run has returned.
func TestDesiredQueueFlush(t *testing.T) {
	home := t.TempDir()
	q := NewDesiredQueue(DesiredConfig{Home: home, Owner: safefs.Keep})
	q.OnOperator("gateway-default", supervise.WantDown)
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := q.Flush(short); err == nil {
		t.Fatal("Flush returned before anything was written (Run is not running)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); q.Run(ctx) }()
	if err := q.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadProfileState(profiles.MustParse(home, profiles.Default)); err != nil || st.DesiredState != DesiredStopped {
		t.Errorf("after Flush: desired_state %q (%v), want %q on disk", st.DesiredState, err, DesiredStopped)
	}
	cancel()
	<-ran
	q.OnOperator("gateway-default", supervise.WantUp)
	if err := q.Flush(context.Background()); err != nil {
		t.Errorf("Flush after Run returned: %v, want nil at once", err)
	}
}
