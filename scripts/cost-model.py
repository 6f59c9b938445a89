#!/usr/bin/env python3
"""Cost model of PatchRNN's training step: on the cores of one machine, and across nodes.

`cores`: one process, N worker threads, a minibatch of B sequences in S shards of s (docs/scaling.md,
"The cost model on one machine"). Per step:
  compute   ceil(S / N) x shard(s) + pack           (workers take shards from a queue; each
                                                     busy worker packs the weights once)
  queue     N x line(N)                             (N first takes of the shared counter, one
                                                     cache-line transfer each, in sequence)
  hand-offs 2 x (handoff(2) + (N - 2) x line(N))    (two pool jobs a step: shards, then sum +
                                                     Adam; N - 1 completion counts on one line;
                                                     handoff(N) itself where it was measured)
  sum+Adam  (S + 6) x 4 x P / N / rate               (worker w reads slice w of S shard buffers
                                                     and the weights and moments, writes those
                                                     three; P = 65,920 floats for the LSTM)
speed-up(N) = step(1) / step(N), compute and sum divided by --clock-ratio for N > 1 (all-core
over one-core clock); --compute-scale k multiplies the shard and packing times (a core twice
as fast as the calibrated one, e.g. an AVX-512 Xeon on the SIMD16 tile: 0.5). handoff(2) is measured; line(N), the mean cache-line transfer between two of
the N workers placed by `pack`, cannot be on two cores: --line-us within an L3 group (default
0.05), --l3-us between L3 groups of a socket (0.12), --socket-us between sockets (0.20), in the
range published core-to-core latencies give for current Xeons and EPYCs.
The figures come from `patchrnn bench --calibrate --json` (--calibration FILE: a JSON line per
round, medians used; defaults: this project's 2-vCPU Zen 3 VM, docs/scaling.md).
--measured FILE (bench --json lines, e.g. scripts/scaling-report.sh's scaling.jsonl) prints the
measured speed-ups beside the predictions; --old-xeon-table compares with the 16-core table of
an earlier round kept in the README.

`nodes`: MPI ranks, one per node, each computing its shards, then the gradient exchange:
  allreduce (Rabenseifner: reduce-scatter + all-gather)
           t_a = 2 log2(N) alpha + 2 (N-1)/N * M / bandwidth
  exact    (all-gather of every shard's gradient)
           t_e = log2(N) alpha + (N-1)/N * S * M / bandwidth,   S = global batch / shard size
  efficiency = t_c / (t_c + t_x): the fraction of N isolated nodes' throughput the job keeps.
A fixed global batch over more nodes: a node with fewer than 16 threads x 16 samples idles cores.
M is the gradient, 65,920 floats (65,905 parameters padded to SIMD blocks) = 257.5 KiB.
Defaults: the 16-core Xeon of the README's table (batch 256, 16 threads), 10 us latency.

Usage: scripts/cost-model.py cores [--calibration FILE] [--measured FILE] [--old-xeon-table]
       scripts/cost-model.py nodes [--node-samples-per-s 86075] [--latency-us 10]
"""
import argparse
import json
import math
import statistics
import sys

P = 65_920
M = P * 4
SHARD = 16
NODES = [2, 4, 8, 16, 32, 64]
LINKS = [10, 25, 100]

# Measured on the project's 2-vCPU AMD EPYC (Zen 3, AVX2) VM with `patchrnn bench --calibrate
# --cell C --threads 2 --repeats 1 --seconds 1`, five rounds (simd8 tile): the medians of the
# rounds (docs/scaling.md has the ranges).
DEFAULT_CALIBRATIONS = {
    "lstm": {"shards": [{"size": 4, "us": 286.0}, {"size": 16, "us": 1170.0}], "pack_us": 39.1,
             "sum_bytes_per_s": 18.7e9, "hand_offs": [{"workers": 1, "us": 0.10}, {"workers": 2, "us": 0.705}],
             "parameters": 65_920},
    "gru": {"shards": [{"size": 4, "us": 227.0}, {"size": 16, "us": 901.0}], "pack_us": 40.2,
            "sum_bytes_per_s": 18.7e9, "hand_offs": [{"workers": 1, "us": 0.10}, {"workers": 2, "us": 0.675}],
            "parameters": 50_240},
}

