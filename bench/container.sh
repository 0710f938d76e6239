#!/usr/bin/env bash
# container.sh — start-up and shutdown of the image, against a baseline.
#
# For each of two ways of running the same image, REPEATS times, alternating:
#   hermes    the image as built: `docker run -d IMAGE` (hermes init as PID 1,
#             CMD gateway run: gateway-default supervised, its logs piped)
#   baseline  `docker run -d --init --entrypoint /opt/hermes/bin/hermes IMAGE
#             gateway run --no-supervise`: Docker's tini as PID 1, the gateway
#             in the foreground, no supervision, no log files, no seeding
# it measures
#   start     from just before `docker run -d` until GET /health of the default
#             gateway (port 8642, on the container's bridge address) answers
#             200; polled with curl every ~5 ms, so ±5 ms
#   stop      how long `docker stop` (default 10 s timeout) takes
#   mem       the container's memory (cgroup, `docker stats`) once healthy
# and prints each run, then the medians, and the image's size.
#
# Usage: bench/container.sh [IMAGE] [REPEATS]     (default hermes:dev, 7)
# Needs a local Docker engine whose bridge addresses the host can reach, curl.
set -euo pipefail

image=${1:-hermes:dev}
repeats=${2:-7}
prog=${0##*/}
label=org.hermes-agent.bench=$$

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

command -v docker >/dev/null || die "docker is not installed"
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
docker image inspect "$image" >/dev/null 2>&1 || die "no image $image: run make image"

cleanup() {
	local ids
	ids=$(docker ps -aq --filter "label=$label")
	if [[ -n $ids ]]; then
		# shellcheck disable=SC2086 # one id per word
		docker rm -f -v $ids >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# run_one KIND: prints "start_ms stop_ms mem" for one container of KIND.
run_one() {
	local kind=$1 name id ip t0 t1 t2 t3 mem
	name=hermes-bench-$kind-$$-$RANDOM
	local args=(run -d --name "$name" --label "$label")
	if [[ $kind == baseline ]]; then
		args+=(--init --entrypoint /opt/hermes/bin/hermes "$image" gateway run --no-supervise)
	else
		args+=("$image")
	fi
	t0=$(now_ms)
	id=$(docker "${args[@]}")
	ip=$(docker inspect --format '{{.NetworkSettings.IPAddress}}' "$id")
	[[ -n $ip ]] || die "$name has no bridge address"
	local deadline=$((t0 + 30000))
	until curl -sf -o /dev/null --max-time 1 "http://$ip:8642/health"; do
		(($(now_ms) < deadline)) || die "$name: /health did not answer within 30 s (docker logs $name)"
		sleep 0.005
	done
	t1=$(now_ms)
	mem=$(docker stats --no-stream --format '{{.MemUsage}}' "$id" | cut -d/ -f1 | to_mib)
	t2=$(now_ms)
	docker stop "$id" >/dev/null
	t3=$(now_ms)
	docker rm -f -v "$id" >/dev/null
	printf '%d %d %s\n' $((t1 - t0)) $((t3 - t2)) "$mem"
}

# to_mib turns docker stats' "10.5MiB" (or KiB, GiB, kB, MB) into MiB.
to_mib() {
	awk '{ v = $1 + 0; u = $1; sub(/^[0-9.]+/, "", u)
		f = 1
		if (u == "KiB" || u == "kB") f = 1 / 1024
		else if (u == "GiB" || u == "GB") f = 1024
		else if (u == "B") f = 1 / 1048576
		printf "%.1f\n", v * f }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A starts stops mems
printf '%-9s %4s %9s %9s %9s\n' kind run start_ms stop_ms mem_mib >&2
# One warm-up run of each (page cache, image layers), not counted.
run_one hermes >/dev/null
run_one baseline >/dev/null
for ((i = 1; i <= repeats; i++)); do
	for kind in hermes baseline; do
		read -r start stop mem < <(run_one "$kind")
		starts[$kind]+="$start "
		stops[$kind]+="$stop "
		mems[$kind]+="$mem "
		printf '%-9s %4d %9d %9d %9s\n' "$kind" "$i" "$start" "$stop" "$mem" >&2
	done
done

size=$(docker image inspect --format '{{.Size}}' "$image")
echo
echo "image $image: $((size / 1000 / 1000)) MB ($size bytes); $repeats runs each, medians:"
echo
echo "| run | start → /health 200 (ms) | docker stop (ms) | memory once healthy (MiB) |"
echo "|---|---|---|---|"
for kind in hermes baseline; do
	# shellcheck disable=SC2086 # word lists on purpose
	printf '| %s | %s | %s | %s |\n' "$kind" \
		"$(printf '%s\n' ${starts[$kind]} | median)" \
		"$(printf '%s\n' ${stops[$kind]} | median)" \
		"$(printf '%s\n' ${mems[$kind]} | median)"
done
