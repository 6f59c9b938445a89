#!/usr/bin/env bash
# Installs what PatchRNN needs to build on Debian/Ubuntu when it is missing: hwloc (the
# library that pins worker threads), zlib and pkg-config. Needs root for apt-get; prints what
# to run otherwise. Swift itself must already be on PATH (swift.org toolchain).
set -euo pipefail

missing=()
pkg-config --exists hwloc 2>/dev/null || missing+=(libhwloc-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; install them, e.g. sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH (install a Swift 6 toolchain from swift.org)" >&2; exit 1; }
