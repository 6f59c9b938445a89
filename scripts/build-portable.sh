#!/usr/bin/env bash
# A patchrnn to copy onto a machine that has no Swift toolchain (a server, a benchmark VM):
# the Swift runtime and Foundation linked in (--static-swift-stdlib), compiled for a CPU you
# name instead of this one, stripped, with this machine's libhwloc next to it.
#
#   scripts/build-portable.sh --cpu sapphirerapids     # a current Intel Xeon (AVX-512)
#   scripts/build-portable.sh --cpu znver4             # an AMD EPYC 9004 (AVX-512)
#   scripts/build-portable.sh --cpu haswell            # any x86-64 CPU with AVX2 and FMA
#
# Writes DIR/patchrnn-CPU/ (default DIR: dist): `patchrnn` and `lib/` (libhwloc.so.15 and the
# libraries it needs beyond glibc, found through the binary's RUNPATH $ORIGIN/lib), and
# DIR/patchrnn-CPU.tar.xz holding that folder. The target needs x86-64 Linux with glibc 2.35
# or newer, libstdc++ and zlib. Name the CPU the binary will run on: the kernels are only as
# fast as the instructions the compiler may use (`-target-cpu native` gives the same code on
# the machine itself), and on a CPU without an extension the build uses, the binary stops
# before it starts with a message that names the extension.
#   --cpu NAME   a CPU name clang and swiftc know (`swiftc -target-cpu help` lists none;
#                clang's list: `clang --print-supported-cpus`)
#   --out DIR    (default dist)
set -euo pipefail
cd "$(dirname "$0")/.."

cpu= out=dist
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
if ! clang --print-supported-cpus 2>&1 | grep -qx "[[:space:]]*$cpu"; then
  echo "build-portable: clang does not know the CPU '$cpu' (clang --print-supported-cpus lists those it does)" >&2
  exit 2
fi

scripts/setup.sh
scratch=.build/portable-$cpu
echo "build-portable: building patchrnn for $cpu in $scratch" >&2
# The -Xswiftc and -Xcc flags come after the package's own -target-cpu native and -march=native,
# and the last one wins.
log=$(swift build -c release --product patchrnn --static-swift-stdlib --scratch-path "$scratch" \
  -Xswiftc -target-cpu -Xswiftc "$cpu" -Xcc -march="$cpu" \
  -Xlinker -rpath -Xlinker '$ORIGIN/lib' 2>&1) || { s=$?; echo "$log" >&2; exit $s; }

dest=$out/patchrnn-$cpu
rm -rf "$dest"
mkdir -p "$dest/lib"
strip -o "$dest/patchrnn" "$scratch/release/patchrnn"
# libhwloc and what it needs beyond what every glibc system has.
ldd "$scratch/release/patchrnn" | awk '/=> \// { print $1, $3 }' | while read -r name path; do
  case "$name" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*|libz.so.*) ;;
    *) cp -L "$path" "$dest/lib/$name" ;;
  esac
done
tar -C "$out" -cJf "$out/patchrnn-$cpu.tar.xz" "patchrnn-$cpu"
echo "build-portable: $dest/patchrnn ($(du -h "$dest/patchrnn" | cut -f1)), lib/: $(ls "$dest/lib" | tr '\n' ' ')" >&2
echo "build-portable: $out/patchrnn-$cpu.tar.xz ($(du -h "$out/patchrnn-$cpu.tar.xz" | cut -f1)); on the target: tar -xJf patchrnn-$cpu.tar.xz && patchrnn-$cpu/patchrnn topology" >&2
