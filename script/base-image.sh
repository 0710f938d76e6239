#!/usr/bin/env bash
# base-image.sh — make the local Debian bookworm base image that hermes' image
# and container tests build on, without any registry: debootstrap a minimal
# root filesystem from a Debian mirror and `docker import` it.
#
# The image is cached: it is rebuilt only when the recipe (suite, variant,
# package list, architecture, recipe revision) changes. The recipe's hash is
# kept in the image label org.hermes-agent.base.inputs.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<USAGE
usage: $prog [--tag TAG] [--mirror URL] [--force]

Builds the local Debian base image (debootstrap --variant=minbase + docker import).

  --tag TAG     image tag to make (default: \$HERMES_BASE_IMAGE or hermes-test-base:bookworm)
  --mirror URL  Debian mirror (default: \$HERMES_DEBIAN_MIRROR or http://deb.debian.org/debian)
  --force       rebuild even when an up-to-date image exists

Needs root, debootstrap (apt-get install debootstrap) and a running Docker engine.
USAGE
}

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

tag=${HERMES_BASE_IMAGE:-hermes-test-base:bookworm}
mirror=${HERMES_DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=0

while (($# > 0)); do
	case $1 in
	--tag)
		(($# >= 2)) || die "--tag needs a value"
		tag=$2
		shift 2
		;;
	--mirror)
		(($# >= 2)) || die "--mirror needs a value"
		mirror=$2
		shift 2
		;;
	--force)
		force=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done

# The recipe. Bump recipe_rev when the way the root filesystem is made or
# trimmed changes; any change here makes a new base image.
suite=bookworm
variant=minbase
packages=(procps ncurses-bin util-linux)
recipe_rev=2

command -v docker >/dev/null 2>&1 ||
	die "docker is not installed; install the Docker engine and client (Debian: apt-get install docker.io)"
if ! docker_err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
	die "cannot reach the Docker engine (${docker_err:-no answer}); start dockerd or set DOCKER_HOST"
fi
command -v dpkg >/dev/null 2>&1 ||
	die "dpkg is not installed; this script runs on Debian or Ubuntu hosts (it needs dpkg and debootstrap)"
arch=$(dpkg --print-architecture)

inputs="suite=$suite variant=$variant arch=$arch packages=${packages[*]} recipe=$recipe_rev"
hash=$(printf '%s' "$inputs" | sha256sum | cut -c1-16)
label_inputs=org.hermes-agent.base.inputs

current_hash() {
	docker image inspect --format "{{ index .Config.Labels \"$label_inputs\" }}" "$tag" 2>/dev/null || true
}

# Two builds at once (make image and go test, say) must not both bootstrap.
lock=${TMPDIR:-/tmp}/hermes-base-image.lock
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi

if ((force == 0)) && [[ $(current_hash) == "$hash" ]]; then
	printf '%s: %s is up to date (inputs %s)\n' "$prog" "$tag" "$hash" >&2
	exit 0
fi

command -v debootstrap >/dev/null 2>&1 ||
	die "debootstrap is not installed; install it (Debian: apt-get install debootstrap), or build on a published base: script/image.sh --base debian:bookworm-slim"
(($(id -u) == 0)) ||
	die "debootstrap needs root; run as root (sudo $0) or build on a published base: script/image.sh --base debian:bookworm-slim"

work=$(mktemp -d "${TMPDIR:-/tmp}/hermes-base.XXXXXX")
rootfs=$work/rootfs
cleanup() {
	# debootstrap mounts /proc and /sys inside the target while it works; an
	# interrupted run can leave them mounted. Never delete across mounts.
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v p="$work/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r)
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

printf '%s: bootstrapping Debian %s (%s, %s) from %s\n' "$prog" "$suite" "$variant" "$arch" "$mirror" >&2
start=$SECONDS
include=$(
	IFS=,
	printf '%s' "${packages[*]}"
)
if ! debootstrap --variant="$variant" --arch="$arch" --include="$include" \
	"$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
	tail -n 30 "$work/debootstrap.log" >&2
	if [[ -f $rootfs/debootstrap/debootstrap.log ]]; then
		tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
	fi
	die "debootstrap failed (log above); check that $mirror is reachable (HERMES_DEBIAN_MIRROR selects another mirror)"
fi

# Trim what a container never needs, the way debian:*-slim does.
rm -rf "${rootfs:?}"/var/cache/apt/archives/*.deb \
	"${rootfs:?}"/var/cache/apt/*.bin \
	"${rootfs:?}"/var/lib/apt/lists/* \
	"${rootfs:?}"/usr/share/doc/* \
	"${rootfs:?}"/usr/share/man/* \
	"${rootfs:?}"/usr/share/info/* \
	"${rootfs:?}"/usr/share/locale/* \
	"${rootfs:?}"/dev/* \
	"${rootfs:?}"/tmp/* \
	"${rootfs:?}"/var/tmp/*
find "$rootfs/var/log" -type f -delete
# The engine provides these per container; do not bake the build host's.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
printf 'deb %s %s main\n' "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"

old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
printf '%s: importing as %s\n' "$prog" "$tag" >&2
tar --numeric-owner -C "$rootfs" -c . |
	docker import \
		--change "LABEL $label_inputs=$hash" \
		--change "LABEL org.hermes-agent.base.recipe=\"$inputs\"" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' \
		- "$tag" >/dev/null

[[ $(current_hash) == "$hash" ]] || die "docker import did not produce $tag with inputs $hash"
# Drop the image this one replaces, unless something still uses it.
if [[ -n $old_id && $old_id != $(docker image inspect --format '{{.Id}}' "$tag") ]]; then
	docker rmi "$old_id" >/dev/null 2>&1 || true
fi
printf '%s: built %s (inputs %s) in %ds\n' "$prog" "$tag" "$hash" $((SECONDS - start)) >&2
