#!/usr/bin/env bash
# Boot with 100 profiles whose gateways were running: time from exec of PID 1
# until every gateway_state.json says "running", for
#   hermes  hermes init (reconciler + supervisor + log pipeline in one process)
#   s6      the reference's design: s6-svscan with one s6-supervise per gateway
#           and an s6-log per gateway (`s6-log 1 n10 s1000000 T`), running the
#           same gateway processes (`hermes -p P gateway run --no-supervise`);
#           its boot reconciler (Python) cannot be reproduced here, so the
#           service directories are laid out beforehand and its time is not
#           counted: a lower bound for the reference.
# Each is run REPEATS times, alternating, each time in a fresh PID and network
# namespace on a fresh copy of the same home. Needs root, s6, iproute2.
# Usage: bench/profiles.sh [N] [REPEATS]     (HERMES_BIN: the binary)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${HERMES_BIN:-$here/../build/hermes}
n=${1:-100}
repeats=${2:-5}
[ -x "$bin" ] || { echo "profiles.sh: $bin missing: run make build" >&2; exit 1; }
command -v s6-svscan >/dev/null || { echo "profiles.sh: needs s6 (apt-get install s6)" >&2; exit 1; }
scratch=$(mktemp -d /var/tmp/hermes-profiles-bench.XXXXXX)
chmod 755 "$scratch"
trap 'rm -rf "$scratch"' EXIT

# A template home: n profiles, all with desired_state running.
tmpl=$scratch/template
mkdir -p "$tmpl"
chown 10000:10000 "$tmpl"
export HERMES_HOME=$tmpl HERMES_CONTROL_SOCKET=$scratch/none.sock
start=$(date +%s.%N)
for ((i = 0; i < n; i++)); do
    "$bin" profile create "p$i" >/dev/null
done
end=$(date +%s.%N)
echo "profile create: $n profiles in $(echo "$end - $start" | bc) s (no supervisor answering)" >&2
for ((i = 0; i < n; i++)); do
    printf '{"desired_state":"running"}\n' > "$tmpl/profiles/p$i/gateway_state.json"
done
chown -R 10000:10000 "$tmpl"
unset HERMES_HOME HERMES_CONTROL_SOCKET

# wait_all DIR START: seconds from START until every profile's state is running.
wait_all() {
    local home=$1 t0=$2 deadline=$((SECONDS + 120))
    while :; do
        local ok=0
        for ((i = 0; i < n; i++)); do
            grep -q '"gateway_state": "running"' "$home/profiles/p$i/gateway_state.json" 2>/dev/null && ok=$((ok + 1))
        done
        if [ "$ok" -eq "$n" ]; then
            echo "$(date +%s.%N) - $t0" | bc
            return 0
        fi
        [ $SECONDS -lt $deadline ] || { echo "timeout ($ok/$n running)" >&2; return 1; }
        sleep 0.02
    done
}

run_hermes() {
    local home=$scratch/h-hermes
    rm -rf "$home"; cp -a "$tmpl" "$home"
    local t0; t0=$(date +%s.%N)
    HERMES_HOME=$home HERMES_CONTROL_SOCKET=$scratch/hermes.sock HERMES_SERVICES_DIR=/nonexistent \
        unshare --net --pid --fork --mount-proc --kill-child sh -c 'ip link set lo up && exec "$@"' sh \
        "$bin" init -- sleep 100000 >/dev/null 2>&1 &
    local pid=$!
    wait_all "$home" "$t0"
    kill -TERM "$(cat /proc/$pid/task/$pid/children | awk '{print $1}')" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

run_s6() {
    local home=$scratch/h-s6 scan=$scratch/scan
    rm -rf "$home" "$scan"; cp -a "$tmpl" "$home"
    mkdir -p "$scan"
    for ((i = 0; i < n; i++)); do
        mkdir -p "$scan/gateway-p$i/log" "$home/logs/gateways/p$i"
        printf '#!/bin/sh\nexec 2>&1\nexport HERMES_HOME=%s HOME=%s HERMES_SUPERVISED_CHILD=1\nexec setpriv --reuid 10000 --regid 10000 --clear-groups %s -p p%d gateway run --no-supervise --replace\n' \
            "$home" "$home" "$bin" "$i" > "$scan/gateway-p$i/run"
        printf '#!/bin/sh\nexec s6-log 1 n10 s1000000 T %s\n' "$home/logs/gateways/p$i" > "$scan/gateway-p$i/log/run"
        chmod +x "$scan/gateway-p$i/run" "$scan/gateway-p$i/log/run"
    done
    touch -d '1 hour ago' "$scan"
    local t0; t0=$(date +%s.%N)
    unshare --net --pid --fork --mount-proc --kill-child sh -c 'ip link set lo up && exec "$@"' sh \
        s6-svscan "$scan" >/dev/null 2>&1 &
    local pid=$!
    wait_all "$home" "$t0"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

echo "tool,repeat,seconds_to_all_running"
for ((r = 0; r < repeats; r++)); do
    if ((r % 2 == 0)); then
        echo "hermes,$r,$(run_hermes)"; echo "s6,$r,$(run_s6)"
    else
        echo "s6,$r,$(run_s6)"; echo "hermes,$r,$(run_hermes)"
    fi
done
