#!/usr/bin/env bash
# Reads a `patchrnn train|run --tensorboard DIR` folder with TensorBoard's own event reader
# (EventAccumulator) and prints the scalars, image sizes and text it finds. Usage:
#   scripts/read-tensorboard.sh DIR [--all]
# First use creates .venv-tensorboard/ with scripts/tensorboard/requirements.txt. To watch a
# run instead: .venv-tensorboard/bin/tensorboard --logdir DIR
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-tensorboard
req=scripts/tensorboard/requirements.txt
# Ready means the package imports, not merely that bin/python exists.
if ! "$venv/bin/python" -c 'import tensorboard.backend.event_processing.event_accumulator' 2>/dev/null; then
  [ -e "$venv" ] && { echo "read-tensorboard: $venv is incomplete; recreating it" >&2; rm -rf "$venv"; }
  command -v python3 >/dev/null 2>&1 || { echo "read-tensorboard: python3 is not installed" >&2; exit 1; }
  python3 -c 'import ensurepip, venv' 2>/dev/null || {
    echo "read-tensorboard: python3 -m venv is unavailable; install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
  echo "read-tensorboard: creating $venv (tensorboard)" >&2
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$req"; } || {
    rm -rf "$venv"; echo "read-tensorboard: could not install $req; removed $venv" >&2; exit 1; }
fi
exec "$venv/bin/python" scripts/tensorboard/read_tensorboard.py "$@"
