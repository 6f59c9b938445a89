#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, fetches MNIST for the
# integration tests (they say so and skip when it cannot be had), builds in release mode
# (the kernels are only meaningful optimised) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-mnist.sh >/dev/null || echo "test: MNIST not available; the integration tests will be skipped" >&2
swift build -c release -Xswiftc -enable-testing --product patchrnn
log=$(mktemp)
set +e
swift test -c release -Xswiftc -enable-testing "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# A plain summary line for tools that read the last line (Swift Testing's own line above it).
n=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
[ "$rc" = 0 ] && [ -n "$n" ] && echo "$n passed, 0 failed"
rm -f "$log"
exit "$rc"
