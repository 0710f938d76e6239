// Package procmem gives back what a long-lived process maps of its own
// executable once its start-up is over (ReleaseStartupPages): PID 1, and
// the `gateway run` redirect that only waits. It imports nothing internal.
package procmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages drops this process's mappings of the read-only,
// file-backed segments of its own executable (code and read-only data), so
// that the pages touched only while starting (every linked package's
// initialisation, and the kernel's fault-around of 64 KiB around each
// touch) stop counting against a long-lived PID 1. The pages stay in the
// page cache: the code that runs afterwards maps back, on first touch, only
// what it uses. Writable segments are never touched (their contents are
// the program's data). It returns how many bytes of mappings it released.
//
// The page cache is not dropped, so the memory cgroup of a container is
// charged as before until the kernel reclaims it; what shrinks is what the
// process maps (its PSS), which is what a long-lived PID 1 should keep
// small.
func ReleaseStartupPages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	released := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.ContainsRune(fields[1], 'w') || fields[1][0] != 'r' {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The address is the kernel's own mapping, given back to it as a
		// number: no Go pointer is involved.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return released, errno
		}
		released += int(end - start)
	}
	return released, sc.Err()
}
