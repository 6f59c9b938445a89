#!/usr/bin/env python3
"""Golden values from PyTorch for the Swift tests (Tests/PatchRNNTests/Fixtures/golden*.json).

Builds the PatchRNN model in PyTorch (torch.nn.<CELL>(49, H, L, batch_first=True) +
nn.Linear(H, 49), the class named by the cell's patchrnn name in capitals: lstm -> nn.LSTM,
gru -> nn.GRU), runs one teacher-forced forward/backward on a small fixed batch and three Adam
steps, and free-running generation of the bottom halves, and writes everything as JSON.
Weights are in PyTorch's state_dict layout (module keys: the cell's name, e.g. "lstm", and
"linear"); the Swift test loads them through the same code path that reads checkpoints.
Run (needs torch; the Swift tests do not):
  python3 scripts/golden_pytorch.py              # LSTM -> Fixtures/golden_lstm.json
  python3 scripts/golden_pytorch.py --cell gru   # GRU  -> Fixtures/golden_gru.json
  --out PATH writes elsewhere (e.g. to compare with the committed file).
A new cell needs only its seed in SEEDS (or --seed) here.
"""
import argparse
import json
import os
import pathlib

# torch's CPU LSTM runs through oneDNN, whose AVX-512 kernels round differently from its AVX2
# ones; the committed golden_lstm.json was made with the AVX2 kernels, so pin them (before torch
# is imported) to regenerate it byte for byte on either kind of x86 CPU. Override by setting it.
os.environ.setdefault("DNNL_MAX_CPU_ISA", "AVX2")
import torch  # noqa: E402

# Each cell's fixture has its own seed; a committed fixture's seed must not change.
SEEDS = {"lstm": 1234, "gru": 4321}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--cell", default="lstm", help="the cell's patchrnn name (default lstm); the model uses torch.nn.<CELL>")
parser.add_argument("--seed", type=int, default=None, help="the fixture's seed (default: the cell's in SEEDS)")
parser.add_argument("--out", type=pathlib.Path, default=None,
                    help="output path (default Tests/PatchRNNTests/Fixtures/golden_<cell>.json)")
args = parser.parse_args()
cell_class = getattr(torch.nn, args.cell.upper(), None)
if not (isinstance(cell_class, type) and issubclass(cell_class, torch.nn.RNNBase)):
    parser.error(f"--cell {args.cell}: torch.nn has no recurrent layer {args.cell.upper()}")
seed = args.seed if args.seed is not None else SEEDS.get(args.cell)
if seed is None:
    parser.error(f"--cell {args.cell} has no fixture seed: add one to SEEDS in {__file__}, or give --seed")

torch.manual_seed(seed)
H, L, B, T, D = 12, 2, 3, 15, 49
rnn = cell_class(D, H, L, batch_first=True)
linear = torch.nn.Linear(H, D)
model = torch.nn.ModuleDict({args.cell: rnn, "linear": linear})
seqs = torch.rand(B, 16, D)

def forward(x):
    out, _ = rnn(x)
    return linear(out)

state0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
y = forward(seqs[:, :15])
loss = torch.nn.functional.mse_loss(y, seqs[:, 1:])
loss.backward()
grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}

# Three Adam steps on the same batch (PyTorch defaults, lr 1e-3), single-tensor path.
opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)
losses = []
for _ in range(3):
    opt.zero_grad()
    l = torch.nn.functional.mse_loss(forward(seqs[:, :15]), seqs[:, 1:])
    losses.append(l.item())
    l.backward()
    opt.step()
state3 = {k: v.detach().clone() for k, v in model.state_dict().items()}

# Free-running generation from the initial weights: patches 1..8 in, the output after patch 8
# is patch 9, then each prediction fed back. The recurrent state is (h, c) for the LSTM, h for
# the GRU; either is passed back as the module returned it.
model.load_state_dict(state0)
with torch.no_grad():
    out, hc = rnn(seqs[:, :8])
    pred = linear(out[:, -1:]).clamp(0, 1)  # generated pixels are clipped to [0, 1]
    gen = [pred]
    for _ in range(7):
        out, hc = rnn(pred, hc)
        pred = linear(out).clamp(0, 1)
        gen.append(pred)
    gen = torch.cat(gen, dim=1)

flat = lambda t: [float("%.9g" % v) for v in t.reshape(-1).tolist()]
fixture = {
    "hidden": H, "layers": L, "batch": B,
    "sequences": flat(seqs),
    "state": {k: {"shape": list(v.shape), "values": flat(v)} for k, v in state0.items()},
    "loss": loss.item(),
    "outputs": flat(y.detach()),
    "grads": {k: flat(v) for k, v in grads.items()},
    "adam_losses": losses,
    "state_after_3_adam_steps": {k: flat(v) for k, v in state3.items()},
    "generated_bottoms": flat(gen),
    "torch_version": torch.__version__,
}
path = args.out or pathlib.Path(__file__).resolve().parent.parent / "Tests/PatchRNNTests/Fixtures" / f"golden_{args.cell}.json"
path.write_text(json.dumps(fixture, separators=(",", ":")))
print(f"wrote {path} ({path.stat().st_size} bytes), loss {loss.item():.6f}")
