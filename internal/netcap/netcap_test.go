package netcap

import (
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chanListener hands out the connections sent on its channel.
type chanListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { close(l.closed); return nil }
func (l *chanListener) Addr() net.Addr { return &net.UnixAddr{Name: "test", Net: "unix"} }

// client is a fake connection from key; closed tells whether the Listener
// closed it.
type client struct {
	net.Conn
	key    string
	closed chan struct{}
}

func (c *client) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

func (c *client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// harness runs Accept in a goroutine and reports each accepted connection.
type harness struct {
	t        *testing.T
	in       *chanListener
	ln       *Listener
	accepted chan net.Conn
	refused  chan Refusal
}

func newHarness(t *testing.T, lim Limits, privileged ...string) *harness {
	h := &harness{t: t, in: newChanListener(), accepted: make(chan net.Conn), refused: make(chan Refusal, 100)}
	h.ln = New(Config{
		Limits: lim,
		Identify: func(c net.Conn) Client {
			k := c.(*client).key
			for _, p := range privileged {
				if k == p {
					return Client{Key: k, Privileged: true}
				}
			}
			return Client{Key: k}
		},
		OnRefuse: func(r Refusal) { h.refused <- r },
	}).Wrap(h.in)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			h.accepted <- c
		}
	}()
	t.Cleanup(func() { h.ln.Close(); <-done })
	return h
}

// dial offers a connection from key and returns the accepted *Conn, or nil
// and the refusal.
func (h *harness) dial(key string) (net.Conn, *Refusal) {
	h.t.Helper()
	c := &client{key: key, closed: make(chan struct{})}
	h.in.conns <- c
	select {
	case a := <-h.accepted:
		return a, nil
	case r := <-h.refused:
		if !c.isClosed() {
			h.t.Errorf("refused connection from %s was not closed", key)
		}
		return nil, &r
	case <-time.After(10 * time.Second):
		h.t.Fatal("Accept neither accepted nor refused")
	}
	return nil, nil
}

func TestLimits(t *testing.T) {
	h := newHarness(t, Limits{PerClient: 2, Total: 4, Reserve: 1}, "root")
	var held []net.Conn
	steps := []struct {
		key   string
		bound string // "" accepted
	}{
		{"a", ""}, {"a", ""}, {"a", BoundClient}, // per client
		{"b", ""}, {"c", ""}, // 4 open: Total reached
		{"d", BoundTotal},    // ordinary clients refused
		{"root", ""},         // the reserve
		{"root", BoundTotal}, // Total+Reserve
	}
	for i, s := range steps {
		c, r := h.dial(s.key)
		switch {
		case s.bound == "" && r != nil:
			t.Fatalf("step %d: %s refused (%+v), want accepted", i, s.key, *r)
		case s.bound != "" && r == nil:
			t.Fatalf("step %d: %s accepted, want refused by the %s bound", i, s.key, s.bound)
		case r != nil && r.Bound != s.bound:
			t.Fatalf("step %d: %s refused by the %s bound, want %s", i, s.key, r.Bound, s.bound)
		}
		if c != nil {
			held = append(held, c)
		}
	}
	got, want := h.ln.Limiter().Stats(), Stats{Accepted: 5, OverClient: 1, OverTotal: 2, Open: 5}
	if got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	// Closing frees the slot, once however often: with a, c and root's
	// connections closed, a may open one more and no third.
	held[0].Close()
	held[0].Close()
	held[3].Close() // c
	held[4].Close() // root
	if got := h.ln.Limiter().Stats().Open; got != 2 {
		t.Fatalf("open after closing 3 = %d, want 2", got)
	}
	if c, r := h.dial("a"); r != nil {
		t.Fatalf("after a close, a is still refused: %+v", *r)
	} else {
		held = append(held, c)
	}
	if _, r := h.dial("a"); r == nil || r.Bound != BoundClient {
		t.Fatalf("a's third connection: %+v, want refused per client", r)
	}
	for _, c := range held {
		c.Close()
	}
	if got := h.ln.Limiter().Stats().Open; got != 0 {
		t.Errorf("open after closing everything = %d, want 0", got)
	}
}

