#!/usr/bin/env bash
# The main job from nothing: install what is missing, get MNIST, build in release mode,
# train with the defaults on all cores, generate the test digits' bottom halves and write the
# sample grid, the metrics and a summary. Extra arguments go to `patchrnn run`
# (e.g. scripts/run.sh --out runs/try2 --threads 1). Results: runs/latest/ by default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
data=$(scripts/fetch-mnist.sh)
swift build -c release --product patchrnn 2>&1 | grep -vE '^\[|^Building|^Build complete' || true
exec "$(swift build -c release --show-bin-path)/patchrnn" run --data "$data" "$@"
