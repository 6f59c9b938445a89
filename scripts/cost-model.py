#!/usr/bin/env python3
"""Cost model for PatchRNN across nodes (README, "Past one machine").

Per step, every node computes its shards, then the ranks exchange gradients:
  compute  t_c = batch_per_node / node_samples_per_s          (no overlap with communication)
  allreduce (Rabenseifner: reduce-scatter + all-gather)
           t_a = 2 log2(N) alpha + 2 (N-1)/N * M / bandwidth
  exact    (all-gather of every shard's gradient)
           t_e = log2(N) alpha + (N-1)/N * S * M / bandwidth,   S = global batch / shard size
  efficiency = t_c / (t_c + t_x): the fraction of N isolated nodes' throughput the job keeps.
A fixed global batch over more nodes: a node with fewer than 16 threads x 16 samples idles cores.
M is the gradient, 65,920 floats (65,905 parameters padded to SIMD blocks) = 257.5 KiB.

Usage: scripts/mpi-cost-model.py [--node-samples-per-s 86075] [--latency-us 10]
The default node figure is the 16-core Xeon in README's scaling table (batch 256, 16 threads).
"""
import argparse
import math

M = 65_920 * 4
SHARD = 16
NODES = [2, 4, 8, 16, 32, 64]
LINKS = [10, 25, 100]


def t_allreduce(n, gbit, alpha):
    return 2 * math.log2(n) * alpha + 2 * (n - 1) / n * M / (gbit * 1e9 / 8)


def t_exact(n, gbit, alpha, global_batch):
    shards = math.ceil(global_batch / SHARD)
    return math.log2(n) * alpha + (n - 1) / n * shards * M / (gbit * 1e9 / 8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node-samples-per-s", type=float, default=86_075)
    ap.add_argument("--latency-us", type=float, default=10)
    ap.add_argument("--batch-per-node", type=int, default=256)
    a = ap.parse_args()
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

if __name__ == "__main__":
    main()