// TestPrivilegedNotPerClient: a privileged client is bound only by
// Total+Reserve.
func TestPrivilegedNotPerClient(t *testing.T) {
	h := newHarness(t, Limits{PerClient: 1, Total: 3, Reserve: 2}, "root")
	for i := range 5 {
		if _, r := h.dial("root"); r != nil {
			t.Fatalf("root's connection %d refused: %+v", i+1, *r)
		}
	}
	if _, r := h.dial("root"); r == nil || r.Limit != 5 {
		t.Fatalf("root's 6th connection: %+v, want refused at Total+Reserve = 5", r)
	}
	if _, r := h.dial("x"); r == nil || r.Bound != BoundTotal {
		t.Fatalf("x with 5 open: %+v, want refused by the total bound", r)
	}
}

func TestNoLimits(t *testing.T) {
	h := newHarness(t, Limits{})
	for i := range 50 {
		if _, r := h.dial("a"); r != nil {
			t.Fatalf("connection %d refused without limits: %+v", i, *r)
		}
	}
}

func TestAcceptError(t *testing.T) {
	in := newChanListener()
	ln := New(Config{Limits: TCP}).Wrap(in)
	in.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after close = %v, want net.ErrClosed", err)
	}
}

func TestAddressKey(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 4000}, "127.0.0.2"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 1}, "10.1.2.3"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 2}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 2}, "2001:db8:1:3::/64"},
		{&net.UnixAddr{Name: "@", Net: "unix"}, "@"},
	} {
		if got := AddressKey(tt.addr); got != tt.want {
			t.Errorf("AddressKey(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestTCPPerAddress: on a real loopback listener, one address is held to
// PerClient while another is served.
func TestTCPPerAddress(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(Config{Limits: Limits{PerClient: 3, Total: 100}}).Wrap(raw)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.Write([]byte("x")); b := make([]byte, 1); c.Read(b); c.Close() }()
		}
	}()
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp4", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	served := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1)
		n, _ := c.Read(b)
		return n == 1
	}
	for i := range 3 {
		if c := dialFrom("127.0.0.2"); !served(c) {
			t.Fatalf("127.0.0.2's connection %d was not served", i+1)
		}
	}
	if c := dialFrom("127.0.0.2"); served(c) {
		t.Error("127.0.0.2's 4th connection was served, want closed at accept")
	}
	if c := dialFrom("127.0.0.3"); !served(c) {
		t.Error("127.0.0.3 was not served while 127.0.0.2 held its bound")
	}
	if got := ln.Limiter().Stats().OverClient; got != 1 {
		t.Errorf("OverClient = %d, want 1", got)
	}
}

func TestQuota(t *testing.T) {
	now := time.Unix(1000, 0)
	q := NewQuota(3, func() time.Time { return now })
	var got []string
	for range 6 {
		ok, missed := q.Take()
		got = append(got, strconv.FormatBool(ok)+"/"+strconv.FormatUint(missed, 10))
		now = now.Add(time.Second)
	}
	now = now.Add(QuotaWindow)
	ok, missed := q.Take()
	got = append(got, strconv.FormatBool(ok)+"/"+strconv.FormatUint(missed, 10))
	want := "true/0 true/0 true/0 false/0 false/0 false/0 true/3"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("Take sequence = %s, want %s", s, want)
	}
	if q.Dropped() != 3 {
		t.Errorf("Dropped = %d, want 3", q.Dropped())
	}
}

func TestLogRefusals(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	on := LogRefusals(log, "gateway")
	for range RefusalsLogged + 5 {
		on(Refusal{Client: Client{Key: "127.0.0.2"}, Bound: BoundClient, Open: 64, Limit: 64})
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != RefusalsLogged {
		t.Fatalf("%d lines for %d refusals, want %d:\n%s", len(lines), RefusalsLogged+5, RefusalsLogged, buf.String())
	}
	want := `level=WARN msg="gateway: refused a connection over the bound" client=127.0.0.2 bound=per-client open=64 limit=64`
	if lines[0] != want {
		t.Errorf("line = %s\nwant   %s", lines[0], want)
	}
}
