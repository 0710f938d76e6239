#!/usr/bin/env bash
# Every fuzz target of the module, each for FUZZTIME (default 10m), one
# after the other: the targets come from `go test -list 'Fuzz.*'` per
# package. A finding fails the run and stays in the package's
# testdata/fuzz/<target>/ as a seed (go test then replays it every run);
# fix the defect, keep the seed. A target that ends on a bare "context
# deadline exceeded" with no input written is the fuzzing coordinator
# racing its own deadline (golang/go#51484), not a finding: it is reported
# and its seed corpus replayed, which must pass.
#
#   FUZZTIME=10m   how long each target runs
#   FUZZPKGS=./... which packages
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ${FUZZPKGS:-./...}); do
    targets=$(go test -list 'Fuzz.*' "$pkg" | grep '^Fuzz' || true)
    for fz in $targets; do
        echo "-- $pkg $fz ($fuzztime)"
        if go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
            continue
        fi
        if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" &&
            go test -run "^${fz}\$" -count=1 "$pkg"; then
            echo "~~ $pkg $fz: the coordinator's deadline race (golang/go#51484), no input found; its corpus replays clean" >&2
        else
            echo "!! $pkg $fz failed (a finding leaves its input in $(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$fz/)" >&2
            failed=1
        fi
    done
done
exit $failed
