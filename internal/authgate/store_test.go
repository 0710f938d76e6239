package authgate

import (
	"testing"
	"time"
)

// TestSessionLoginAt: a session's identity carries when its login
// happened, unchanged by later requests (the dashboard's recent-login
// check rests on it).
func TestSessionLoginAt(t *testing.T) {
	s := newSessionStore(time.Hour, 12*time.Hour)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := s.create(Identity{UserID: "u"}, t0)
	for _, at := range []time.Duration{time.Minute, 30 * time.Minute} {
		got, ok := s.get(id, t0.Add(at))
		if !ok || !got.LoginAt.Equal(t0) {
			t.Errorf("at +%v: LoginAt = %v (ok %v), want %v", at, got.LoginAt, ok, t0)
		}
	}
}
