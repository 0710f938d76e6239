package privdrop

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// initCaps are the capabilities init needs when it runs as root: to give
// the main command and the services the hermes user (SETUID, SETGID), to
// repair and seed ownership under HERMES_HOME (CHOWN, FOWNER), to work in
// directories that belong to the hermes user (DAC_OVERRIDE), and to signal
// processes of another user (KILL). Docker's default set has all of them.
var initCaps = []struct {
	cap  int
	name string
}{
	{unix.CAP_SETUID, "CAP_SETUID"},
	{unix.CAP_SETGID, "CAP_SETGID"},
	{unix.CAP_CHOWN, "CAP_CHOWN"},
	{unix.CAP_FOWNER, "CAP_FOWNER"},
	{unix.CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"},
	{unix.CAP_KILL, "CAP_KILL"},
}

// MissingInitCapabilities returns the names of the capabilities that init,
// running as root, needs and does not have in its effective set (a
// container started with cap_drop: ALL), in a fixed order; nil when it
// has them all.
func MissingInitCapabilities() ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("reading capabilities: %w", err)
	}
	var missing []string
	for _, c := range initCaps {
		if data[c.cap/32].Effective&(1<<(uint(c.cap)%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	return missing, nil
}
