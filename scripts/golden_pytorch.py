#!/usr/bin/env python3
"""Golden values from PyTorch for the Swift tests (Tests/PatchRNNTests/Fixtures/golden.json).

Builds the PatchRNN model in PyTorch (nn.LSTM(49, H, L, batch_first=True) + nn.Linear(H, 49)),
runs one teacher-forced forward/backward on a small fixed batch and three Adam steps, and
free-running generation of the bottom halves, and writes everything as JSON. Weights are in
PyTorch's state_dict layout; the Swift test loads them through the same code path that reads
checkpoints. Run: python3 scripts/golden_pytorch.py  (needs torch; the Swift tests do not).
"""
import json
import pathlib
import torch

torch.manual_seed(1234)
H, L, B, T, D = 12, 2, 3, 15, 49
lstm = torch.nn.LSTM(D, H, L, batch_first=True)
linear = torch.nn.Linear(H, D)
model = torch.nn.ModuleDict({"lstm": lstm, "linear": linear})
seqs = torch.rand(B, 16, D)

def forward(x):
    out, _ = lstm(x)
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

# Free-running generation from the initial weights.
model.load_state_dict(state0)
with torch.no_grad():
    out, hc = lstm(seqs[:, :8])
    pred = linear(out[:, -1:]).clamp(0, 1)  # generated pixels are clipped to [0, 1]
    gen = [pred]
    for _ in range(7):
        out, hc = lstm(pred, hc)
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
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/PatchRNNTests/Fixtures/golden.json"
path.write_text(json.dumps(fixture, separators=(",", ":")))
print(f"wrote {path} ({path.stat().st_size} bytes), loss {loss.item():.6f}")
