#!/bin/bash
# Adapter: hermes-svcadd — `hermes init` as PID 1 whose N services are
# registered at run time through the control socket (`hermes svc add`), by
# the main command as the hermes uid, the way an unprivileged user adds
# services to a running container; the hermes adapter (hermes.sh) declares
# the same services in a services directory at boot instead. The main
# command adds svc0..svc{N-1} (restart always, logs in the default place,
# $HERMES_HOME/logs/NAME/current), then becomes `sleep infinity` (a copy
# named main-idle). Services run as the hermes uid, so CMD must be able to
# run as uid 10000: meant for the mem metric (the driver's sleeps).
# Contract: see ../../../shared/bench/README.md ("Adapter contract").
# HERMES_BIN: the binary to measure (default: build/hermes of this repository).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${HERMES_BIN:-$here/../../build/hermes}
cmd=${1:?usage: hermes-svcadd.sh info|layout DIR N CMD|run DIR}
case "$cmd" in
info)
    [ -x "$bin" ] || { echo "hermes-svcadd.sh: $bin is missing: run make build (or set HERMES_BIN)" >&2; exit 1; }
    cat <<INFO
name=hermes-svcadd
version=$("$bin" version)
kind=supervisor
max_services=0
forwards=stdout
timestamps=iso8601
log_glob=home/logs/svc{i}/current home/logs/svc{i}/@*
profiles=default
restart_floor=none: first restart after 50 ms, doubling to a 30 s cap, reset after 60 s up
INFO
    ;;
layout)
    dir=${2:?DIR}; n=${3:?N}; svc=${4:?CMD}
    chmod 755 "$dir"
    mkdir -p "$dir/home" "$dir/bin"
    cp "$(command -v sleep)" "$dir/bin/main-idle"
    {
        echo '#!/bin/sh'
        echo 'set -e'
        echo "\"$bin\" svc ready --timeout 30s >/dev/null"
        for ((i = 0; i < n; i++)); do
            # shellcheck disable=SC2086  # CMD is a plain word list
            echo "\"$bin\" svc add svc$i --restart always -- $svc >/dev/null"
        done
        echo "exec \"$dir/bin/main-idle\" infinity"
    } > "$dir/bin/register"
    chmod 755 "$dir/bin/register"
    ;;
run)
    dir=${2:?DIR}
    export HERMES_HOME="$dir/home" HERMES_CONTROL_SOCKET="$dir/control.sock"
    # shellcheck disable=SC2086  # BENCH_WRAP is a word list on purpose
    exec unshare --pid --fork --mount-proc -- ${BENCH_WRAP:-} "$bin" init -- "$dir/bin/register"
    ;;
*) echo "hermes-svcadd.sh: unknown subcommand $cmd" >&2; exit 100 ;;
esac
