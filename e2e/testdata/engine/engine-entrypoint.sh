#!/bin/sh
# Starts dockerd inside the test's engine container. The container runs with
# a private cgroup namespace and CAP_SYS_ADMIN (not --privileged: the hosts
# this runs on may lack CAP_SYS_RESOURCE, which --privileged asks for), so
# the cgroup hierarchies it sees are its own; they are mounted read-only,
# and are mounted again read-write here for the engine's containers.
set -eu
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	# cgroup v2: one writable hierarchy; the processes move to a leaf so
	# that the root can hand its controllers down (as moby's hack/dind does).
	mount -o remount,rw /sys/fs/cgroup
	mkdir -p /sys/fs/cgroup/init
	xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
	sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control
else
	# cgroup v1: each hierarchy again, read-write, with its own controllers.
	awk '$3 == "cgroup" { print $2, $4 }' /proc/self/mounts | while read -r dir opts; do
		ctl=$(printf '%s\n' "$opts" | tr ',' '\n' | grep -Ev '^(ro|rw|nosuid|nodev|noexec|relatime)$' | paste -sd, -)
		umount "$dir"
		mount -t cgroup -o "$ctl" cgroup "$dir"
	done
fi
exec dockerd --host=unix:///var/run/docker.sock --storage-driver=overlay2 "$@"
