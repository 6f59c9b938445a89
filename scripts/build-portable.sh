#!/usr/bin/env bash
# A patchrnn to copy onto a machine that has no Swift toolchain (a server, a benchmark VM):
# the Swift runtime and Foundation linked in (--static-swift-stdlib), compiled for a CPU you
# name instead of this one, stripped, with this machine's libhwloc next to it.
#
#   scripts/build-portable.sh --cpu sapphirerapids     # a current Intel Xeon (AVX-512)
#   scripts/build-portable.sh --cpu znver4             # an AMD EPYC 9004 (AVX-512)
#   scripts/build-portable.sh --cpu haswell            # any x86-64 CPU with AVX2 and FMA
#
# Writes OUT/patchrnn-CPU/ (default OUT: dist in the repository): `patchrnn` and `lib/`
# (libhwloc.so.15 and the libraries it needs beyond glibc, libstdc++ and zlib; the binary's
# RPATH $ORIGIN/lib covers them and what they load in turn), and OUT/patchrnn-CPU.tar.xz
# holding that folder. The target needs x86-64 Linux with this machine's glibc or a newer one,
# libstdc++ and zlib. Name the CPU the binary will run on: the kernels are only as fast as the
# instructions the compiler may use (`-target-cpu native` gives the same code on the machine
# itself), and on a CPU without an extension the build uses the binary stops before it starts,
# with a message that names the extension. A build takes a few minutes.
#   --cpu NAME   a CPU name both clang and swiftc know, with FMA (haswell or newer, znver1 or
#                newer): `clang --print-supported-cpus` lists the names
#   --out DIR    (default dist)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

cpu= out=$repo/dist
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) cpu=${2:?--cpu needs a CPU name}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    *) echo "build-portable: unknown option $1 (known: --cpu, --out)" >&2; exit 2 ;;
  esac
done
[ -n "$cpu" ] || { echo "build-portable: name the target CPU with --cpu (e.g. sapphirerapids, znver4, haswell)" >&2; exit 2; }
case "$cpu" in
  *[!a-z0-9-]*) echo "build-portable: --cpu $cpu is not a CPU name" >&2; exit 2 ;;
esac
for tool in clang swiftc strip tar xz ldd; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-portable: $tool is not installed" >&2; exit 1; }
done
# swiftc checks the name when it sets up its C importer; clang says whether the CPU has FMA
# (without it every SIMD multiply-add becomes a libm call, about 100x slower).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'let x = 1' > "$probe/probe.swift"
if ! swiftc -target-cpu "$cpu" -typecheck "$probe/probe.swift" >/dev/null 2>&1; then
  echo "build-portable: swiftc does not know the CPU '$cpu' (clang --print-supported-cpus lists the names; x86-64-v3 and the like are clang's only)" >&2
  exit 2
fi
if ! clang -march="$cpu" -dM -E -x c /dev/null 2>/dev/null | grep -q '__FMA__'; then
  echo "build-portable: the CPU '$cpu' has no FMA; the kernels need it (haswell or newer, znver1 or newer)" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$repo"
scripts/setup.sh
scratch=.build/portable-$cpu
echo "build-portable: building patchrnn for $cpu in $scratch (a few minutes)" >&2
# The -Xswiftc and -Xcc flags come after the package's own -target-cpu native and -march=native,
# and the last one wins. --disable-new-dtags makes $ORIGIN/lib an RPATH, which (unlike a RUNPATH)
# also serves the libraries' own dependencies: libhwloc's libudev.
log=$(swift build -c release --product patchrnn --static-swift-stdlib --scratch-path "$scratch" \
  -Xswiftc -target-cpu -Xswiftc "$cpu" -Xcc -march="$cpu" \
  -Xlinker --disable-new-dtags -Xlinker -rpath -Xlinker '$ORIGIN/lib' 2>&1) || { s=$?; echo "$log" >&2; exit $s; }

# Made in the probe folder first, so that a failure leaves an earlier result as it was.
name=patchrnn-$cpu
mkdir -p "$probe/$name/lib"
strip -o "$probe/$name/patchrnn" "$scratch/release/patchrnn"
ldd "$scratch/release/patchrnn" | awk '/=> \// { print $1, $3 }' | while read -r lib path; do
  case "$lib" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*|libz.so.*) ;;
    *) cp -L "$path" "$probe/$name/lib/$lib" ;;
  esac
done
tar -C "$probe" -cJf "$probe/$name.tar.xz" "$name"
rm -rf "${out:?}/$name" "$out/$name.tar.xz"
mv "$probe/$name" "$probe/$name.tar.xz" "$out/"
echo "build-portable: $out/$name/patchrnn ($(du -h "$out/$name/patchrnn" | cut -f1)), lib/: $(ls "$out/$name/lib" | tr '\n' ' ')" >&2
echo "build-portable: $out/$name.tar.xz ($(du -h "$out/$name.tar.xz" | cut -f1)); on the target: tar -xJf $name.tar.xz && $name/patchrnn topology" >&2
