#!/usr/bin/env bash
# Two MPI hosts on one machine: two network namespaces ("hosts" 10.231.0.1 and .2, each in a
# UTS namespace of its own so that each has its own host name) joined by a veth pair. Open
# MPI's mpirun runs on the first and starts the second's daemon through an rsh agent of this
# script's own (`ip netns exec`); the ranks talk over the TCP transport only.
#  1. 2 ranks x 1 thread across the hosts train to the same checkpoint, byte for byte, as one
#     process with 2 threads.
#  2. The remote rank is killed (SIGKILL) after its second completed epoch: the job must end
#     within seconds with Open MPI's message naming the rank, and the run must continue from
#     its last completed epoch (resume.safetensors written at every epoch end) to the same
#     checkpoint as an uninterrupted run.
# Needs root (namespaces), iproute2, util-linux (unshare), Open MPI and the MPI build
# (PATCHRNN_MPI_BINARY or .build-mpi/release/patchrnn, as scripts/test.sh builds it) and MNIST
# (scripts/fetch-mnist.sh). Where one is missing it says "skipped" and exits 0; scripts/test.sh
# runs it. Exit 1 on a failed check.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "two-host-mpi-test: $*" >&2; }
skip() { say "skipped: $*"; exit 0; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for tool in ip unshare mpirun timeout cmp; do command -v "$tool" >/dev/null 2>&1 || skip "no $tool"; done
binary=${PATCHRNN_MPI_BINARY:-$PWD/.build-mpi/release/patchrnn}
[ -x "$binary" ] || skip "no MPI build of patchrnn ($binary; scripts/test.sh builds one)"
data=$(scripts/fetch-mnist.sh 2>/dev/null) || skip "MNIST not available"
data=$(cd "$data" && pwd)

tag=$$
ns_a=prnn23a$tag ns_b=prnn23b$tag
addr_a=10.231.0.1 addr_b=10.231.0.2
work=$(mktemp -d)
cleanup() {
  for ns in "$ns_a" "$ns_b"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns_a" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$ns_b"
ip link add "va$tag" type veth peer name "vb$tag"
ip link set "va$tag" netns "$ns_a"
ip link set "vb$tag" netns "$ns_b"
ip -n "$ns_a" addr add "$addr_a/24" dev "va$tag"
ip -n "$ns_b" addr add "$addr_b/24" dev "vb$tag"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "va$tag" up
ip -n "$ns_b" link set "vb$tag" up

# Open MPI's rsh agent: "netns-rsh HOST COMMAND..." runs COMMAND, as ssh would, on HOST: in its
# network namespace, under its own host name.
cat > "$work/netns-rsh" <<EOF
#!/bin/sh
host=\$1; shift
case "\$host" in
  $addr_a) ns=$ns_a name=host-a ;;
  $addr_b) ns=$ns_b name=host-b ;;
  *) echo "netns-rsh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name && \$*"
EOF
chmod +x "$work/netns-rsh"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# mpirun on host a; one rank per host; TCP between them, nothing else.
mpi=(mpirun --host "$addr_a,$addr_b" -np 2 --map-by ppr:1:node --bind-to none
     --mca plm_rsh_agent "$work/netns-rsh" --mca pml ob1 --mca btl tcp,self
     --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24)
# A command on host a (where mpirun runs), ended after 300 s at most.
on_host_a() { timeout 300 ip netns exec "$ns_a" unshare --uts sh -c 'hostname host-a && exec "$@"' sh "$@"; }

# 1. Across the hosts, bit for bit.
common=(train --data "$data" --train-limit 2000 --epochs 3 --batch-size 64 --seed 7 --lr-patience 0 --quiet)
"$binary" "${common[@]}" --threads 2 --out "$work/one" >/dev/null
on_host_a "${mpi[@]}" "$binary" "${common[@]}" --threads 1 --out "$work/two" > "$work/two.out" 2> "$work/two.err" \
  || { cat "$work/two.err" >&2; fail "the 2-host run failed"; }
cmp -s "$work/one/model.safetensors" "$work/two/model.safetensors" \
  || fail "2 ranks on 2 hosts and 1 process x 2 threads wrote different checkpoints"
say "ok: 2 ranks across 2 hosts (TCP) == 1 process x 2 threads, bit for bit"

# 2. The remote rank killed mid-run.
long=(train --data "$data" --train-limit 6000 --epochs 6 --patience 6 --batch-size 64 --seed 8 --lr-patience 0 --quiet)
on_host_a "${mpi[@]}" "$binary" "${long[@]}" --threads 1 --out "$work/killed" > "$work/killed.out" 2> "$work/killed.err" &
job=$!
log="$work/killed/train-log.jsonl"
for _ in $(seq 600); do
  [ -f "$log" ] && [ "$(wc -l < "$log")" -ge 2 ] && break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
[ -f "$log" ] && [ "$(wc -l < "$log")" -ge 2 ] || { cat "$work/killed.err" >&2; fail "the run did not complete two epochs"; }
remote=
for pid in $(ip netns pids "$ns_b"); do
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = patchrnn ] && remote=$pid
done
[ -n "$remote" ] || fail "no patchrnn process on host b"
kill -9 "$remote"
killed_at=$(date +%s%N)
status=0
wait "$job" || status=$?
ms=$((($(date +%s%N) - killed_at) / 1000000))
epochs_done=$(wc -l < "$log")
[ "$status" != 0 ] || fail "mpirun exited 0 after a rank was killed"
[ "$ms" -lt 15000 ] || fail "the job took $ms ms to end after the remote rank was killed"
grep -q "rank 1" "$work/killed.err" && grep -qiE "signal 9|killed" "$work/killed.err" \
  || { cat "$work/killed.err" >&2; fail "no clear message naming the killed rank"; }
say "ok: remote rank killed during epoch $((epochs_done + 1)): the job ended $ms ms later (exit $status): $(grep -m1 'rank 1' "$work/killed.err" | sed 's/^ *//')"

# The run continues from its last completed epoch, in one process, to the uninterrupted run's end.
resume="$work/killed/resume.safetensors"
[ -f "$resume" ] || fail "no resume.safetensors after the kill (it is written at every epoch end)"
# The state is the start of the epoch after the last completed one (the epoch of its header's
# resume_progress; the header's own "epoch" is the kept epoch, as in a checkpoint).
resume_epoch=$(python3 - "$resume" <<'PY' || true
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
print(json.loads(header["__metadata__"]["resume_progress"])["epoch"])
PY
)
[ "$resume_epoch" = "$((epochs_done + 1))" ] \
  || fail "resume.safetensors continues at epoch ${resume_epoch:-?}, not at $((epochs_done + 1)) after the $epochs_done completed"
"$binary" "${long[@]}" --threads 2 --out "$work/uninterrupted" >/dev/null
"$binary" train --resume "$resume" --data "$data" --threads 2 --out "$work/killed" --quiet > "$work/resumed.out" 2> "$work/resumed.err" \
  || { cat "$work/resumed.err" >&2; fail "the run could not be continued from $resume"; }
cmp -s "$work/uninterrupted/model.safetensors" "$work/killed/model.safetensors" \
  || fail "killed after epoch $epochs_done and continued: not the uninterrupted run's checkpoint"
say "ok: continued from epoch $epochs_done to the uninterrupted run's checkpoint, bit for bit"
