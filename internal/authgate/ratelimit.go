package authgate

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The login limits. Every request to a login route is charged to the
// client's network (an IPv4 address, an IPv6 /64: one host of IPv6 owns 2^64
// addresses): loginBurst at once, then one every loginEvery; past it, 429.
// Every failed password login is charged to the account it named (the
// configured username, or one bucket shared by every other name):
// accountBurst failures, then each attempt on that account first waits until
// the budget has room again (one failure forgiven per accountEvery), at most
// accountMaxDelay, and is then checked: the budget delays, it never refuses,
// so that guessing from many networks slows down without locking out the
// real user. Both tables are bounded; when one is full, the entry used least
// recently is forgotten, never a new client refused.
const (
	loginBurst  = 10
	loginEvery  = 6 * time.Second
	maxNetworks = 65536

	accountBurst    = 20
	accountEvery    = 3 * time.Second
	accountMaxDelay = 10 * time.Second
	maxAccounts     = 1024
)

// Network prefix lengths: the unit a client is limited by.
const (
	networkBits4 = 32
	networkBits6 = 64
)

// networkOf is the network a client address is limited as: the address
// itself for IPv4 (IPv4-mapped IPv6 included), its /64 for IPv6. The zero
// Addr (a peer whose address is unknown) is the zero Prefix: one network.
func networkOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := networkBits4
	if a.Is6() {
		bits = networkBits6
	}
	p, _ := a.Prefix(bits)
	return p
}

// lru is a map bounded to max entries: adding one to a full map forgets
// the entry used least recently. It is not safe for concurrent use.
type lru[K comparable, V any] struct {
	max     int
	m       map[K]*list.Element
	order   *list.List // of *lruEntry; front is the most recently used
	evicted uint64
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, m: map[K]*list.Element{}, order: list.New()}
}

// get returns k's value, making it with mk when absent, and marks it used.
func (t *lru[K, V]) get(k K, mk func() V) V {
	if e := t.m[k]; e != nil {
		t.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val
	}
	if len(t.m) >= t.max {
		oldest := t.order.Back()
		t.order.Remove(oldest)
		delete(t.m, oldest.Value.(*lruEntry[K, V]).key)
		t.evicted++
	}
	v := mk()
	t.m[k] = t.order.PushFront(&lruEntry[K, V]{key: k, val: v})
	return v
}

// drop forgets every entry for which idle is true.
func (t *lru[K, V]) drop(idle func(V) bool) {
	for e := t.order.Front(); e != nil; {
		next := e.Next()
		if x := e.Value.(*lruEntry[K, V]); idle(x.val) {
			t.order.Remove(e)
			delete(t.m, x.key)
		}
		e = next
	}
}

func (t *lru[K, V]) len() int { return len(t.m) }

// limiter is the per-network token bucket of the login routes.
type limiter struct {
	every time.Duration
	burst int
	mu    sync.Mutex
	nets  *lru[netip.Prefix, *rate.Limiter]
}

func newLimiter(every time.Duration, burst, max int) *limiter {
	return &limiter{every: every, burst: burst, nets: newLRU[netip.Prefix, *rate.Limiter](max)}
}

// allow charges one request to ip's network.
func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.nets.get(networkOf(ip), func() *rate.Limiter { return rate.NewLimiter(rate.Every(l.every), l.burst) })
	return lim.AllowN(now, 1)
}

// sweep forgets networks whose bucket is full again (they are as new).
func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nets.drop(func(lim *rate.Limiter) bool { return lim.TokensAt(now) >= float64(l.burst) })
}

// evictions is how many networks were forgotten because the table was full.
func (l *limiter) evictions() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nets.evicted
}

// unknownAccount is the one bucket of every username that is not the
// configured one.
const unknownAccount = ""

// accountBudget holds each account's failed logins not yet forgiven.
type accountBudget struct {
	burst    float64
	every    time.Duration
	maxDelay time.Duration
	mu       sync.Mutex
	accounts *lru[string, *debt]
}

// debt is an account's failures not yet forgiven, as of at; it drains by
// one per accountEvery.
type debt struct {
	level float64
	at    time.Time
}

func newAccountBudget(burst int, every, maxDelay time.Duration, max int) *accountBudget {
	return &accountBudget{burst: float64(burst), every: every, maxDelay: maxDelay, accounts: newLRU[string, *debt](max)}
}

func (b *accountBudget) levelAt(d *debt, now time.Time) float64 {
	lvl := d.level - float64(now.Sub(d.at))/float64(b.every)
	if lvl < 0 {
		return 0
	}
	return lvl
}

// delay is how long an attempt on account must wait before it is checked:
// nothing within the budget, else until one more failure fits in it, at
// most maxDelay.
func (b *accountBudget) delay(account string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.accounts.get(account, func() *debt { return &debt{at: now} })
	over := b.levelAt(d, now) - b.burst + 1
	if over <= 0 {
		return 0
	}
	return min(time.Duration(over*float64(b.every)).Round(time.Millisecond), b.maxDelay)
}

// fail charges one failed login to account. The debt stops growing where
// the delay reaches maxDelay, so that an account recovers within maxDelay
// of the end of an attack.
func (b *accountBudget) fail(account string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.accounts.get(account, func() *debt { return &debt{at: now} })
	ceiling := b.burst - 1 + float64(b.maxDelay)/float64(b.every)
	d.level, d.at = min(b.levelAt(d, now)+1, ceiling), now
}

// sweep forgets accounts whose debt is paid.
func (b *accountBudget) sweep(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accounts.drop(func(d *debt) bool { return b.levelAt(d, now) == 0 })
}

// sleep waits d, or until ctx is done (then it returns ctx's error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
