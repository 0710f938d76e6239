#!/usr/bin/env bash
# The whole test suite, as the README gives it and as CI runs it:
# first what the tests need (script/deps.sh installs the missing Debian
# packages and the Go modules), then formatting, vet, staticcheck (the one
# pinned version below, run through go run), every package under
# the race detector (the end-to-end tests in e2e/ build the static binary
# and the image themselves), and a short run of every fuzz target. Needs
# root and a Docker engine; with HERMES_CI=1 a missing one fails the run
# instead of skipping tests.
#
#   FUZZTIME=3000x how many inputs each fuzz target runs (0 skips the fuzz
#                 smoke). A count, not a duration: with a duration the
#                 fuzzing coordinator races its own deadline when the machine
#                 is loaded and fails a target with a bare "context deadline
#                 exceeded" and no input (golang/go#51484), which is how two
#                 CI runs failed; a count has no deadline to race.
#   TESTFLAGS=    extra flags for go test (e.g. -run Foo -v)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-3000x}

# staticcheck, pinned here and nowhere else: a release that builds with the
# Go of go.mod.
staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2

echo "== dependencies"
script/deps.sh
export PATH=/usr/local/go/bin:$PATH

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
    echo "gofmt would change:" >&2
    echo "$unformatted" >&2
    exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run "$staticcheck" ./...

echo "== go test -race"
# shellcheck disable=SC2086 # TESTFLAGS is a word list on purpose
go test -race -count=1 -timeout 45m ${TESTFLAGS:-} ./...

if [ "$fuzztime" != "0" ]; then
    echo "== fuzz smoke ($fuzztime per target)"
    for pkg in $(go list ./...); do
        dir=$(go list -f '{{.Dir}}' "$pkg")
        for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
            echo "-- $pkg $fz"
            # Quiet when it passes; its whole output when it does not (a
            # finding is also kept under the package's testdata/fuzz/).
            if ! out=$(go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
                echo "$out" >&2
                echo "fuzz smoke: $fz of $pkg failed (its output is above)" >&2
                exit 1
            fi
        done
    done
fi
echo "== all tests passed"
