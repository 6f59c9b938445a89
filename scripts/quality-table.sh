#!/usr/bin/env bash
# The README's settings table: trains the full default job for each setting and seed, then
# prints one markdown row per run (test free-running bottom-half MSE, teacher-forced test MSE,
# epochs, kept epoch, training seconds) and the mean per setting. Results go to
# runs/quality/<setting>-seed<N>/ (a finished run is not repeated; delete it to redo it).
#   scripts/quality-table.sh [--seeds "1 2 3"] [--settings "plain val_bottom sampled default"] [-- extra patchrnn run flags]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3"
settings="plain val_bottom sampled default"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --settings) settings="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "quality-table: unknown argument $1" >&2; exit 64 ;;
  esac
done
flags_of() {
  case "$1" in
    plain) echo "--plain" ;;                                                   # teacher forcing, early stopping on val_loss, lr 1e-3
    val_bottom) echo "--plain --monitor val_bottom" ;;                         # the same, early stopping on val_bottom
    sampled) echo "--plain --monitor val_bottom --scheduled-sampling 0.25" ;;  # and scheduled sampling
    default) echo "" ;;                                                        # the defaults: all that, with lr 2e-3
    *) echo "quality-table: unknown setting $1" >&2; exit 64 ;;
  esac
}
for setting in $settings; do flags_of "$setting" >/dev/null || exit 64; done  # (an exit inside $(...) would not stop the loop)
data=$(scripts/fetch-mnist.sh)
swift build -c release --product patchrnn >/dev/null
bin=$(swift build -c release --show-bin-path)/patchrnn
echo "| setting | seed | test free-running MSE | test teacher-forced MSE | epochs (kept) | training s |"
echo "|---|---|---|---|---|---|"
for setting in $settings; do
  for seed in $seeds; do
    out="runs/quality/$setting-seed$seed"
    if [ ! -f "$out/metrics.json" ]; then
      # shellcheck disable=SC2046
      "$bin" run --quiet --data "$data" --seed "$seed" --out "$out" $(flags_of "$setting") ${extra[@]+"${extra[@]}"} >/dev/null
    fi
    python3 - "$out/metrics.json" "$setting" "$seed" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); t = r = m  # metrics.json: the test metrics and the run's settings side by side
print(f"| {sys.argv[2]} | {sys.argv[3]} | {t['test_free_running_bottom_mse']:.4f} | {t['test_teacher_forced_mse']:.4f} | {r['epochs_trained']} ({r['best_epoch']}) | {r['train_seconds']:.0f} |")
PY
  done
  python3 - "$setting" $seeds <<'PY'
import json, sys
s = sys.argv[1]; ms = [json.load(open(f"runs/quality/{s}-seed{k}/metrics.json")) for k in sys.argv[2:]]
mean = lambda xs: sum(xs) / len(xs)
print(f"| {s}, mean | | {mean([m['test_free_running_bottom_mse'] for m in ms]):.4f} | {mean([m['test_teacher_forced_mse'] for m in ms]):.4f} | {mean([m['epochs_trained'] for m in ms]):.0f} | {mean([m['train_seconds'] for m in ms]):.0f} |")
PY
done
