package authgate

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The login routes' per-client-IP token bucket: loginBurst requests at once,
// then one every loginEvery. Past it: 429.
const (
	loginBurst = 10
	loginEvery = 6 * time.Second
	// maxLimited bounds the addresses tracked; when full, idle ones are
	// swept, and a new address beyond it is refused.
	maxLimited = 65536
)

type limiter struct {
	every time.Duration
	burst int
	mu    sync.Mutex
	m     map[netip.Addr]*rate.Limiter
}

func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{every: every, burst: burst, m: map[netip.Addr]*rate.Limiter{}}
}

func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[ip]
	if lim == nil {
		if len(l.m) >= maxLimited {
			l.sweepLocked(now)
			if len(l.m) >= maxLimited {
				return false
			}
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m[ip] = lim
	}
	return lim.AllowN(now, 1)
}

// sweep forgets addresses whose bucket is full again (they are as new).
func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *limiter) sweepLocked(now time.Time) {
	for ip, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, ip)
		}
	}
}
