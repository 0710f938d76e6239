package authgate

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestLoginLimitPerNetwork: issue 9's attack. 50 addresses of one IPv6 /64
// (behind a trusted proxy, through the real handler) got 490 guesses to the
// password check where one address gets 10: the limit is per network.
func TestLoginLimitPerNetwork(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{strictLimit: true, tweak: trust("127.0.0.1")})
	form := "username=admin&password=wrong"
	ct := "Content-Type: application/x-www-form-urlencoded"
	checked, limited := 0, 0
	for i := 0; i < 50; i++ {
		for j := 0; j < loginBurst; j++ {
			xff := fmt.Sprintf("X-Forwarded-For: 2001:db8:1:2:%x::%x", i, j+1)
			switch r := s.do(t, "POST", "/auth/password-login", []string{ct, xff}, form); r.status {
			case 401:
				checked++
			case 429:
				limited++
			default:
				t.Fatalf("address %d/%d: %s", i, j, r)
			}
		}
	}
	if checked != loginBurst || limited != 50*loginBurst-loginBurst {
		t.Errorf("50 addresses of one /64: %d guesses reached the password check, %d were refused; want %d and %d", checked, limited, loginBurst, 49*loginBurst)
	}
}

// TestLoginLimitTableFull: issue 9's attack. With the limiter's table full
// (65,536 networks), a client never seen before was refused: real users
// were locked out. Now the least recently used network is forgotten.
func TestLoginLimitTableFull(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{strictLimit: true, tweak: trust("127.0.0.1")})
	now := s.clock.Now()
	for i := 0; i < 65536; i++ {
		b := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		s.gate.limits.allow(netip.AddrFrom4(b), now)
	}
	r := s.do(t, "POST", "/auth/password-login", []string{"Content-Type: application/x-www-form-urlencoded", "X-Forwarded-For: 192.0.2.77"}, "username=admin&password=wrong")
	if r.status != 401 {
		t.Errorf("a new client with the table full: %s", r)
	}
}

// TestAccountBudget: guesses from many networks (each within its own
// limit) are charged to the account they name: past accountBurst failures
// every attempt on it waits, at most accountMaxDelay, and is never refused,
// so the real user still gets in. Every unknown username shares one bucket.
func TestAccountBudget(t *testing.T) {
	ct := "Content-Type: application/x-www-form-urlencoded"
	// Each attempt comes from a /64 of its own: the network limit never
	// answers.
	n := 0
	fresh := func() string { n++; return fmt.Sprintf("X-Forwarded-For: 2001:db8:%x::1", n) }
	t.Run("the configured account", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{strictLimit: true, tweak: trust("127.0.0.1")})
		for i := 0; i < accountBurst+5; i++ {
			if r := s.do(t, "POST", "/auth/password-login", []string{ct, fresh()}, "username=admin&password=wrong"); r.status != 401 {
				t.Fatalf("guess %d: %s", i, r)
			}
			if i == accountBurst-1 && len(s.clock.slept()) != 0 {
				t.Fatalf("delayed within the budget: %v", s.clock.slept())
			}
		}
		got := s.clock.slept()
		want := []time.Duration{accountEvery, 2 * accountEvery, 3 * accountEvery, accountMaxDelay, accountMaxDelay}
		if !slices.Equal(got, want) {
			t.Errorf("delays past the budget: %v, want %v", got, want)
		}
		// The real user, during the attack: delayed, not refused.
		r, c := s.loginPassword(t, "admin", thePassword, "", fresh())
		if c == nil || r.status != 303 {
			t.Fatalf("the right password during the attack: %s", r)
		}
		if d := s.clock.slept(); d[len(d)-1] != accountMaxDelay {
			t.Errorf("the real user's delay: %v", d)
		}
		// Within accountMaxDelay of the attack's end, no delay.
		s.clock.Advance(accountMaxDelay)
		before := len(s.clock.slept())
		s.do(t, "POST", "/auth/password-login", []string{ct, fresh()}, "username=admin&password=wrong")
		if d := s.clock.slept(); len(d) != before {
			t.Errorf("still delayed %v after the attack", d[before:])
		}
		cs := s.gate.Counters()
		if cs[CounterDelayedLogins] != 6 || cs[CounterFailedLogins] != accountBurst+6 || cs[CounterRateLimitedLogins] != 0 {
			t.Errorf("counters: %v", cs)
		}
	})
	t.Run("unknown usernames share one bucket", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{strictLimit: true, tweak: trust("127.0.0.1")})
		for i := 0; i < accountBurst+1; i++ {
			form := fmt.Sprintf("username=user%d&password=wrong", i)
			if r := s.do(t, "POST", "/auth/password-login", []string{ct, fresh()}, form); r.status != 401 {
				t.Fatalf("guess %d: %s", i, r)
			}
		}
		if got := s.clock.slept(); !slices.Equal(got, []time.Duration{accountEvery}) {
			t.Errorf("delays of unknown names: %v, want one of %v", got, accountEvery)
		}
		// The configured account has its own budget.
		if _, c := s.loginPassword(t, "admin", thePassword, "", fresh()); c == nil {
			t.Fatal("no login")
		}
		if got := s.clock.slept(); len(got) != 1 {
			t.Errorf("the configured account was delayed by unknown names: %v", got)
		}
	})
}

// TestLimiterTables: networks are /32 and /64; both tables forget the
// entry used least recently when full, and count what they forget.
func TestLimiterTables(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	} {
		if got := networkOf(netip.MustParseAddr(c.in)).String(); got != c.want {
			t.Errorf("networkOf(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	if got := networkOf(netip.Addr{}); got.IsValid() {
		t.Errorf("networkOf(zero) = %v", got)
	}
	l := newLimiter(loginEvery, 1, 3)
	now := time.Now()
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		if !l.allow(a(ip), now) {
			t.Fatalf("%s refused at once", ip)
		}
	}
	l.allow(a("10.0.0.1"), now) // 10.0.0.1 is used again: 10.0.0.2 is the oldest
	if !l.allow(a("10.0.0.4"), now) {
		t.Fatal("a new network refused with the table full")
	}
	if l.allow(a("10.0.0.1"), now) || l.allow(a("10.0.0.3"), now) {
		t.Error("a recently used network was forgotten")
	}
	if !l.allow(a("10.0.0.2"), now) {
		t.Error("the least recently used network was kept")
	}
	if l.nets.len() != 3 || l.evictions() != 2 {
		t.Errorf("%d entries, %d evictions", l.nets.len(), l.evictions())
	}
	l.sweep(now.Add(loginEvery))
	if l.nets.len() != 0 {
		t.Errorf("%d entries after the sweep", l.nets.len())
	}
	b := newAccountBudget(1, time.Second, time.Second, 2)
	b.fail("a", now)
	b.fail("b", now)
	b.fail("c", now) // forgets a
	if b.delay("a", now) != 0 || b.delay("c", now) == 0 {
		t.Errorf("account table: a %v, c %v", b.delay("a", now), b.delay("c", now))
	}
	b.sweep(now.Add(time.Hour))
	if b.accounts.len() != 0 {
		t.Errorf("%d accounts after the sweep", b.accounts.len())
	}
}
