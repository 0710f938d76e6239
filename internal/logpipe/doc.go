// Package logpipe is the log pipeline of the supervisor (CONTRACT §4): it
// captures the stdout and stderr of every service line by line and fans
// each line out to three sinks.
//
//   - The container's stdout or stderr (a Console, shared by all services),
//     raw: the line and "\n", no timestamp. Only complete lines are written,
//     so lines of different services never interleave; a final line without
//     a newline gets one. While a Console is muted (the main command holds
//     the terminal) lines are not copied to it and not counted as dropped.
//
//   - The service's log file, one record per line:
//
//     2006-01-02T15:04:05.000000Z <line>\n
//
//     a UTC timestamp with fixed-width microseconds (so lexical order is
//     chronological), one separator byte, the line. All lines read by one
//     read(2) share one timestamp. The file is rotated between records,
//     never inside one: when current plus the next batch would exceed
//     MaxBytes, current is renamed to an archive
//     "@20060102T150405.000000Z.s" (the rotation time, UTC) and a new
//     current is created; only the newest Keep archives are kept. If an
//     archive already sorts at or after that name (same microsecond, or a
//     clock that went back), the newest archive's stamp is reused with the
//     next suffix, "@<stamp>_000001.s", "@<stamp>_000002.s", …, so that
//     lexical order is always the order of rotations. Every file operation goes through
//     safefs from the trusted base (no symlink is followed below it);
//     created directories get mode 0750 and created files Mode (0640), both
//     owned by Owner, whatever the umask. A current that is not a regular
//     file with a single link is refused.
//
//   - An in-memory ring of at most 32 KiB per service (allocated on first
//     use) for Tail and Follow. A piece longer than a quarter of the ring is
//     truncated there (not in the other sinks).
//
// Only '\n' splits lines; "\r" and every other byte are data. A line longer
// than 64 KiB is split into pieces of 64 KiB (the last one shorter). Pieces
// after the first are marked: Entry.Continued in the ring, the separator
// '+' instead of ' ' in the file ("<ts>+<piece>"), and on the console each
// piece is followed by "\n". Counters count pieces as lines.
//
// Budgets (so that 100 services stay cheap): Pump reads at most 16 KiB at a
// time into a buffer taken from a pool only once its pipe is readable
// (RawConn.Read), and returns it before waiting again: an idle stream holds
// no read buffer, only the bytes of an unfinished line. The file writer is
// a goroutine that runs while formatted records are pending and exits when
// they are written; its buffers come from a pool too. An idle Log therefore
// holds its ring, its open file and dir descriptors, and no goroutine apart
// from the caller's two Pumps.
//
// Back-pressure: each sink (the file, each Console) has a bounded queue. A
// slow sink makes Pump wait when its queue is full, so the service blocks
// on its pipe and nothing is lost. A sink that has not accepted data for
// Config.StallTimeout is stalled: until it makes progress again, the lines
// meant for it are counted in Counters.Dropped and the other sinks go on. A
// failed file write (ENOSPC, EIO, a refused open) is counted in
// Counters.WriteErrors, the lines of the batch that were not written are
// counted as dropped (a record cut by a short write is truncated away), and
// the file is reopened for the next batch, so writing resumes once the
// cause is gone.
//
// Goroutines and shutdown: the caller runs each Pump in its own goroutine,
// one per stream per process start; Pump returns at EOF, once all writers
// of the pipe are gone. Each Console has one writer goroutine, its Run,
// started by the caller before services run and stopped by cancelling its
// context once they are gone. Log.Close writes what is queued for the file,
// closes it and ends Follow calls; a Pump still draining after Close only
// feeds the ring and the consoles.
package logpipe
