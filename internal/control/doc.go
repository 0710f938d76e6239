// Package control is the control API of a hermes supervisor (CONTRACT §4):
// HTTP/1.1 with JSON over a Unix socket, served by Server and spoken by
// Client, which the CLI (hermes svc) and the dashboard use.
//
// # Surface
//
// The whole API is one table in routes.go: a Go 1.22 ServeMux pattern, the
// permission it needs, and its handler. Services are listed, read,
// registered (PUT with a spec body), removed, started, stopped, restarted and
// signalled under /v1/services; /v1/services/{name}/logs streams a service's
// log as NDJSON, /v1/events streams status changes as server-sent events,
// /v1/gateways/{profile} registers (PUT, ?start=false by default) and removes
// (DELETE) a profile's gateway, whose spec the supervisor builds itself
// through Config.Gateways (without it those routes answer 404),
// /v1/health reports the boot phase and every counter, and
// /v1/counters/{source} (PUT) takes the counters another process reports
// (the dashboard's rate-limited logins and refused connections), shown in
// /v1/health as <source>_<name>. Errors travel as
// {"error": "<code>", "detail": "<sentence>"}; errors become HTTP statuses in
// exactly one function (errorStatus), and the client turns them back into an
// *APIError.
//
// # Authorisation
//
// Every connection carries the peer's credentials, read with SO_PEERCRED
// when it is accepted; file modes do not matter (the socket is 0666).
// authorize is the one decision: root may do everything; the hermes uid may
// read everything and may register, replace, start, stop, restart, signal
// and remove services that run as the hermes uid and gid, with dir and
// log_file inside HERMES_HOME; services of any other user are root's alone;
// every other uid is refused on every route, reads and health included. The
// reserved names (dashboard, gateway-*) are never registered or removed
// through /v1/services; root and the hermes uid register and remove
// gateways through /v1/gateways, choosing only the profile (validated with
// profiles.Validate, the one validator; a bad name is 400). Requests that carry an Origin or Referer header are
// refused, so a browser cannot be turned against the socket.
//
// # Connections
//
// Peer credentials are known at accept, so the bounds act before a byte is
// read (package netcap): at most MaxConnsPerUID connections per uid other
// than root and the hermes uid, MaxConns in all, and ReservedConns more
// that only root and the hermes uid may use, over every listener of a
// Server. A peer without rights gets its 403 with Connection: close and
// its connection is closed; a connection without a complete request header
// after HeaderTimeout is closed. Past RefusalsLogged refusals a minute,
// refusals are counted (control_refusals_unlogged), not logged.
//
// # Socket
//
// SocketPath is the one resolver of the socket's path (CONTRACT §2), used by
// init to listen and by clients to connect; Listen creates the socket safely
// (no symlinked or foreign directory in /tmp, no removal of a live
// supervisor's socket). ListenPublished is the owner's socket in
// HERMES_HOME/run, a directory the hermes uid owns: run/ is opened without
// following a symlink, and the stale socket's check and removal, the bind,
// the chmod and the removal when the listener closes are all done relative
// to that descriptor (ListenIn), never by path.
//
// # Shutdown
//
// Server.Run serves until its context is done. Then it stops accepting,
// ends every follow and event stream at once, and gives synchronous requests
// (a stop that waits for a process, say) up to Config.ShutdownGrace to
// finish; after that their contexts are cancelled. Run returns once every
// handler has returned, with nil after a clean shutdown.
package control
