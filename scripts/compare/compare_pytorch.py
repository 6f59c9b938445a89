#!/usr/bin/env python3
"""PatchRNN side by side with PyTorch: same model, same numbers, measured ratio.

Run through scripts/compare-pytorch.sh, which sets up the virtual environment, builds
patchrnn and sets PATCHRNN_BIN and PATCHRNN_DATA.

  equivalence  patchrnn records its initial weights and minibatch order (`patchrnn trace`);
               PyTorch replays the same Adam steps; the two loss curves are printed side by
               side with the largest relative difference (must be < 1e-3).
  interop      a patchrnn checkpoint loads into PyTorch with load_state_dict and gives the
               same test metrics; a PyTorch-trained state_dict saved as safetensors is
               evaluated and generated from by patchrnn, with the same metrics.
  throughput   training and generation speed of both, alternated in one run, with ratios.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import load_file, save_file

BIN = os.environ.get("PATCHRNN_BIN", "patchrnn")
DATA = os.environ.get("PATCHRNN_DATA", "data/mnist")


def torch_layer(cell):
    """torch.nn's recurrent layer for the patchrnn cell named `cell`: the name in capitals
    (lstm -> nn.LSTM, gru -> nn.GRU)."""
    layer = getattr(torch.nn, cell.upper(), None)
    if not (isinstance(layer, type) and issubclass(layer, torch.nn.RNNBase)):
        raise argparse.ArgumentTypeError(f"torch.nn has no recurrent layer {cell.upper()} for the cell {cell}")
    return layer


def cell_name(cell):
    """--cell's check: a cell PyTorch has a layer for (patchrnn checks it is one of its own)."""
    torch_layer(cell)
    return cell


class PatchRNN(torch.nn.Module):
    """The same model: torch.nn.<CELL>(49, H, L, batch_first=True) + nn.Linear(H, 49), under
    the state_dict names patchrnn writes ("<cell>." and "linear.")."""

    def __init__(self, hidden=64, layers=2, cell="lstm"):
        super().__init__()
        self.cell = cell
        rnn = torch_layer(cell)(49, hidden, layers, batch_first=True)
        self.add_module(cell, rnn)
        self.linear = torch.nn.Linear(hidden, 49)

    def forward(self, x, state=None):
        out, state = getattr(self, self.cell)(x, state)
        return self.linear(out), state


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def patches(images):
    """[N, 28, 28] uint8 -> [N, 16, 49] float32 in [0, 1], row-major over the 4x4 grid."""
    x = images.astype(np.float32) / 255.0
    return torch.from_numpy(x.reshape(-1, 4, 7, 4, 7).transpose(0, 1, 3, 2, 4).reshape(-1, 16, 49).copy())


def load_split(name):
    prefix = {"train": "train", "test": "t10k"}[name]
    images = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz")
    return patches(images), torch.from_numpy(labels.astype(np.int64))


