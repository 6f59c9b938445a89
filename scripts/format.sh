#!/usr/bin/env bash
# The house style (.swift-format at the repository root; docs/design.md, "House style"):
# formats every Swift file in place with the formatter that ships with the toolchain.
# `scripts/format.sh --lint` only checks, as scripts/test.sh does (non-zero on any finding).
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Package.swift Sources Tests Benchmarks/Package.swift Benchmarks/Benchmarks)
if [ "${1:-}" = "--lint" ]; then
  swift format lint --strict --recursive --parallel "${paths[@]}"
else
  swift format --in-place --recursive --parallel "${paths[@]}"
fi