# The 16-core Xeon VM of an earlier round (family 6 model 207, no SMT, one L3; AVX2 code),
# `bench --threads 16 --scaling --seconds 2 --batch-size B --shard-size s`, samples/s (README).
OLD_XEON = {
    "threads": [1, 2, 4, 8, 12, 16],
    "columns": [  # (batch, shard, samples/s per thread count)
        (64, 16, [6775, 13073, 23885, 15963, 23404, 17333]),
        (64, 4, [6598, 11147, 23741, 44740, 51632, 57734]),
        (256, 16, [5909, 16331, 29643, 43435, 63373, 86075]),
    ],
}


def load_calibration(path, cell="lstm"):
    """The medians of a calibration file's rounds for `cell` (any cell's when it has none)."""
    if not path:
        if cell not in DEFAULT_CALIBRATIONS:
            sys.exit(f"cost-model: no built-in calibration for the cell {cell} (there are {', '.join(DEFAULT_CALIBRATIONS)}): "
                     "give --calibration (patchrnn bench --calibrate --json)")
        return DEFAULT_CALIBRATIONS[cell]
    lines = [json.loads(line) for line in open(path) if line.strip()]
    rounds = [r for r in lines if r.get("cell") == cell] or lines
    med = statistics.median
    shards = [{"size": s["size"], "us": med(r["shards"][i]["us"] for r in rounds)} for i, s in enumerate(rounds[0]["shards"])]
    hands = [{"workers": h["workers"], "us": med(r["hand_offs"][i]["us"] for r in rounds)} for i, h in enumerate(rounds[0]["hand_offs"])]
    return {"shards": shards, "pack_us": med(r["pack_us"] for r in rounds),
            "sum_bytes_per_s": med(r["sum_bytes_per_s"] for r in rounds), "hand_offs": hands,
            "parameters": rounds[0]["parameters"]}


class Machine:
    """Cores grouped in L3 groups and sockets, filled in order (the `pack` placement)."""

    def __init__(self, cores, l3, socket, name):
        self.cores, self.l3, self.socket, self.name = cores, l3, socket, name

    def mean_line_us(self, n, a):
        """Mean cache-line transfer between two distinct workers of the first n cores."""
        if n < 2:
            return 0.0
        pairs = n * (n - 1)
        same_l3 = sum(k * (k - 1) for k in self.group_sizes(n, self.l3))
        same_socket = sum(k * (k - 1) for k in self.group_sizes(n, self.socket))
        return (same_l3 * a.line_us + (same_socket - same_l3) * a.l3_us + (pairs - same_socket) * a.socket_us) / pairs

    @staticmethod
    def group_sizes(n, size):
        return [min(size, n - i) for i in range(0, n, size)]


def shard_us(cal, size):
    known = {s["size"]: s["us"] for s in cal["shards"]}
    if size in known:
        return known[size]
    # Linear in the rows between the two sizes measured (the per-step GEMMs grow with the rows).
    (s0, t0), (s1, t1) = sorted(known.items())[:2]
    return t0 + (size - s0) * (t1 - t0) / (s1 - s0)


def step_us(cal, machine, n, batch, shard, a, compute_scale=None):
    compute_scale = a.compute_scale if compute_scale is None else compute_scale
    shards = math.ceil(batch / shard)
    handoff2 = next((h["us"] for h in cal["hand_offs"] if h["workers"] == 2), 0.35)
    line = machine.mean_line_us(n, a)
    compute = math.ceil(shards / n) * shard_us(cal, shard) * compute_scale + cal["pack_us"] * compute_scale
    queue = n * line if n > 1 else 0.0
    # A hand-off measured at this worker count (bench --calibrate on the machine) beats the formula.
    measured = next((h["us"] for h in cal["hand_offs"] if h["workers"] == n), None)
    hand = 2 * (measured if measured is not None else handoff2 + (n - 2) * line) if n > 1 else 0.0
    sum_adam = (shards + 6) * 4 * cal["parameters"] / n / cal["sum_bytes_per_s"] * 1e6
    clock = a.clock_ratio if n > 1 else 1.0
    return (compute + sum_adam) / clock + queue + hand, {"compute": compute / clock, "sum": sum_adam / clock, "sync": queue + hand}


