package initd

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// resetIgnoredSignals gives back the default disposition to every signal
// that init inherited as ignored (SIG_IGN survives exec, so it would reach
// the main command and the services). The Go runtime installs handlers
// for most signals, and exec resets those; but it respects an inherited
// SIG_IGN for the signals it leaves to the C library (32, "SIGCANCEL"),
// so without this a launcher that ignores one would pass it on. It runs
// before init subscribes to any signal. As PID 1 of a namespace, a signal
// with the default disposition is not delivered to init from inside it, so
// this never makes init killable there.
//
// The kernel's struct sigaction starts with the handler on every
// architecture, and SIG_DFL with no flags, no restorer and an empty mask
// is all zero, so the raw call needs no per-architecture layout.
func resetIgnoredSignals() {
	const sigIgn = 1
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		var old [4]uint64
		if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); errno != 0 {
			continue
		}
		if old[0] != sigIgn {
			continue
		}
		var dfl [4]uint64
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
}
