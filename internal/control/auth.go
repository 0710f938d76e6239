package control

import (
	"context"
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// perm is what a route needs. Every route declares one; the zero value
// (undeclared) makes New fail.
type perm int

const (
	permUndeclared perm = iota
	// permRead: root and the hermes uid.
	permRead
	// permControl: start, stop, restart, signal. Root; the hermes uid for
	// services that run as the hermes uid (absent services pass: the
	// supervisor answers 404).
	permControl
	// permRegister: register or replace with a spec body. As permControl
	// for the service being replaced, and the new spec must run as the
	// hermes uid and gid with dir and log_file inside home. Never a
	// reserved name.
	permRegister
	// permRemove: as permControl. Never a reserved name.
	permRemove
	// permGateway: register or remove a profile gateway through
	// /v1/gateways. Root and the hermes uid (as permControl for an existing
	// gateway-<profile>): the spec is built by the supervisor itself and
	// runs as the hermes uid, so the caller chooses only the profile.
	permGateway
	// permReport: report counters (PUT /v1/counters/{source}). Root and
	// the hermes uid (the dashboard runs as the hermes uid).
	permReport
)

func (p perm) String() string {
	switch p {
	case permRead:
		return "read"
	case permControl:
		return "control"
	case permRegister:
		return "register"
	case permRemove:
		return "remove"
	case permGateway:
		return "gateway"
	case permReport:
		return "report"
	}
	return "undeclared"
}

// peer is the identity of the process at the other end of a connection,
// from SO_PEERCRED. known is false when the credentials could not be read;
// such a peer is refused everything.
type peer struct {
	uid, gid, pid int
	known         bool
}

type peerKey struct{}

// connContext attaches the peer's credentials, and the connection, to
// every request of a connection (http.Server.ConnContext).
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(context.WithValue(ctx, peerKey{}, peerOf(c)), connKey{}, c)
}

// peerOf reads the credentials of c's peer (c may be wrapped, as the
// bounded listener's connections are).
func peerOf(c net.Conn) peer {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = w.NetConn()
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return peer{}
	}
	return peer{uid: int(cred.Uid), gid: int(cred.Gid), pid: int(cred.Pid), known: true}
}

func peerFrom(ctx context.Context) peer {
	p, _ := ctx.Value(peerKey{}).(peer)
	return p
}

// privileged reports whether who may use the control API at all: root and
// the hermes uid.
func (pol policy) privileged(who peer) bool {
	return who.known && (who.uid == 0 || who.uid == pol.hermesUID && pol.hermesUID > 0)
}

// policy is what authorize needs to know about the installation.
type policy struct {
	home                 string // HERMES_HOME, absolute and clean
	hermesUID, hermesGID int
	// reserved reports the runtime's names (Supervisor.Reserved).
	reserved func(name string) bool
}

// access describes one request for authorize.
type access struct {
	perm perm
	name string
	// existing is the service as it is now; nil when it does not exist.
	existing *supervise.Status
	// spec is the spec to register, as received (permRegister only).
	spec *supervise.Spec
}

// authorize is the one authorisation decision of the control API (CONTRACT
// §4). It returns nil, or an error wrapping ErrForbidden, or (for a spec
// that cannot be normalised) one wrapping supervise.ErrInvalid.
func (pol policy) authorize(who peer, a access) error {
	isRoot := who.known && who.uid == 0
	switch {
	case a.perm == permUndeclared:
		return fmt.Errorf("%w: route has no permission", ErrForbidden)
	case !pol.privileged(who):
		if !who.known {
			return fmt.Errorf("%w: the caller's credentials could not be read", ErrForbidden)
		}
		return fmt.Errorf("%w: uid %d may not use the control API (only root and the hermes uid %d may)", ErrForbidden, who.uid, pol.hermesUID)
	}
	if (a.perm == permRegister || a.perm == permRemove) && pol.reserved(a.name) {
		return fmt.Errorf("%w: %s is reserved for the runtime and is not registered or removed through /v1/services (gateways go through /v1/gateways)", ErrForbidden, a.name)
	}
	if isRoot || a.perm == permRead || a.perm == permReport {
		return nil
	}
	// From here on the caller is the hermes uid.
	if a.existing != nil && a.existing.UID != pol.hermesUID {
		return fmt.Errorf("%w: %s runs as uid %d; only root may manage it", ErrForbidden, a.name, a.existing.UID)
	}
	if a.perm != permRegister {
		return nil
	}
	if a.spec == nil {
		return fmt.Errorf("%w: no spec to check", ErrForbidden)
	}
	return pol.checkSpec(*a.spec)
}

// checkSpec checks a spec that the hermes uid wants to register: it must
// run as the hermes uid and gid, with dir and log_file inside home after
// normalisation (so ".." cannot climb out; the check is lexical because the
// supervisor opens log files without following symlinks, and the process
// runs as the hermes uid anyway).
func (pol policy) checkSpec(spec supervise.Spec) error {
	n, err := spec.Normalize(pol.home)
	if err != nil {
		return err
	}
	uid, gid, err := supervise.ResolveUser(n.User, pol.hermesUID, pol.hermesGID)
	if err != nil {
		return err
	}
	if uid != pol.hermesUID || gid != pol.hermesGID {
		return fmt.Errorf("%w: service %s would run as %d:%d; the hermes user may only register services that run as %d:%d", ErrForbidden, n.Name, uid, gid, pol.hermesUID, pol.hermesGID)
	}
	if !safefs.Inside(n.Dir, pol.home) {
		return fmt.Errorf("%w: service %s: dir %s is outside HERMES_HOME (%s)", ErrForbidden, n.Name, n.Dir, pol.home)
	}
	if !safefs.Inside(n.LogFile, pol.home) {
		return fmt.Errorf("%w: service %s: log_file %s is outside HERMES_HOME (%s)", ErrForbidden, n.Name, n.LogFile, pol.home)
	}
	return nil
}
