#!/usr/bin/env bash
# Every fuzz target of the module, each for FUZZTIME (default 10m), one
# after the other: the targets come from `go test -list 'Fuzz.*'` per
# package. A finding fails the run and stays in the package's
# testdata/fuzz/<target>/ as a seed (go test then replays it every run);
# fix the defect, keep the seed.
#
#   FUZZTIME=10m   how long each target runs
#   FUZZPKGS=./... which packages
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
failed=0
for pkg in $(go list ${FUZZPKGS:-./...}); do
    targets=$(go test -list 'Fuzz.*' "$pkg" | grep '^Fuzz' || true)
    for fz in $targets; do
        echo "-- $pkg $fz ($fuzztime)"
        if ! go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$fuzztime" "$pkg"; then
            echo "!! $pkg $fz failed (a finding leaves its input in $(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$fz/)" >&2
            failed=1
        fi
    done
done
exit $failed
