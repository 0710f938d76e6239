#!/bin/bash
# Adapter: hermes-before — hermes.sh with another binary, to compare two
# builds in one run of the harness (BENCHMARKS §1a): the binary is
# HERMES_BEFORE_BIN (build it from the older commit with
# `script/build.sh -o PATH` in a worktree of its own).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export HERMES_BIN=${HERMES_BEFORE_BIN:?hermes-before.sh: set HERMES_BEFORE_BIN to the older binary}
if [ "${1:-}" = info ]; then
    "$here/hermes.sh" info | sed 's/^name=hermes$/name=hermes-before/'
else
    exec "$here/hermes.sh" "$@"
fi
