#!/usr/bin/env bash
# Builds the library's API documentation with DocC: the symbols of the PatchRNN module (its
# public API and their doc comments) and the catalog Sources/PatchRNN/PatchRNN.docc (the
# landing page and the articles "Training from Swift" and "Adding a cell"), as a static site
# in .build-docs/PatchRNN.doccarchive. Any DocC warning (a link to a symbol that is gone or no
# longer public, a malformed doc comment) fails the build.
#
# It needs no plugin: the compiler writes the symbol graphs (`-emit-symbol-graph`) and the
# toolchain's `docc` converts them, so Package.swift and the default build stay as they are.
# The build for the symbol graphs is a debug build of the library in a folder of its own
# (.build-docs), so it never invalidates the release build in .build.
#
#   scripts/build-docs.sh            build the site
#   scripts/build-docs.sh --serve    build it, then serve it at http://localhost:8000/documentation/patchrnn
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-docs
out="$scratch/PatchRNN.doccarchive"
docc=$(command -v docc || true)
if [ -z "$docc" ]; then
  docc="$(dirname "$(readlink -f "$(command -v swift)")")/docc"
  [ -x "$docc" ] || { echo "build-docs: docc not found beside swift (it ships with Swift 5.6 and later)" >&2; exit 1; }
fi

# The compiler writes the symbol graphs (public symbols only) whenever it emits a module, so
# the graphs of an up-to-date build are current; where they are missing, the module is built
# again.
graphs="$scratch/symbol-graphs"
build() {
  swift build --scratch-path "$scratch" --target PatchRNN \
    -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$PWD/$graphs"
}
mkdir -p "$graphs"
rm -rf "$out"
build
if [ ! -f "$graphs/PatchRNN.symbols.json" ]; then
  rm -rf "$scratch"/*/debug/PatchRNN.build "$scratch"/*/debug/Modules/PatchRNN.*
  build
fi
[ -f "$graphs/PatchRNN.symbols.json" ] || { echo "build-docs: the build wrote no symbol graph for PatchRNN" >&2; exit 1; }
# The PatchRNN module alone (its own graph and its extensions of other modules' types): the
# kernels' graphs would be a second module.
module="$scratch/symbol-graphs-PatchRNN"
rm -rf "$module"
mkdir -p "$module"
cp "$graphs"/PatchRNN.symbols.json "$module"/
cp "$graphs"/PatchRNN@*.symbols.json "$module"/ 2>/dev/null || true

"$docc" convert Sources/PatchRNN/PatchRNN.docc \
  --fallback-display-name PatchRNN --fallback-bundle-identifier patchrnn \
  --additional-symbol-graph-dir "$module" \
  --transform-for-static-hosting --warnings-as-errors \
  --output-path "$out"
echo "build-docs: the documentation is in $out (open it through a web server: scripts/build-docs.sh --serve)"

if [ "${1:-}" = "--serve" ]; then
  echo "build-docs: serving http://localhost:8000/documentation/patchrnn (Ctrl-C stops)"
  exec python3 -m http.server 8000 --bind 127.0.0.1 --directory "$out"
fi