def run(args, capture=True):
    result = subprocess.run([BIN] + args, capture_output=capture, text=True)
    if result.returncode != 0:
        sys.exit(f"patchrnn {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@torch.no_grad()
def test_metrics(model, seqs, labels):
    """Free-running bottom-half MSE (class batches, generated pixels clipped to [0, 1]) and
    teacher-forced MSE, as patchrnn computes them."""
    sse, count = 0.0, 0
    for d in range(10):
        x = seqs[labels == d]
        y, state = model(x[:, :8])
        pred = y[:, -1:].clamp(0, 1)
        gen = [pred]
        for _ in range(7):
            y, state = model(pred, state)
            pred = y.clamp(0, 1)
            gen.append(pred)
        gen = torch.cat(gen, dim=1)
        sse += ((gen.double() - x[:, 8:].double()) ** 2).sum().item()
        count += gen.numel()
    y, _ = model(seqs[:, :15])
    tf = ((y.double() - seqs[:, 1:].double()) ** 2).mean().item()
    return sse / count, tf


def equivalence(a):
    train, _ = load_split("train")
    with tempfile.TemporaryDirectory() as tmp:
        run(["trace", "--data", DATA, "--out", tmp, "--steps", str(a.steps), "--batch-size", str(a.batch_size),
             "--seed", str(a.seed), "--threads", "1", "--cell", a.cell])
        trace = json.load(open(f"{tmp}/trace.json"))
        model = PatchRNN(trace["hidden"], trace["layers"], trace.get("cell", "lstm"))
        model.load_state_dict(load_file(f"{tmp}/init.safetensors"), strict=True)
    opt = torch.optim.Adam(model.parameters(), lr=trace["learning_rate"])
    torch_losses = []
    for batch in trace["batches"]:
        x = train[batch]
        opt.zero_grad()
        y, _ = model(x[:, :15])
        loss = torch.nn.functional.mse_loss(y, x[:, 1:])
        torch_losses.append(loss.item())
        loss.backward()
        opt.step()
    ours = trace["losses"]
    rel = [abs(p - t) / abs(t) for p, t in zip(ours, torch_losses)]
    print(f"{trace.get('cell', 'lstm')}: {len(ours)} Adam steps, batch {trace['batch_size']}, lr {trace['learning_rate']}, seed {trace['seed']}")
    print(f"{'step':>5} {'patchrnn':>12} {'pytorch':>12} {'rel. diff':>10}")
    for i in range(len(ours)):
        if i < 5 or (i + 1) % 10 == 0:
            print(f"{i + 1:>5} {ours[i]:12.7f} {torch_losses[i]:12.7f} {rel[i]:10.2e}")
    worst = max(rel)
    print(f"largest relative difference over {len(ours)} steps: {worst:.2e} (step {rel.index(worst) + 1}); bound 1e-3")
    if worst >= 1e-3:
        sys.exit("equivalence FAILED")
    print("equivalence OK")


def interop(a):
    test, labels = load_split("test")
    train, _ = load_split("train")
    with tempfile.TemporaryDirectory() as tmp:
        # 1. patchrnn -> PyTorch
        run(["train", "--data", DATA, "--out", f"{tmp}/ours", "--epochs", "2", "--train-limit", "12000", "--quiet", "--cell", a.cell])
        ours = json.loads(run(["evaluate", "--data", DATA, "--checkpoint", f"{tmp}/ours/model.safetensors", "--json", "--quiet"]))
        model = PatchRNN(cell=a.cell)
        missing = model.load_state_dict(load_file(f"{tmp}/ours/model.safetensors"), strict=True)
        fr, tf = test_metrics(model, test, labels)
        d1 = abs(fr - ours["test_free_running_bottom_mse"])
        d2 = abs(tf - ours["test_teacher_forced_mse"])
        print("%s: patchrnn checkpoint in PyTorch (load_state_dict strict: %s)" % (a.cell, missing))
        print(f"  free-running bottom MSE  patchrnn {ours['test_free_running_bottom_mse']:.7f}  pytorch {fr:.7f}  diff {d1:.1e}")
        print(f"  teacher-forced MSE       patchrnn {ours['test_teacher_forced_mse']:.7f}  pytorch {tf:.7f}  diff {d2:.1e}")
        # 2. PyTorch -> patchrnn
        torch.manual_seed(a.seed)
        model = PatchRNN(cell=a.cell)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for step in range(a.torch_steps):
            idx = torch.randint(0, train.shape[0], (64,))
            x = train[idx]
            opt.zero_grad()
            y, _ = model(x[:, :15])
            torch.nn.functional.mse_loss(y, x[:, 1:]).backward()
            opt.step()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{tmp}/torch.safetensors")
        fr2, tf2 = test_metrics(model, test, labels)
        theirs = json.loads(run(["evaluate", "--data", DATA, "--checkpoint", f"{tmp}/torch.safetensors", "--json", "--quiet"]))
        run(["generate", "--data", DATA, "--checkpoint", f"{tmp}/torch.safetensors", "--out", f"{tmp}/gen", "--quiet"])
        generated = os.path.exists(f"{tmp}/gen/samples.png")
        d3 = abs(fr2 - theirs["test_free_running_bottom_mse"])
        d4 = abs(tf2 - theirs["test_teacher_forced_mse"])
        print(f"PyTorch-trained state_dict ({a.torch_steps} Adam steps) in patchrnn (generate wrote samples.png: {generated})")
        print(f"  free-running bottom MSE  pytorch {fr2:.7f}  patchrnn {theirs['test_free_running_bottom_mse']:.7f}  diff {d3:.1e}")
        print(f"  teacher-forced MSE       pytorch {tf2:.7f}  patchrnn {theirs['test_teacher_forced_mse']:.7f}  diff {d4:.1e}")
    worst = max(d1, d2, d3, d4)
    print(f"largest difference {worst:.1e}; bound 1e-5")
    if worst >= 1e-5 or not generated:
        sys.exit("interop FAILED")
    print("interop OK")


def torch_training_rate(threads, batch, seconds, cell):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PatchRNN(cell=cell)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.rand(4096, 16, 49)
    steps = data.shape[0] // batch

    def step(k):
        x = data[(k % steps) * batch:((k % steps) + 1) * batch]
        opt.zero_grad()
        y, _ = model(x[:, :15])
        torch.nn.functional.mse_loss(y, x[:, 1:]).backward()
        opt.step()

    for k in range(10):
        step(k)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step(n)
        n += 1
    return n * batch / (time.perf_counter() - t0)


@torch.no_grad()
def torch_generation_rate(threads, cell):
    torch.set_num_threads(threads)
    model = PatchRNN(cell=cell)
    data = torch.rand(10_000, 16, 49)

    def generate(x):
        y, state = model(x[:, :8])
        pred = y[:, -1:].clamp(0, 1)
        for _ in range(7):
            y, state = model(pred, state)
            pred = y.clamp(0, 1)

    generate(data[:1000])
    t0 = time.perf_counter()
    for c in range(10):
        generate(data[c * 1000:(c + 1) * 1000])
    return 10_000 / (time.perf_counter() - t0)


def throughput(a):
    threads = [int(t) for t in a.threads.split(",")]
    batches = [int(b) for b in a.batch_sizes.split(",")]
    print(f"{a.cell}: torch {torch.__version__}, {a.rounds} alternating rounds per configuration, {a.seconds} s of steps each")
    print(f"{'threads':>7} {'batch':>5} | {'train samples/s':^33} | {'generation images/s':^33}")
    print(f"{'':>7} {'':>5} | {'patchrnn':>10} {'pytorch':>10} {'ratio':>10} | {'patchrnn':>10} {'pytorch':>10} {'ratio':>10}")
    for t in threads:
        for b in batches:
            ours_train, theirs_train, ours_gen, theirs_gen = [], [], [], []
            for _ in range(a.rounds):
                r = json.loads(run(["bench", "--threads", str(t), "--batch-size", str(b), "--seconds", str(a.seconds),
                                    "--cell", a.cell, "--json", "--quiet"]).strip().splitlines()[-1])
                ours_train.append(r["samples_per_s"])
                ours_gen.append(r["generation_images_per_s"])
                theirs_train.append(torch_training_rate(t, b, a.seconds, a.cell))
                theirs_gen.append(torch_generation_rate(t, a.cell))
            m = statistics.median
            print(f"{t:>7} {b:>5} | {m(ours_train):>10,.0f} {m(theirs_train):>10,.0f} {m(ours_train) / m(theirs_train):>9.2f}x"
                  f" | {m(ours_gen):>10,.0f} {m(theirs_gen):>10,.0f} {m(ours_gen) / m(theirs_gen):>9.2f}x", flush=True)
    print("medians of the rounds; ratio = patchrnn / pytorch (above 1: patchrnn is faster)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("equivalence")
    e.add_argument("--steps", type=int, default=100)
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--seed", type=int, default=1)
    i = sub.add_parser("interop")
    i.add_argument("--torch-steps", type=int, default=300)
    i.add_argument("--seed", type=int, default=1)
    t = sub.add_parser("throughput")
    t.add_argument("--threads", default="1,2")
    t.add_argument("--batch-sizes", default="64,256")
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument("--seconds", type=float, default=3)
    for command in (e, i, t):
        command.add_argument("--cell", type=cell_name, default="lstm",
                             help="the recurrent cell, by its patchrnn name (default lstm); PyTorch's is torch.nn.<CELL>")
    a = p.parse_args()
    {"equivalence": equivalence, "interop": interop, "throughput": throughput}[a.cmd](a)


if __name__ == "__main__":
    main()
