// Package gateway is a profile's gateway: the state file it shares with the
// supervisor, the pid lock that makes it the one gateway of its profile, the
// one builder of its service spec, and the process itself (hermes gateway
// run), an HTTP server on the profile's gateway.host:gateway.port.
//
// # State file
//
// gateway_state.json in the profile's directory (CONTRACT §5) is a JSON
// object with two writers whose keys are disjoint:
//
//   - the supervisor (root) records what an operator wants, through
//     RecordDesired: desired_state ("running" | "stopped") and
//     desired_updated_at; init's DesiredQueue, the supervisor's OnOperator
//     hook, queues every operator's start and stop of a gateway and writes
//     them in order, off the supervisor's loop;
//   - the gateway process (the hermes uid) records what it is doing, through
//     UpdateRuntime: gateway_state, pid, start_time, updated_at and
//     exit_reason.
//
// Each writer reads, modifies and writes the file while it holds an
// exclusive flock on the file itself, and keeps every key it does not own
// (the other writer's, the reference's, unknown ones). The write is a
// temporary file, fsync and rename, so the path's inode changes with every
// write: after taking the lock a writer compares the locked descriptor's
// inode with the path's (fstat against lstat) and starts over when another
// writer has replaced the file in the meantime. Readers (ReadState) take no
// lock: a rename is atomic, so they see one complete version. ReadState
// tolerates a UTF-8 byte order mark and reports a missing file (wrapping
// fs.ErrNotExist) apart from an unreadable or corrupt one (wrapping
// ErrCorrupt); callers treat both as "no recorded state", never as fatal.
// The supervisor's writer runs as root under a hermes-writable tree, so
// every file operation it does goes through safefs (no symlink followed, no
// hard-linked or special file read or replaced, the file ends owned by the
// hermes uid, mode 0644), and its wait for the lock is its caller's
// (safefs.RootWait: 1 s, within the boot's budget, ended by the context):
// a lock held longer is an error wrapping safefs.ErrLocked and nothing is
// written. ReadProfileState is ReadState through safefs, for root. Every
// flock of the package (the state file, gateway.pid) is taken through
// safefs.Lock.
//
// # Observation
//
// Observe is the one reader of a gateway's state: the state file corrected
// by the pid lock (a live gateway holds it, a dead one never says it
// stopped), with the supervisor's view carried beside it when the caller
// has one. The dashboard (/api/status, /api/profiles), hermes gateway
// status, dump and doctor show its State; the boot reconciler acts on its
// Recorded state.
//
// # Pid lock
//
// gateway.pid is held with an exclusive, non-blocking flock for the whole
// life of a gateway, and holds {"pid", "host", "start_time", ...} for
// messages and for --replace. A lock is released by the kernel when its
// holder dies, so a free lock means no gateway runs, whatever the file says
// (a pid in a stale file may belong to another PID namespace: equal pid is
// not the same process), and the file is taken over. A held lock is a live
// gateway: LockPID refuses with ErrRunning, or with replace stops the holder
// when it can be verified to be a gateway in this PID namespace (its pid,
// process start time and command line match), SIGTERM first and SIGKILL
// when it outlives its drain time. A holder that cannot be verified runs in
// another container on the same volume, and is never signalled. SweepStale
// removes gateway.pid and processes.json that no live process holds.
//
// # Service
//
// ServiceSpec is the one builder of the gateway-<profile> spec (CONTRACT
// §4), and Slots registers and removes it on a supervisor for the control
// API and the reconciler. The spec marks the process as the supervised
// gateway; MayRedirect, which hermes gateway run asks, reads the marks back
// (the supervised redirect of CONTRACT §5).
//
// # Run
//
// Run is the gateway process in the foreground. Its contract: it takes the
// pid lock (or fails), records gateway_state "starting", reads the
// profile's configuration, prints a banner containing "Hermes Gateway
// Starting" on its stdout, listens on host:port (at most netcap.TCP
// connections per client address and in all: one more is closed at accept,
// and logged at most 10 times a minute), and records "running".
// It serves the profile's agent (agent.Agent.Handler: one route table behind
// one access log, a line per request in the gateway's log), whose table
// holds the gateway's own routes too: GET /health and GET /v1/health,
// public ({"status", "platform", "profile", "state"}), and GET
// /health/detailed behind the key (the upstream reachable now, the
// sessions store writable now, the last upstream error and when, the
// requests in flight, the drain). When its context is done (the
// CLI cancels it on SIGTERM or SIGINT) it records "draining", answers new
// requests 503 while http.Server.Shutdown lets running ones finish within
// gateway.drain_timeout, records "stopped", releases the pid lock and
// returns nil: an intended stop, which the supervisor's on-failure policy
// does not restart. A configuration that cannot work (no port, a bad
// config.yaml, a missing profile) records "startup_failed" and returns an
// error wrapping ErrConfig, which the CLI turns into exit code 78
// (EX_CONFIG: the supervisor marks the service failed instead of
// restarting it); any other failure to start (the port is in use) records
// "startup_failed" with the reason and returns a plain error (exit 1, and
// restarted with backoff).
package gateway
