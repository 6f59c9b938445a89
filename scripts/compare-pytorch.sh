#!/usr/bin/env bash
# Side by side with PyTorch. Usage:
#   scripts/compare-pytorch.sh equivalence [--steps 100] [--batch-size 64]
#   scripts/compare-pytorch.sh interop
#   scripts/compare-pytorch.sh throughput [--threads 1,2] [--batch-sizes 64,256]
# First use creates .venv-compare/ with scripts/compare/requirements.txt (CPU-only torch).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-compare
req=scripts/compare/requirements.txt
cpu_index=https://download.pytorch.org/whl/cpu  # serves torch==X+cpu (no CUDA download)
fail() { echo "compare: $1 failed (status $2)" >&2; exit "$2"; }
# A half-made venv would pass for a ready one next time: remove it so the next try starts clean.
venv_fail() { rm -rf "$venv"; echo "compare: $1; removed $venv, fix the cause and run again" >&2; exit 1; }

# `python3 -m venv` needs ensurepip, which Debian/Ubuntu ship apart in python3-venv.
ensure_venv_module() {
  command -v python3 >/dev/null 2>&1 || { echo "compare: python3 is not installed" >&2; exit 1; }
  python3 -c 'import ensurepip, venv' 2>/dev/null && return
  local pyver
  pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "compare: python3 -m venv is unavailable; installing python3-venv python$pyver-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq python3-venv "python$pyver-venv"; } >/dev/null ||
      echo "compare: apt-get could not install python3-venv python$pyver-venv" >&2
  fi
  python3 -c 'import ensurepip, venv' 2>/dev/null || {
    echo "compare: python3 -m venv is unavailable (no ensurepip); install python$pyver-venv, e.g. sudo apt-get install python3-venv python$pyver-venv" >&2
    exit 1
  }
}

# Ready means the packages import, not merely that bin/python exists.
if ! "$venv/bin/python" -c 'import torch, safetensors.torch, numpy' 2>/dev/null; then
  [ -e "$venv" ] && { echo "compare: $venv is incomplete; recreating it" >&2; rm -rf "$venv"; }
  ensure_venv_module
  echo "compare: creating $venv (torch CPU, safetensors, numpy)" >&2
  python3 -m venv "$venv" || venv_fail "python3 -m venv $venv failed"
  # pip's configured sources first (e.g. a find-links folder holding the torch wheel: works
  # offline), then PyTorch's CPU index on top of them (a fresh machine with internet).
  if ! first=$("$venv/bin/pip" install -q -r "$req" 2>&1); then
    echo "compare: $req is not installable from pip's configured sources; adding $cpu_index" >&2
    "$venv/bin/pip" install -q --extra-index-url "$cpu_index" -r "$req" || {
      echo "compare: the first try (configured sources only) ended:" >&2; tail -n 3 <<<"$first" >&2
      venv_fail "pip install -r $req failed"
    }
  fi
fi

scripts/setup.sh || fail scripts/setup.sh $?
data=$(scripts/fetch-mnist.sh) || fail scripts/fetch-mnist.sh $?
# Quiet on success; on failure show the compiler's output, never run a stale binary.
log=$(swift build -c release --product patchrnn 2>&1) || { s=$?; echo "$log" >&2; fail "swift build" $s; }
bin=$(swift build -c release --show-bin-path) || fail "swift build --show-bin-path" $?
export PATCHRNN_BIN="$bin/patchrnn" PATCHRNN_DATA="$data"
exec "$venv/bin/python" scripts/compare/compare_pytorch.py "$@"
