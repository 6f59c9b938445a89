#!/usr/bin/env bash
# Puts the four MNIST files into a folder (default: data/mnist) and checks them.
# Looks first in local places: $1 / $PATCHRNN_DATA, then ../shared/data/mnist; otherwise
# downloads from public mirrors. Every decompressed file must match its published SHA-256.
# Usage: scripts/fetch-mnist.sh [SOURCE_DIR]   (prints the data folder on success)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=data/mnist
mkdir -p "$dest"

declare -A sha=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
mirrors=(
  https://ossci-datasets.s3.amazonaws.com/mnist
  https://storage.googleapis.com/cvdf-datasets/mnist
)

verify() {  # verify FILE.gz NAME: the decompressed content has the published checksum
  [ -s "$1" ] && [ "$(gzip -dc "$1" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "${sha[$2]}" ]
}

sources=()
[ $# -ge 1 ] && sources+=("$1")
[ -n "${PATCHRNN_DATA:-}" ] && sources+=("$PATCHRNN_DATA")
sources+=(../shared/data/mnist)

for name in "${!sha[@]}"; do
  target="$dest/$name.gz"
  verify "$target" "$name" && continue
  found=0
  for src in "${sources[@]}"; do
    if [ -f "$src/$name.gz" ] && verify "$src/$name.gz" "$name"; then
      install -m 644 "$src/$name.gz" "$target.part" && mv "$target.part" "$target"; found=1; break
    fi
    if [ -f "$src/$name" ] && [ "$(sha256sum < "$src/$name" | cut -d' ' -f1)" = "${sha[$name]}" ]; then
      gzip -c "$src/$name" > "$target.part" && mv "$target.part" "$target"; found=1; break
    fi
  done
  if [ $found = 0 ]; then
    # Say so plainly rather than letting every mirror "fail" (scripts/setup.sh installs curl).
    if ! command -v curl >/dev/null 2>&1; then
      echo "fetch-mnist: curl is not installed, so $name.gz cannot be downloaded (no verified local copy in: ${sources[*]})." >&2
      echo "fetch-mnist: install curl (scripts/setup.sh does, as root) or pass a folder holding the MNIST files." >&2
      exit 1
    fi
    for m in "${mirrors[@]}"; do
      echo "fetch-mnist: downloading $name.gz from $m" >&2
      if curl -fsSL --retry 2 -o "$target.part" "$m/$name.gz" && verify "$target.part" "$name"; then
        mv "$target.part" "$target"; found=1; break
      fi
      rm -f "$target.part"
    done
  fi
  [ $found = 1 ] || { echo "fetch-mnist: could not get $name (no local copy, downloads failed or did not match SHA-256 ${sha[$name]})" >&2; exit 1; }
done
echo "$dest"
