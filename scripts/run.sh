#!/usr/bin/env bash
# The main job from nothing: install what is missing, get MNIST, build in release mode,
# train with the defaults on all cores, generate the test digits' bottom halves and write the
# sample grid, the metrics and a summary. Extra arguments go to `patchrnn run`
# (e.g. scripts/run.sh --out runs/try2 --threads 1). Results: runs/latest/ by default.
# With --data DIR (or --data=DIR) the MNIST fetch is skipped and DIR is used as given.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "run: $1 failed (status $2)" >&2; exit "$2"; }

scripts/setup.sh || fail scripts/setup.sh $?

# The user's own --data goes through untouched; only without one do we fetch (which may
# need the network) and pass the fetched folder.
data_args=(--data "")
for arg in "$@"; do
  case "$arg" in --data|--data=*) data_args=() ;; esac
done
if [ ${#data_args[@]} -gt 0 ]; then
  data_args[1]=$(scripts/fetch-mnist.sh) || fail scripts/fetch-mnist.sh $?
fi

# Quiet on success; on failure show the compiler's output, never run a stale binary.
echo "run: building patchrnn (release)" >&2
log=$(swift build -c release --product patchrnn 2>&1) || { s=$?; echo "$log" >&2; fail "swift build" $s; }
bin=$(swift build -c release --show-bin-path) || fail "swift build --show-bin-path" $?
exec "$bin/patchrnn" run "${data_args[@]}" "$@"
