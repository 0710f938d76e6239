package privdrop

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExecAs replaces the process with path (argv, env) running as uid:gid with
// exactly the supplementary groups given. It returns only on failure, with
// the step that failed. The credentials change for every thread of the
// process (Go's setuid family applies to all threads), then exec(2) makes it
// permanent.
func ExecAs(uid, gid int, groups []int, path string, argv, env []string) error {
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid %d: %w", gid, err)
	}
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid {
		return fmt.Errorf("uid is still %d after setresuid %d", os.Geteuid(), uid)
	}
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}
