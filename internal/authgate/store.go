package authgate

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// Opaque ids (sessions and login flows) are 32 random bytes, base64url
// without padding (43 characters) in the cookie. The stores key them by
// their SHA-256, so a lookup compares digests, never the secret itself.
const idBytes = 32

type idKey [sha256.Size]byte

func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseID decodes a cookie value; anything that is not exactly an id we
// could have issued is rejected before the store is consulted.
func parseID(v string) (idKey, bool) {
	if len(v) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return idKey{}, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != idBytes {
		return idKey{}, false
	}
	return sha256.Sum256(b), true
}

// session is a signed-in user, server side.
type session struct {
	ident            Identity
	created, touched time.Time
}

// sessionStore holds the sessions in memory: a restart of the dashboard logs
// everyone out. A session ends IdleTimeout after its last request or
// AbsoluteTimeout after the login, whichever comes first.
type sessionStore struct {
	idle, absolute time.Duration
	mu             sync.Mutex
	m              map[idKey]*session
}

func newSessionStore(idle, absolute time.Duration) *sessionStore {
	return &sessionStore{idle: idle, absolute: absolute, m: map[idKey]*session{}}
}

func (s *sessionStore) expiry(x *session) time.Time {
	abs := x.created.Add(s.absolute)
	if idle := x.touched.Add(s.idle); idle.Before(abs) {
		return idle
	}
	return abs
}

// create stores a new session under a fresh id and returns the id.
func (s *sessionStore) create(ident Identity, now time.Time) string {
	id := newID()
	k, _ := parseID(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = &session{ident: ident, created: now, touched: now}
	return id
}

// get returns the session's identity and moves its idle deadline; an expired
// session is removed.
func (s *sessionStore) get(id string, now time.Time) (Identity, bool) {
	k, ok := parseID(id)
	if !ok {
		return Identity{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.m[k]
	if x == nil {
		return Identity{}, false
	}
	if !now.Before(s.expiry(x)) {
		delete(s.m, k)
		return Identity{}, false
	}
	x.touched = now
	ident := x.ident
	ident.ExpiresAt = s.expiry(x)
	ident.LoginAt = x.created
	return ident, true
}

func (s *sessionStore) delete(id string) {
	if k, ok := parseID(id); ok {
		s.mu.Lock()
		delete(s.m, k)
		s.mu.Unlock()
	}
}

func (s *sessionStore) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, x := range s.m {
		if !now.Before(s.expiry(x)) {
			delete(s.m, k)
		}
	}
}

func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// flow is one login in progress, kept server side under the flow cookie.
type flow struct {
	provider, state, nonce, verifier, next string
	// redirect is the redirect_uri sent to the provider at the start; the
	// code exchange repeats it exactly.
	redirect string
	created  time.Time
}

// flowTTL is how long a login may take between /auth/login and the callback.
const flowTTL = 10 * time.Minute

// maxFlows bounds the logins in progress (anyone may start one); past it the
// oldest is dropped.
const maxFlows = 4096

type flowStore struct {
	mu sync.Mutex
	m  map[idKey]*flow
}

func newFlowStore() *flowStore { return &flowStore{m: map[idKey]*flow{}} }

func (s *flowStore) put(f *flow) string {
	id := newID()
	k, _ := parseID(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxFlows {
		var oldest idKey
		var t time.Time
		for k, x := range s.m {
			if t.IsZero() || x.created.Before(t) {
				oldest, t = k, x.created
			}
		}
		delete(s.m, oldest)
	}
	s.m[k] = f
	return id
}

// take removes the flow and returns it if it has not expired: a flow is used
// at most once.
func (s *flowStore) take(id string, now time.Time) (*flow, bool) {
	k, ok := parseID(id)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.m[k]
	delete(s.m, k)
	if f == nil || now.Sub(f.created) >= flowTTL || now.Before(f.created.Add(-time.Minute)) {
		return nil, false
	}
	return f, true
}

func (s *flowStore) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, f := range s.m {
		if now.Sub(f.created) >= flowTTL {
			delete(s.m, k)
		}
	}
}
