#!/usr/bin/env bash
# fresh-machine.sh — prove that the README's test command sets itself up on a
# fresh machine: Go, a Docker engine, root, and no extra Debian package.
#
# It makes a clean clone of a commit of this repository, starts a fresh
# container of the local Debian base image (script/base-image.sh: debootstrap
# minbase, so none of the packages the tests use) with the Docker socket, the
# machine's Go (/usr/local/go), its docker client and kubectl (the two tools
# this kind of machine comes with that are no Debian package of the base) and
# its trusted certificates (SSL_CERT_FILE) mounted read-only, and runs in it, from the clone, script/deps.sh (which must
# install every missing package and then find every program the tests run)
# and a short subset of the tests that need what it installed: the chat on a
# real terminal (tmux) and the dashboard's login in Chromium behind nginx.
# The Go modules come through the module proxy, as on a fresh machine; with
# --modcache the machine's module cache is mounted read-only instead.
#
# The whole suite is script/test.sh (the README's command): --full runs that instead of the subset (long,
# and heavy on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."

prog=${0##*/}
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

usage() {
	cat <<USAGE
usage: $prog [--ref REF] [--image IMAGE] [--run REGEX] [--modcache] [--full] [--keep]

  --ref REF      the commit to clone (default: HEAD; uncommitted changes are not in it)
  --image IMAGE  the fresh machine's image (default: \$HERMES_BASE_IMAGE or
                 hermes-test-base:bookworm, made by script/base-image.sh when missing)
  --run REGEX    the tests to run after deps.sh (default: $default_run)
  --modcache     mount the Go module cache (\$(go env GOMODCACHE)) read-only instead of
                 downloading the modules
  --full         run script/test.sh (the README's command, the whole suite) instead
  --keep         keep the container (named hermes-fresh-<pid>) for inspection

Needs root and a Docker engine. Exit status: the container's (125: docker could not start it).
USAGE
}

default_run='^(TestChat|TestBrowserLoginOverTLS)$'
ref=HEAD
image=${HERMES_BASE_IMAGE:-hermes-test-base:bookworm}
run=$default_run
modcache=0
full=0
keep=0
while (($# > 0)); do
	case $1 in
	--ref) (($# >= 2)) || die "--ref needs a value"; ref=$2; shift 2 ;;
	--image) (($# >= 2)) || die "--image needs a value"; image=$2; shift 2 ;;
	--run) (($# >= 2)) || die "--run needs a value"; run=$2; shift 2 ;;
	--modcache) modcache=1; shift ;;
	--full) full=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root (the tests need root, and so does the container)"
export PATH=/usr/local/go/bin:$PATH
[ -x /usr/local/go/bin/go ] || die "Go is missing at /usr/local/go (the fresh machine mounts it from there)"
docker info >/dev/null 2>&1 || die "the Docker engine is not answering (docker info failed)"
commit=$(git rev-parse --verify -q "$ref^{commit}") || die "no commit $ref"

if ! docker image inspect "$image" >/dev/null 2>&1; then
	[ "$image" = "${HERMES_BASE_IMAGE:-hermes-test-base:bookworm}" ] || die "no image $image"
	echo "$prog: making the base image $image"
	command -v debootstrap >/dev/null || die "debootstrap is missing to make $image: apt-get install debootstrap (or run script/deps.sh)"
	script/base-image.sh --tag "$image"
fi

work=$(mktemp -d /var/tmp/hermes-fresh.XXXXXX)
name=hermes-fresh-$$
cleanup() {
	if [ "$keep" = 0 ]; then
		docker rm -f "$name" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "$prog: clean clone of $commit"
git clone -q --no-local --no-checkout "$PWD" "$work/hermes"
git -C "$work/hermes" checkout -q --detach "$commit"

mounts=(-v /var/run/docker.sock:/var/run/docker.sock -v /usr/local/go:/usr/local/go:ro -v "$work/hermes:/src")
for tool in docker kubectl; do
	p=$(command -v "$tool") || die "$tool is missing on this machine"
	mounts+=(-v "$(readlink -f "$p"):/usr/local/bin/$tool:ro")
done
# The machine's trusted certificates (a workplace may reach the module proxy
# through its own authority, which this machine trusts and a bare Debian does
# not), beside the container's own bundle, which deps.sh installs.
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
	if [ -f "$ca" ]; then
		mounts+=(-v "$ca:/run/host-ca.crt:ro" -e SSL_CERT_FILE=/run/host-ca.crt)
		break
	fi
done
if [ "$modcache" = 1 ]; then
	mounts+=(-v "$(go env GOMODCACHE):/root/go/pkg/mod:ro" -e GOFLAGS=-mod=mod -e GOPROXY=off)
fi

if [ "$full" = 1 ]; then
	tests='script/test.sh'
else
	# The README's test command, less its lint and the rest of the suite: what
	# deps.sh installed, used by the tests that need it.
	tests="script/deps.sh && export PATH=/usr/local/go/bin:\$PATH && go test -count=1 -run '$run' -v ./e2e/ 2>&1 | grep --line-buffered -E '^(=== RUN|--- |PASS|FAIL|ok|panic)' ; exit \${PIPESTATUS[0]}"
fi

echo "$prog: a fresh container of $image: $tests"
set +e
# Every capability but CAP_SYS_RESOURCE (which a nested engine may not have
# to give, so --privileged can fail), and no seccomp or AppArmor filter: the
# tests make PID, mount and network namespaces and switch uids, as root on a
# machine does.
docker run --name "$name" --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
	--security-opt apparmor=unconfined --shm-size 1g -e HERMES_CI=1 -e CI=true -w /src "${mounts[@]}" "$image" \
	bash -c "set -euo pipefail; echo \"fresh machine: \$(. /etc/os-release; echo \$PRETTY_NAME), \$(dpkg-query -W -f='\${binary:Package}\n' | wc -l) packages\"; \
		for p in chromium nginx debootstrap tmux sqlite3 podman; do command -v \$p >/dev/null && echo \"already there: \$p\"; done; \
		$tests"
code=$?
set -e
echo "$prog: exit status $code"
exit "$code"
