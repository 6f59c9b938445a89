#!/usr/bin/env bash
# Side by side with PyTorch. Usage:
#   scripts/compare-pytorch.sh equivalence [--steps 100] [--batch-size 64]
#   scripts/compare-pytorch.sh interop
#   scripts/compare-pytorch.sh throughput [--threads 1,2] [--batch-sizes 64,256]
# First use creates .venv-compare/ with scripts/compare/requirements.txt (torch CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-compare
if [ ! -x "$venv/bin/python" ]; then
  echo "compare: creating $venv (torch, safetensors, numpy)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r scripts/compare/requirements.txt
fi
scripts/setup.sh
data=$(scripts/fetch-mnist.sh)
swift build -c release --product patchrnn 2>&1 | grep -E 'error|warning' || true
export PATCHRNN_BIN="$(swift build -c release --show-bin-path)/patchrnn" PATCHRNN_DATA="$data"
exec "$venv/bin/python" scripts/compare/compare_pytorch.py "$@"
