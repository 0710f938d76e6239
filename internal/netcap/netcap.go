// Package netcap bounds the connections a server keeps open, so that one
// client cannot take the file descriptors of the process or the slots of
// everyone else: at most Limits.PerClient connections per client (an
// address, a uid) and Limits.Total in all, with Limits.Reserve more that only
// privileged clients may use. A connection over a bound is closed as soon
// as it is accepted, before a byte is read, and counted. The control socket,
// the gateways and the dashboard all wrap their listeners with a Limiter.
//
// Quota is the other half of a refusal: it lets a few log lines through per
// minute and counts the rest, so that refusals cannot flood the log either.
package netcap

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Limits bound the connections of a Listener. A zero field is no bound.
type Limits struct {
	// PerClient is how many connections one client that is not
	// privileged may hold open.
	PerClient int
	// Total is how many connections may be open in all before clients
	// that are not privileged are refused.
	Total int
	// Reserve is how many connections beyond Total only privileged
	// clients may open (with Total 0, Reserve is not used).
	Reserve int
}

// TCP are the bounds of the gateways and the dashboard: 64 connections per
// client address, 1,024 in all.
var TCP = Limits{PerClient: 64, Total: 1024}

// Client is who is at the other end of a connection, as the Listener's
// Identify says.
type Client struct {
	// Key is what PerClient counts by: an address, a uid.
	Key string
	// Privileged clients are not bound by PerClient and may use the
	// Reserve; Total+Reserve bounds them too.
	Privileged bool
}

// The bounds a Refusal names.
const (
	BoundClient = "per-client"
	BoundTotal  = "total"
)

// Refusal describes one connection closed at accept.
type Refusal struct {
	Client Client
	// Bound is BoundClient or BoundTotal.
	Bound string
	// Open is what the bound counted: the client's connections
	// (BoundClient) or every open one (BoundTotal).
	Open int
	// Limit is the bound itself.
	Limit int
}

// Config configures a Limiter.
type Config struct {
	Limits Limits
	// Identify says who a new connection is from; nil means ByAddress.
	Identify func(net.Conn) Client
	// OnRefuse, when set, is called in Accept for every connection closed
	// over a bound (after it is closed and counted). It must be quick:
	// Accept waits for it.
	OnRefuse func(Refusal)
}

// Stats count what a Limiter did since it was made.
type Stats struct {
	Accepted   uint64 // connections handed to the server
	OverClient uint64 // closed at accept: the client held PerClient
	OverTotal  uint64 // closed at accept: Total (or Total+Reserve) were open
	Open       int    // connections open now
}

// Limiter holds the bounds and the open connections of one server, over
// every listener it wraps (a server on two sockets has one set of bounds).
// Make one with New.
type Limiter struct {
	cfg Config

	mu        sync.Mutex     // guards open and perClient
	open      int            // every open connection
	perClient map[string]int // open connections by Client.Key

	accepted, overClient, overTotal atomic.Uint64
}

// New returns a Limiter with the bounds of cfg.
func New(cfg Config) *Limiter {
	if cfg.Identify == nil {
		cfg.Identify = ByAddress
	}
	return &Limiter{cfg: cfg, perClient: map[string]int{}}
}

// Wrap returns ln bounded by l. Closing the Listener closes ln; connections
// already accepted stay open until they are closed.
func (l *Limiter) Wrap(ln net.Listener) *Listener {
	return &Listener{Listener: ln, l: l}
}

// Listener is a net.Listener whose Accept refuses connections over its
// Limiter's bounds. Its connections are *Conn; closing one frees its slot.
type Listener struct {
	net.Listener
	l *Limiter
}

// Accept returns the next connection within the bounds. Connections over a
// bound are closed, counted and passed to Config.OnRefuse; Accept then
// waits for the next one. It returns the wrapped listener's errors.
func (ln *Listener) Accept() (net.Conn, error) {
	l := ln.l
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		who := l.cfg.Identify(c)
		if r, ok := l.admit(who); !ok {
			c.Close()
			if r.Bound == BoundClient {
				l.overClient.Add(1)
			} else {
				l.overTotal.Add(1)
			}
			if l.cfg.OnRefuse != nil {
				l.cfg.OnRefuse(r)
			}
			continue
		}
		l.accepted.Add(1)
		return &Conn{Conn: c, l: l, client: who}, nil
	}
}

// Limiter returns the Limiter that bounds ln.
func (ln *Listener) Limiter() *Limiter { return ln.l }

// admit takes a slot for who, or says which bound refuses it.
func (l *Limiter) admit(who Client) (Refusal, bool) {
	lim := l.cfg.Limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim.Total > 0 {
		total := lim.Total
		if who.Privileged {
			total += lim.Reserve
		}
		if l.open >= total {
			return Refusal{Client: who, Bound: BoundTotal, Open: l.open, Limit: total}, false
		}
	}
	n := l.perClient[who.Key]
	if !who.Privileged && lim.PerClient > 0 && n >= lim.PerClient {
		return Refusal{Client: who, Bound: BoundClient, Open: n, Limit: lim.PerClient}, false
	}
	l.open++
	l.perClient[who.Key] = n + 1
	return Refusal{}, true
}

func (l *Limiter) release(who Client) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.perClient[who.Key] - 1; n > 0 {
		l.perClient[who.Key] = n
	} else {
		delete(l.perClient, who.Key)
	}
}

// Stats returns the Limiter's counters and its open connections.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	return Stats{Accepted: l.accepted.Load(), OverClient: l.overClient.Load(), OverTotal: l.overTotal.Load(), Open: open}
}

// Conn is a connection accepted by a Listener. Closing it frees its slot
// (once, however often it is closed).
type Conn struct {
	net.Conn
	l      *Limiter
	client Client
	once   sync.Once
}

// Close closes the connection and frees its slot.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.client) })
	return err
}

// Client returns who the connection is from.
func (c *Conn) Client() Client { return c.client }

// NetConn returns the connection the Listener accepted (a *net.TCPConn, a
// *net.UnixConn), for what needs the real one (peer credentials).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite shuts down the writing side, when the wrapped connection can
// (net/http half-closes before closing, so that the client reads the last
// answer rather than a reset).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// ReadFrom keeps the wrapped connection's fast path (sendfile, splice)
// for io.Copy into the connection.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(c.Conn, r)
}

// ByAddress identifies a TCP client by its address: an IPv4 address (or
// an IPv4-mapped IPv6 one) is one client, and an IPv6 address counts as its
// /64, the block one host is usually given (so that an attacker with a /64
// is one client, not 2^64). Other connections (Unix sockets) count by their
// remote address as a string.
func ByAddress(c net.Conn) Client {
	return Client{Key: AddressKey(c.RemoteAddr())}
}

// AddressKey is ByAddress's key of a remote address.
func AddressKey(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
