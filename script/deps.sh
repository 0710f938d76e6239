#!/usr/bin/env bash
# deps.sh — install what the test suite needs when it is missing, so that
# script/test.sh works on a fresh machine (Go and a Docker engine are the only
# things it assumes). It installs Debian packages with apt-get (as root, only
# the missing ones, after one `apt-get update`), downloads the Go modules,
# and then checks every program the tests run, failing with the package to
# install when one is still missing. It changes nothing when all is there.
#
#   HERMES_DEPS=0   skip the install and only check (a machine you manage by hand)
set -euo pipefail
cd "$(dirname "$0")/.."

prog=${0##*/}
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || die "Go is missing: install Go $(sed -n 's/^go //p' go.mod) (expected at /usr/local/go or on PATH)"

# Debian packages the tests use, and why:
#   debootstrap       the local base image of the container tests (script/base-image.sh)
#   bsdutils          script(1): a pseudo-terminal for the TTY tests
#   ncurses-bin       tput in the TTY tests
#   procps util-linux ps, setpriv, unshare, nsenter
#   iproute2          loopback and veth pairs in the tests' network namespaces
#   tmux              the interactive chat on a real terminal
#   chromium          the dashboard in a real browser
#   nginx-light       the TLS reverse proxy (and the /hermes/ prefix) in front of it
#   docker-compose    checking docker-compose.yml
#   sqlite3           reading a sessions store the way an operator would
#   gcc libc6-dev     cgo for go test -race
#   git ca-certificates  the tests read the repository; the module proxy is HTTPS
#   podman            the image under Podman, rootful and rootless (e2e/container_podman_test.go)
#   uidmap            newuidmap/newgidmap: the user namespace of rootless Podman
#   slirp4netns       rootless Podman's network, through which its published port answers
#   passwd            useradd/usermod: the rootless test user and its /etc/subuid, /etc/subgid ranges
#   curl              the swarm test's probes of the published ports, from the host
#   bash-completion zsh fish  the shells that source hermes completion's scripts (e2e/cli_completion_test.go)
#   prometheus        a real Prometheus scraping a container, and promtool check metrics (e2e/container_metrics_test.go)
#   make              make test, make fuzz, make faults (the suite itself is script/test.sh)
pkgs=(make debootstrap bsdutils ncurses-bin procps util-linux iproute2 tmux chromium nginx-light
      docker-compose sqlite3 gcc libc6-dev git ca-certificates podman uidmap slirp4netns passwd
      curl bash-completion zsh fish prometheus)
# program → package, checked after the install
progs=(make:make debootstrap:debootstrap script:bsdutils tput:ncurses-bin ps:procps unshare:util-linux
       ip:iproute2 tmux:tmux chromium:chromium nginx:nginx-light docker-compose:docker-compose
       sqlite3:sqlite3 gcc:gcc git:git podman:podman newuidmap:uidmap slirp4netns:slirp4netns
       useradd:passwd setpriv:util-linux nsenter:util-linux curl:curl zsh:zsh fish:fish
       prometheus:prometheus promtool:prometheus)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
	if [ "${HERMES_DEPS:-1}" = 0 ]; then
		echo "$prog: missing (HERMES_DEPS=0, not installing): ${missing[*]}" >&2
	elif [ "$(id -u)" != 0 ]; then
		die "missing Debian packages: ${missing[*]}; run as root (the tests need root anyway) or: sudo apt-get install ${missing[*]}"
	else
		echo "$prog: installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
fi

for pp in "${progs[@]}"; do
	command -v "${pp%%:*}" >/dev/null || die "${pp%%:*} is missing: apt-get install ${pp#*:}"
done
# kubectl is no Debian package: the Kubernetes manifests' test (deploy/) renders
# them with kubectl kustomize, offline.
command -v kubectl >/dev/null || die "kubectl is missing: install the Kubernetes client (kubectl kustomize renders deploy/kubernetes in the tests)"
command -v docker >/dev/null || die "the docker client is missing: the container tests need a Docker engine"
docker info >/dev/null 2>&1 || die "the Docker engine is not answering (docker info failed): the container tests need it"

go mod download
