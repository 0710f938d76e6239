package control

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermes-agent/hermes/internal/netcap"
)

// The bounds of the control socket's connections (CONTRACT §4, as amended):
// peer credentials are known at accept, so the bounds act before a byte is
// read. Root and the hermes uid are not bound per uid and always have
// ReservedConns more slots than other peers can take, so that
// `hermes svc status` is served while other uids hold all they may.
const (
	// MaxConnsPerUID is how many connections a peer that is neither root
	// nor the hermes uid may hold open.
	MaxConnsPerUID = 16
	// MaxConns is how many connections may be open in all before peers
	// other than root and the hermes uid are refused.
	MaxConns = 256
	// ReservedConns are the connections beyond MaxConns that only root and
	// the hermes uid may open.
	ReservedConns = 32
	// HeaderTimeout is how long a connection may take to send a complete
	// request header.
	HeaderTimeout = time.Second
	// RefusalsLogged is how many refusals a minute are logged; the rest
	// are counted (control_refusals_unlogged).
	RefusalsLogged = netcap.RefusalsLogged
)

// connLimits are the bounds above, for netcap.
var connLimits = netcap.Limits{PerClient: MaxConnsPerUID, Total: MaxConns, Reserve: ReservedConns}

// connCounters count what the server did to connections.
type connCounters struct {
	// refused: connections of peers without rights, closed after their
	// 403.
	refused atomic.Uint64
	// headerTimeouts: connections closed without a complete request
	// header after HeaderTimeout.
	headerTimeouts atomic.Uint64
}

// identify is the netcap identity of a connection: its peer's uid, and
// whether that is root or the hermes uid.
func (s *Server) identify(c net.Conn) netcap.Client {
	who := peerOf(c)
	if !who.known {
		return netcap.Client{Key: "unknown"}
	}
	return netcap.Client{Key: "uid " + strconv.Itoa(who.uid), Privileged: s.pol.privileged(who)}
}

// refusedConn logs a connection closed at accept (within the log quota).
func (s *Server) refusedConn(r netcap.Refusal) {
	s.logRefusal("control: refused a connection over the bound", "peer", r.Client.Key, "bound", r.Bound, "open", r.Open, "limit", r.Limit)
}

// logRefusal logs a refusal when the quota lets it through; the others
// are counted (control_refusals_unlogged), and the next line logged says
// how many were not.
func (s *Server) logRefusal(msg string, args ...any) {
	ok, missed := s.quota.Take()
	if !ok {
		return
	}
	if missed > 0 {
		args = append(args, "unlogged_before", missed)
	}
	s.log.Warn(msg, args...)
}

// connListener wraps the bounded listener's connections in *conn.
type connListener struct {
	*netcap.Listener
	s *Server
}

func (l connListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c.(*netcap.Conn), s: l.s, accepted: time.Now()}, nil
}

// conn is one connection of the control server: it knows whether a
// request header arrived, so that closing one that never sent a complete
// header within HeaderTimeout is counted.
type conn struct {
	*netcap.Conn
	s        *Server
	accepted time.Time
	served   atomic.Bool // a request reached the handler
	once     sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		if c.served.Load() || time.Since(c.accepted) < HeaderTimeout {
			return
		}
		c.s.conns.headerTimeouts.Add(1)
		c.s.logRefusal("control: closed a connection that sent no complete request header", "peer", c.Client().Key, "timeout", HeaderTimeout.String())
	})
	return c.Conn.Close()
}

type connKey struct{}

// markServed records that the request's connection sent a complete header.
func markServed(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.served.Store(true)
	}
}
