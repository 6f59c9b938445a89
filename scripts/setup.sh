#!/usr/bin/env bash
# Installs what PatchRNN needs to build on Debian/Ubuntu when it is missing: hwloc (the
# library that pins worker threads), zlib and pkg-config, plus curl and ca-certificates for
# scripts/fetch-mnist.sh's downloads. Needs root for apt-get; prints what to run otherwise.
# Swift itself must already be on PATH (swift.org toolchain).
#   --mpi      also Open MPI (libopenmpi-dev, openmpi-bin) for the optional MPI build; where it
#              cannot be installed this only warns, since nothing else needs it.
#   --browser  also Debian's chromium, which the tests of report.html run headless (not needed
#              to build or to run the tool); where it cannot be installed this only warns, and
#              those tests say they are skipped (under CI: fail).
set -euo pipefail

with_mpi=0
with_browser=0
for arg in "$@"; do
  case "$arg" in
    --mpi) with_mpi=1 ;;
    --browser) with_browser=1 ;;
    *) echo "setup: unknown option $arg (known: --mpi, --browser)" >&2; exit 2 ;;
  esac
done

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
install() {
  echo "setup: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

missing=()
pkg-config --exists hwloc 2>/dev/null || missing+=(libhwloc-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# curl (with CA certificates for https) only downloads MNIST when no local copy exists, so
# where it cannot be installed this only warns; scripts/fetch-mnist.sh says so if it is needed.
fetch_missing=()
command -v curl >/dev/null 2>&1 || fetch_missing+=(curl)
[ -f /etc/ssl/certs/ca-certificates.crt ] || fetch_missing+=(ca-certificates)
if [ ${#fetch_missing[@]} -gt 0 ]; then
  if can_install; then
    missing+=("${fetch_missing[@]}")
  else
    echo "setup: warning: missing ${fetch_missing[*]}, needed only to download MNIST (e.g. sudo apt-get install ${fetch_missing[*]})" >&2
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  if can_install; then
    install "${missing[@]}"
  else
    echo "setup: missing ${missing[*]}; install them, e.g. sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH (install a Swift 6 toolchain from swift.org)" >&2; exit 1; }

if [ "$with_mpi" = 1 ]; then
  mpi_missing=()
  pkg-config --exists ompi-c 2>/dev/null || mpi_missing+=(libopenmpi-dev)
  command -v mpirun >/dev/null 2>&1 || mpi_missing+=(openmpi-bin)
  if [ ${#mpi_missing[@]} -gt 0 ]; then
    if can_install; then
      install "${mpi_missing[@]}" || echo "setup: warning: could not install ${mpi_missing[*]}; the MPI build is unavailable" >&2
    else
      echo "setup: warning: Open MPI missing (${mpi_missing[*]}); the MPI build is unavailable" >&2
    fi
  fi
fi

if [ "$with_browser" = 1 ]; then
  have_browser=0
  if [ -n "${PATCHRNN_CHROMIUM:-}" ] && [ -x "$PATCHRNN_CHROMIUM" ]; then have_browser=1; fi
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$b" >/dev/null 2>&1 && have_browser=1
  done
  if [ "$have_browser" = 0 ]; then
    if can_install; then
      install chromium || echo "setup: warning: could not install chromium; the report.html browser tests cannot run" >&2
    else
      echo "setup: warning: no chromium (e.g. sudo apt-get install chromium); the report.html browser tests cannot run" >&2
    fi
  fi
fi
