#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, fetches MNIST for the
# integration tests (they say so and skip when it cannot be had), builds in release mode
# (the kernels are only meaningful optimised) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-mnist.sh >/dev/null || echo "test: MNIST not available; the integration tests will be skipped" >&2
swift build -c release -Xswiftc -enable-testing --product patchrnn
exec swift test -c release -Xswiftc -enable-testing "$@"
