// Package volume prepares the data volume, HERMES_HOME, at boot (CONTRACT
// §3 step 3), and holds the owner lock of a home (CONTRACT §5). Init calls,
// in this order:
//
//  1. Preflight: create HERMES_HOME when it is missing, then decide from
//     stat modes and ids whether the hermes uid can traverse the path to
//     it, and read, write and enter it and each of its managed entries
//     (the Managed entries of profiles.Layout). When it cannot, init (as root) gives the
//     one offending entry to the hermes uid and adds the owner's rw(x)
//     bits; when that is refused (a NAS, rootless Podman, a user namespace
//     without the mapping) or when a parent directory blocks the way, boot
//     stops with an *UnusableError naming the path, its owner uid:gid and
//     mode, and the fix (HERMES_UID/PUID and HERMES_GID/PGID set to the
//     owner's ids, or chown/chmod on the host), never a bare "permission
//     denied" later. A read-only volume is reported the same way. Not root
//     (host mode, docker run --user), it checks the process's own access
//     and changes nothing.
//  2. Repair (root only): targeted ownership repair. HERMES_HOME itself
//     (not recursively), every entry of the managed directories' trees,
//     and the managed files at the top level that are not owned by the
//     hermes uid
//     get the hermes uid and gid; a regular file it repairs also gets u+rw,
//     a directory u+rwx. Nothing else under HERMES_HOME is touched: files a
//     person keeps or bind-mounts elsewhere in the volume keep their owner.
//     An entry whose owner is the hermes uid is left alone even when its
//     group differs (a group chosen on the host is kept). Failures are
//     counted in the Report and warned about, never fatal: Preflight has
//     already decided what is.
//  3. Seed: the missing Seeded directories of profiles.Layout (with its
//     modes: run/ 0700), owned by the
//     hermes uid, and, on first boot only (each file only when it is
//     missing, never overwriting one): SOUL.md, config.yaml (0640), .env
//     (0600, with the orchestrator's key, API_SERVER_KEY or the file
//     API_SERVER_KEY_FILE names, else a fresh one), auth.json from
//     HERMES_AUTH_JSON_BOOTSTRAP (0600) and gateway_state.json from
//     HERMES_GATEWAY_BOOTSTRAP_STATE=running. A .env without
//     API_SERVER_KEY gets one appended at every boot (the orchestrator's,
//     else a fresh one); a .env whose key differs from the
//     orchestrator's keeps its own, with one warning line saying so and
//     how to change it. An orchestrator's key that cannot work (empty,
//     several lines, absurd, an unreadable file) stops the boot.
//
// # Never following a symlink
//
// Root works below a directory that the hermes uid can write, so a
// compromised agent could plant links there. As root, every operation below
// HERMES_HOME goes through safefs or through openat with O_NOFOLLOW from a
// directory descriptor: a symlink is never followed, and Repair does not
// change a symlink either (neither the link nor its target: the owner of a
// link means nothing for access). Repair also leaves alone, and counts as
// skipped:
//   - a regular file with more than one hard link, because the other name
//     may be a file outside HERMES_HOME (/etc/shadow on the same
//     filesystem);
//   - devices and FIFOs (sockets too, without counting them: the control
//     socket a previous boot published in run/ is connected to, never read);
//   - mount points below HERMES_HOME (a bind mount from the host keeps its
//     owner, and Repair does not descend into it).
//
// Each managed file that root refuses to touch this way, and each write it
// skips because a lock was held past safefs.RootLockWait (Config.Locks is
// the boot's budget), is reported to Config.Refused as a safefs.Refusal:
// one "refusing <file>: <why>; <what was not done>" line (not chowned, not
// seeded, bootstrap skipped).
//
// A file is changed through a descriptor opened with O_NOFOLLOW and checked
// with fstat against what lstat saw, so a swap between the two changes
// nothing it should not. HERMES_HOME itself may be a symlink: that is the
// operator's choice, not an attack; but a HERMES_HOME that is a system
// directory (/, /etc, /root, /opt, ...) is refused as root, since Repair
// would give it and its "home" and "run" subdirectories to the hermes user.
// Not root, plain file calls are used:
// the files are the user's own, and host-mode users may symlink parts of
// their home on purpose.
//
// # The owner lock
//
// Several containers may share one volume; exactly one of them runs the
// gateways (CONTRACT §5). TryOwn takes an exclusive flock on
// HERMES_HOME/run/owner.lock and writes who holds it into the file (for
// the others' messages); WaitOwn retries until it gets it, so that a
// successor takes over when the owner goes away. The kernel drops the lock
// when its holder dies, whatever the file says. A filesystem without flock
// gives an error wrapping ErrUnsupported, for the caller to warn about
// instead of failing the boot.
package volume