def measured_speedups(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by = {}
    for r in rows:
        by.setdefault((r["cell"], r["batch_size"], r["threads"]), []).append(r["samples_per_s"])
    out = {}
    for (cell, batch, threads), v in by.items():
        base = by.get((cell, batch, 1))
        if base:
            out[(cell, batch, threads)] = statistics.median(v) / statistics.median(base)
    return out


def cores(a):
    cal = load_calibration(a.calibration, a.cell)
    machines = {16: Machine(16, 16, 16, "16 cores, one L3 (the Xeon VM)"),
                64: Machine(64, 8, 64, "64 cores, one socket, L3 groups of 8"),
                192: Machine(192, 8, 96, "2 x 96 cores, L3 groups of 8 (2 x EPYC 9654)")}
    print(f"Calibration: shard of 4 {shard_us(cal, 4):.0f} us, shard of 16 {shard_us(cal, 16):.0f} us, "
          f"pack {cal['pack_us']:.1f} us, sum + Adam {cal['sum_bytes_per_s'] / 1e9:.1f} GB/s per core, "
          f"2-worker hand-off {next((h['us'] for h in cal['hand_offs'] if h['workers'] == 2), 0.35):.2f} us; "
          f"cache line {a.line_us:.3f} us within an L3, {a.l3_us:.3f} between L3 groups, {a.socket_us:.3f} between sockets; "
          f"clock ratio {a.clock_ratio:g}; compute scaled by {a.compute_scale:g}\n")
    print("Predicted speed-up over one thread (step us at N; share of the step in sum + Adam / synchronisation):\n")
    configs = [(64, 4), (256, 16), (256, 4), (1024, 16)]
    print("| cores | machine | " + " | ".join(f"batch {b}, shard {s}" for b, s in configs) + " |")
    print("|---:|---|" + "---|" * len(configs))
    for n in [1, 2, 4, 8, 16, 64, 192]:
        m = machines[16] if n <= 16 else machines[n] if n in machines else machines[192]
        cells = []
        for b, s in configs:
            t1, _ = step_us(cal, m, 1, b, s, a)
            tn, parts = step_us(cal, m, n, b, s, a)
            cells.append(f"{t1 / tn:.1f}x ({tn:.0f} us; {100 * parts['sum'] / tn:.0f}% / {100 * parts['sync'] / tn:.0f}%)")
        print(f"| {n} | {m.name if n >= 16 else ''} | " + " | ".join(cells) + " |")
    if a.measured:
        meas = measured_speedups(a.measured)
        print(f"\nMeasured ({a.measured}) against predicted speed-ups, default shards (machine: {a.measured_cores or 'as measured'}):\n")
        print("| cell | batch | threads | measured | predicted |")
        print("|---|---:|---:|---:|---:|")
        m = Machine(10**6, a.measured_l3 or 10**6, a.measured_socket or 10**6, "")
        for (cell, batch, threads), sp in sorted(meas.items()):
            shard = min(16, max(4, batch // 16))
            cell_cal = load_calibration(a.calibration, cell)
            t1, _ = step_us(cell_cal, m, 1, batch, shard, a)
            tn, _ = step_us(cell_cal, m, threads, batch, shard, a)
            print(f"| {cell} | {batch} | {threads} | {sp:.2f}x | {t1 / tn:.2f}x |")
    if a.old_xeon_table:
        old_xeon(cal, a)


def old_xeon(cal, a):
    """The earlier round's 16-core table against the model, compute scaled to its one-thread figure."""
    m = Machine(16, 16, 16, "")
    print("\nThe 16-core Xeon VM of an earlier round (README), measured / predicted speed-up; the model's compute is "
          "scaled so that its one-thread step matches each column's one-thread figure:\n")
    heads = [f"batch {b}, shard {s}" for b, s, _ in OLD_XEON["columns"]]
    print("| threads | " + " | ".join(heads) + " |")
    print("|---:|" + "---|" * len(heads))
    scales = []
    for b, s, sps in OLD_XEON["columns"]:
        t1_measured = b / sps[0] * 1e6
        t1_model, parts = step_us(cal, m, 1, b, s, a)
        scales.append((t1_measured - parts["sum"]) / parts["compute"])
    for i, n in enumerate(OLD_XEON["threads"]):
        cells = []
        for (b, s, sps), k in zip(OLD_XEON["columns"], scales):
            t1, _ = step_us(cal, m, 1, b, s, a, compute_scale=k)
            tn, _ = step_us(cal, m, n, b, s, a, compute_scale=k)
            cells.append(f"{sps[i] / sps[0]:.2f}x / {t1 / tn:.2f}x")
        print(f"| {n} | " + " | ".join(cells) + " |")
    print("\n(compute scale factors, the old VM's shard time over this machine's: " + ", ".join(f"{k:.2f}" for k in scales) + ")")


def t_allreduce(n, gbit, alpha):
    return 2 * math.log2(n) * alpha + 2 * (n - 1) / n * M / (gbit * 1e9 / 8)


def t_exact(n, gbit, alpha, global_batch):
    shards = math.ceil(global_batch / SHARD)
    return math.log2(n) * alpha + (n - 1) / n * shards * M / (gbit * 1e9 / 8)


def nodes(a):
    alpha, rate, b = a.latency_us * 1e-6, a.node_samples_per_s, a.batch_per_node
    tc = b / rate
    print(f"Node: {rate:,.0f} samples/s; batch {b} per node -> compute {tc * 1e3:.2f} ms per step; "
          f"latency {a.latency_us:g} us; gradient {M / 1024:.1f} KiB\n")
    for name, f in [("allreduce", lambda n, g: t_allreduce(n, g, alpha)),
                    ("exact", lambda n, g: t_exact(n, g, alpha, b * n))]:
        print(f"`--mpi-exchange {name}`: exchange ms per step / efficiency")
        print()
        print("| nodes | global batch | " + " | ".join(f"{g} Gb/s" for g in LINKS) + " |")
        print("|---:|---:|" + "---:|" * len(LINKS))
        for n in NODES:
            cells = []
            for g in LINKS:
                tx = f(n, g)
                cells.append(f"{tx * 1e3:.2f} ms / {100 * tc / (tc + tx):.0f}%")
            print(f"| {n} | {b * n:,} | " + " | ".join(cells) + " |")
        print()
    # Strong scaling: a fixed global batch spread over more nodes. A node with fewer than
    # threads x shard samples leaves cores idle: its step takes ceil(shards / threads) shard times.
    threads, link = 16, 25
    shard_time = threads * SHARD / rate
    print(f"Fixed global batch, `--mpi-exchange allreduce`, {link} Gb/s, {threads}-core nodes: samples/s (step ms)")
    print()
    batches = [256, 1024, 4096]
    print("| nodes | " + " | ".join(f"batch {g:,}" for g in batches) + " |")
    print("|---:|" + "---:|" * len(batches))
    for n in [1] + NODES:
        cells = []
        for g in batches:
            shards_per_node = math.ceil(g / SHARD / n)
            t = math.ceil(shards_per_node / threads) * shard_time + (t_allreduce(n, link, alpha) if n > 1 else 0)
            cells.append(f"{g / t:,.0f} ({t * 1e3:.2f})")
        print(f"| {n} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="model", required=True)
    c = sub.add_parser("cores", help="one process, N worker threads")
    c.add_argument("--calibration", help="JSON lines of `patchrnn bench --calibrate --json`")
    c.add_argument("--cell", default="lstm", help="whose calibration the prediction table uses (default lstm; a cell without a "
                   "built-in one needs --calibration)")
    c.add_argument("--measured", help="JSON lines of `patchrnn bench --json` (scaling-report.sh's scaling.jsonl)")
    c.add_argument("--measured-cores", help="a note on the measured machine, printed with the comparison")
    c.add_argument("--measured-l3", type=int, help="cores per L3 group of the measured machine (default: one L3)")
    c.add_argument("--measured-socket", type=int, help="cores per socket of the measured machine (default: one socket)")
    c.add_argument("--line-us", type=float, default=0.05, help="cache-line transfer within an L3 group, us (default 0.05)")
    c.add_argument("--l3-us", type=float, default=0.12, help="between L3 groups of one socket (default 0.12)")
    c.add_argument("--socket-us", type=float, default=0.20, help="between sockets (default 0.20)")
    c.add_argument("--clock-ratio", type=float, default=1.0, help="all-core over one-core clock (default 1)")
    c.add_argument("--compute-scale", type=float, default=1.0,
                   help="shard and packing times times this: a core k times as fast as the calibrated one is 1/k (default 1)")
    c.add_argument("--old-xeon-table", action="store_true", help="compare with the README's earlier 16-core table")
    c.set_defaults(run=cores)
    n = sub.add_parser("nodes", help="MPI ranks across nodes")
    n.add_argument("--node-samples-per-s", type=float, default=86_075)
    n.add_argument("--latency-us", type=float, default=10)
    n.add_argument("--batch-per-node", type=int, default=256)
    n.set_defaults(run=nodes)
    a = ap.parse_args()
    a.run(a)


if __name__ == "__main__":
    main()
