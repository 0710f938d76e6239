#!/usr/bin/env bash
# build.sh — build the static hermes binary (the one definition of that build;
# `make build` and script/image.sh use it).
set -euo pipefail

prog=${0##*/}
root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	cat <<USAGE
usage: $prog [-o OUTPUT]

Builds a static (CGO_ENABLED=0) hermes binary with the commit stamped in.

  -o OUTPUT  where to write the binary (default: build/hermes in the repository)

Environment: GO selects the go command (default: go on PATH).
USAGE
}

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

out=$root/build/hermes
while (($# > 0)); do
	case $1 in
	-o | --output)
		(($# >= 2)) || die "$1 needs a value"
		out=$2
		shift 2
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

go=${GO:-go}
command -v "$go" >/dev/null 2>&1 ||
	die "the go command ($go) is not on PATH; install Go (see go.mod for the version) or set GO=/path/to/go"

commit=$(git -C "$root" rev-parse --verify -q HEAD 2>/dev/null || true)
mkdir -p "$(dirname "$out")"
cd "$root"
CGO_ENABLED=0 "$go" build -trimpath \
	-ldflags "-s -w -X github.com/hermes-agent/hermes/internal/buildinfo.commit=$commit" \
	-o "$out" ./cmd/hermes
