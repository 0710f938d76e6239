#!/usr/bin/env bash
# image.sh — build the hermes container image from a pre-built static binary
# (`make image` and the container tests use it; nothing is compiled inside
# Docker). The build context is staged in a temporary directory holding only
# the Dockerfile, the binary and docker/, so it stays tiny.
set -euo pipefail

prog=${0##*/}
root=$(cd "$(dirname "$0")/.." && pwd)

local_base_default=hermes-test-base:bookworm

usage() {
	cat <<USAGE
usage: $prog [--binary PATH] [--tag TAG] [--base IMAGE] [--git-sha SHA]

  --binary PATH  pre-built static hermes binary (default: build one into
                 build/hermes with script/build.sh)
  --tag TAG      image tag (default: \$IMAGE or hermes:dev)
  --base IMAGE   base image (default: \$BASE_IMAGE or $local_base_default).
                 A hermes-test-base:* base is made locally by
                 script/base-image.sh when missing or out of date; any other
                 base (debian:bookworm-slim, say) is used as the engine finds it.
  --git-sha SHA  commit baked into /opt/hermes/.hermes_build_sha (default:
                 git rev-parse HEAD; none when empty)

The classic builder is used (DOCKER_BUILDKIT=0) unless DOCKER_BUILDKIT is set:
it needs no buildx plugin and never asks a registry about a local base image.
USAGE
}

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

binary=
tag=${IMAGE:-hermes:dev}
base=${BASE_IMAGE:-$local_base_default}
git_sha=$(git -C "$root" rev-parse --verify -q HEAD 2>/dev/null || true)

while (($# > 0)); do
	case $1 in
	--binary | --tag | --base | --git-sha)
		(($# >= 2)) || die "$1 needs a value"
		case $1 in
		--binary) binary=$2 ;;
		--tag) tag=$2 ;;
		--base) base=$2 ;;
		--git-sha) git_sha=$2 ;;
		esac
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

if [[ -n $git_sha && ! $git_sha =~ ^[0-9a-f]{4,64}$ ]]; then
	die "--git-sha must be a lower-case hex commit id, got '$git_sha'"
fi

command -v docker >/dev/null 2>&1 ||
	die "docker is not installed; install the Docker engine and client (Debian: apt-get install docker.io)"
if ! docker_err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
	die "cannot reach the Docker engine (${docker_err:-no answer}); start dockerd or set DOCKER_HOST"
fi

if [[ -z $binary ]]; then
	binary=$root/build/hermes
	"$root/script/build.sh" -o "$binary"
fi
[[ -f $binary && -x $binary ]] || die "binary $binary does not exist or is not executable; build it with make build"
if [[ $(head -c 4 "$binary" | od -An -c | tr -d ' ') != '177ELF' ]]; then
	die "binary $binary is not an ELF executable"
fi
go=${GO:-go}
if command -v "$go" >/dev/null 2>&1 && "$go" version -m "$binary" 2>/dev/null | grep -q 'CGO_ENABLED=1'; then
	die "binary $binary was built with cgo; the image needs a static binary: build it with script/build.sh (CGO_ENABLED=0)"
fi

case $base in
hermes-test-base:* | "${HERMES_BASE_IMAGE:-$local_base_default}")
	"$root/script/base-image.sh" --tag "$base"
	;;
esac

ctx=$(mktemp -d "${TMPDIR:-/tmp}/hermes-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/build"
cp "$binary" "$ctx/build/hermes"
chmod 0755 "$ctx/build/hermes"
cp "$root/Dockerfile" "$root/.dockerignore" "$ctx/"
if [[ -d $root/docker ]]; then
	cp -R "$root/docker" "$ctx/docker"
fi

printf '%s: building %s on %s (commit %s)\n' "$prog" "$tag" "$base" "${git_sha:-none}" >&2
start=$SECONDS
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --force-rm \
	--build-arg "BASE_IMAGE=$base" \
	--build-arg "HERMES_GIT_SHA=$git_sha" \
	--tag "$tag" \
	--file "$ctx/Dockerfile" \
	"$ctx"
printf '%s: built %s in %ds\n' "$prog" "$tag" $((SECONDS - start)) >&2
