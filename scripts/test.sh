#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, fetches MNIST for the
# integration tests (they say so and skip when it cannot be had), builds in release mode
# (the kernels are only meaningful optimised) and runs every test. It also installs Open MPI
# and builds the optional MPI variant (.build-mpi) for the MPI tests; `--no-mpi` skips that
# (those tests then say they are skipped). It installs Debian's chromium where it is missing,
# for the tests that open report.html in a headless browser. With the MPI build, and run as
# root, it also runs scripts/two-host-mpi-test.sh (two MPI hosts in network namespaces). Other
# arguments go to `swift test` (and skip the two-host test).
set -euo pipefail
cd "$(dirname "$0")/.."
mpi=1
args=()
for arg in "$@"; do
  if [ "$arg" = "--no-mpi" ]; then mpi=0; else args+=("$arg"); fi
done
if [ "$mpi" = 1 ]; then scripts/setup.sh --mpi --browser; else scripts/setup.sh --browser; fi
scripts/fetch-mnist.sh >/dev/null || echo "test: MNIST not available; the integration tests will be skipped (under CI: fail)" >&2
# The house style first: a formatting finding fails the run (fix with scripts/format.sh).
scripts/format.sh --lint
swift build -c release -Xswiftc -enable-testing --product patchrnn
if [ "$mpi" = 1 ] && pkg-config --exists ompi-c 2>/dev/null && command -v mpirun >/dev/null 2>&1; then
  swift build -c release --traits MPI --scratch-path .build-mpi --product patchrnn
  export PATCHRNN_MPI_BINARY="$PWD/.build-mpi/release/patchrnn"
fi
log=$(mktemp)
set +e
swift test -c release -Xswiftc -enable-testing ${args[@]+"${args[@]}"} 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# Two MPI hosts in two network namespaces over TCP (root only; it says "skipped" where it
# cannot run): one more test in the count below.
extra_passed=0 extra_skipped=0
if [ "$mpi" = 1 ] && [ ${#args[@]} -eq 0 ]; then
  two_host_log=$(mktemp)
  scripts/two-host-mpi-test.sh 2>&1 | tee "$two_host_log"
  two_host_rc=${PIPESTATUS[0]}
  if [ "$two_host_rc" != 0 ]; then rc=$two_host_rc
  elif grep -q "skipped:" "$two_host_log"; then extra_skipped=1
  else extra_passed=1; fi
  rm -f "$two_host_log"
fi
set -e
# A plain summary line for tools that read the last line (Swift Testing's own line above it).
# Swift Testing counts a skipped test among the run's tests and reports it as
# "Test ... skipped"; say how many there were. (Under CI nothing may be skipped: the suites that
# need MNIST or the MPI build run there and fail without them.)
n=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
skipped=$(grep -cE 'Test ".*" skipped' "$log" || true)
[ "$rc" = 0 ] && [ -n "$n" ] && echo "$((n - skipped + extra_passed)) passed, 0 failed, $((skipped + extra_skipped)) skipped"
rm -f "$log"
exit "$rc"
