#!/bin/bash
# Adapter: hermes — `hermes init` as PID 1 with N services declared in a
# HERMES_SERVICES_DIR, each logging to an ISO-8601-timestamped, size-rotated
# file with a raw copy of every line on the container's stdout (stderr lines
# go to stderr). The main command is `sleep infinity` (hermes always runs one;
# the harness leaves `sleep` processes out of its memory sums, as it does for
# the services). Services run as root so that the probes can write to the
# harness's directories.
# Contract: see ../../../shared/bench/README.md ("Adapter contract").
# HERMES_BIN: the binary to measure (default: build/hermes of this repository;
# build it with `make build`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${HERMES_BIN:-$here/../../build/hermes}
cmd=${1:?usage: hermes.sh info|layout DIR N CMD|run DIR}
case "$cmd" in
info)
    [ -x "$bin" ] || { echo "hermes.sh: $bin is missing: run make build (or set HERMES_BIN)" >&2; exit 1; }
    cat <<INFO
name=hermes
version=$("$bin" version)
kind=supervisor
max_services=0
forwards=stdout
timestamps=iso8601
log_glob=log/svc{i}/current log/svc{i}/@*
profiles=default
restart_floor=none: first restart after 50 ms, doubling to a 30 s cap, reset after 60 s up
INFO
    ;;
layout)
    dir=${2:?DIR}; n=${3:?N}; svc=${4:?CMD}
    maxb=${BENCH_LOG_MAXBYTES:-10000000}; keep=${BENCH_LOG_KEEP:-20}
    # The main command runs as the hermes uid (10000), as in the image: it
    # must be able to enter DIR (mkdtemp made it 0700) and HERMES_HOME.
    chmod 755 "$dir"
    mkdir -p "$dir/services.d" "$dir/home" "$dir/bin"
    cp "$(command -v sleep)" "$dir/bin/main-idle"
    argv=$(printf '"%s", ' $svc)
    for ((i = 0; i < n; i++)); do
        mkdir -p "$dir/log/svc$i"
        cat > "$dir/services.d/svc$i.yaml" <<SPEC
argv: [${argv%, }]
user: root
restart: always
log_file: $dir/log/svc$i/current
log_max_bytes: $maxb
log_keep: $keep
SPEC
    done
    ;;
run)
    dir=${2:?DIR}
    export HERMES_HOME="$dir/home" HERMES_SERVICES_DIR="$dir/services.d" HERMES_CONTROL_SOCKET="$dir/control.sock"
    # shellcheck disable=SC2086  # BENCH_WRAP is a word list on purpose
    exec unshare --pid --fork --mount-proc -- ${BENCH_WRAP:-} "$bin" init -- "$dir/bin/main-idle" infinity
    ;;
*) echo "hermes.sh: unknown subcommand $cmd" >&2; exit 100 ;;
esac
