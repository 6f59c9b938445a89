#!/usr/bin/env bash
# The many-core scaling report in one command, for the day a many-core machine is at hand:
# builds patchrnn (release), then measures training throughput with `patchrnn bench` for both
# cells (LSTM, GRU) at batch 64, 256 and 1,024 over 1, 2, 4, 8, ... threads and all cores,
# the cost model's figures (`bench --calibrate`), and, where the machine has more than one
# package, NUMA node or L3 group, pack against spread at half the cores. Writes to --out:
#   scaling.md          the tables (markdown), with the CPU and the commit
#   scaling.jsonl       every measurement, one JSON object per line (bench's JSON)
#   calibration.jsonl   the cost model's figures (scripts/cost-model.py cores --calibration)
#   placement.jsonl     pack against spread (only on such machines)
#   topology.txt        the machine and the plan as `patchrnn topology` prints them
# About 6-7 minutes on a 16-core machine with the defaults (a measurement takes about
# --seconds plus 1 s of set-up, peak and generation timing; each is repeated --repeats times,
# thread counts alternating).
#   --out DIR      (default runs/scaling)    --seconds S (default 2)   --repeats R (default 3)
#   --binary PATH  use this patchrnn instead of building one
#   --max-threads N  stop the thread counts at N (default: all physical cores)
set -euo pipefail
cd "$(dirname "$0")/.."

out=runs/scaling seconds=2 repeats=3 binary= max_threads=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --max-threads) max_threads=$2; shift 2 ;;
    *) echo "scaling-report: unknown option $1 (known: --out, --seconds, --repeats, --binary, --max-threads)" >&2; exit 2 ;;
  esac
done

if [ -z "$binary" ]; then
  scripts/setup.sh
  echo "scaling-report: building patchrnn (release)" >&2
  log=$(swift build -c release --product patchrnn 2>&1) || { s=$?; echo "$log" >&2; exit $s; }
  binary="$(swift build -c release --show-bin-path)/patchrnn"
fi
[ -x "$binary" ] || { echo "scaling-report: $binary is not an executable patchrnn" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out/scaling.jsonl" "$out/calibration.jsonl" "$out/placement.jsonl"

"$binary" topology > "$out/topology.txt"
cores=$(sed -n 's/^placement for \([0-9]*\) worker(s).*/\1/p' "$out/topology.txt")
[ -n "$max_threads" ] && [ "$max_threads" -lt "$cores" ] && cores=$max_threads
counts=1
n=2
while [ "$n" -lt "$cores" ]; do counts="$counts,$n"; n=$((n * 2)); done
[ "$cores" -gt 1 ] && counts="$counts,$cores"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine=$(grep -m1 '^packages:' "$out/topology.txt")
echo "scaling-report: $cpu; $machine; thread counts $counts" >&2

common=(--threads "$cores" --thread-counts "$counts" --seconds "$seconds" --repeats "$repeats" --quiet)
{
  echo "# Scaling report"
  echo
  echo "$cpu; $machine; $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "\`patchrnn bench --cell C --batch-size B ${common[*]}\` (default shard sizes: batch 64 -> 16 shards of 4,"
  echo "256 -> 16 of 16, 1,024 -> 64 of 16); medians of $repeats alternated rounds, speed-up over 1 thread."
  echo
} > "$out/scaling.md"
header=1
for cell in lstm gru; do
  for batch in 64 256 1024; do
    echo "scaling-report: $cell, batch $batch" >&2
    table=$("$binary" bench --cell "$cell" --batch-size "$batch" "${common[@]}" --markdown --record "$out/scaling.jsonl")
    if [ "$header" = 1 ]; then echo "$table"; header=0; else echo "$table" | tail -n +3; fi >> "$out/scaling.md"
  done
done

echo "scaling-report: cost model figures" >&2
{
  echo
  echo "Cost model figures (\`patchrnn bench --calibrate\`; \`scripts/cost-model.py cores --calibration $out/calibration.jsonl --measured $out/scaling.jsonl\` compares its predictions with the table):"
  echo
  echo '```'
  for cell in lstm gru; do
    "$binary" bench --cell "$cell" --calibrate --threads "$cores" --thread-counts "$counts" --seconds 1 --repeats "$repeats" --quiet --record "$out/calibration.jsonl"
  done
  echo '```'
} >> "$out/scaling.md"

# Pack against spread where they differ: half the cores, LSTM, batch 256 and 1,024, the two
# placements alternating round by round (one row per round).
if ! echo "$machine" | grep -q 'packages: 1 .*NUMA nodes: 1 .*L3 groups: 1 ' && [ "$cores" -ge 4 ]; then
  half=$((cores / 2))
  echo "scaling-report: pack against spread at $half threads" >&2
  printf '\nPlacement at %d threads, LSTM, one row per round:\n\n' "$half" >> "$out/scaling.md"
  header=1
  for batch in 256 1024; do
    for round in $(seq "$repeats"); do
      for placement in pack spread; do
        table=$("$binary" bench --batch-size "$batch" --threads "$half" --thread-counts "$half" --placement "$placement" \
          --seconds "$seconds" --repeats 1 --quiet --markdown --record "$out/placement.jsonl")
        if [ "$header" = 1 ]; then echo "$table"; header=0; else echo "$table" | tail -n +3; fi >> "$out/scaling.md"
      done
    done
  done
fi
echo "scaling-report: wrote $out/scaling.md, $out/scaling.jsonl, $out/calibration.jsonl" >&2
cat "$out/scaling.md"
