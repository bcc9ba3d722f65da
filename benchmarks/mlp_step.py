"""Time one training step of a 2-16-16-1 tanh MLP (batch 100, float32, forward + backward + SGD).

Prints nnkit's time per step, a hand-written NumPy step, and PyTorch CPU when
installed, as ratios measured in this run.  Goal: nnkit <= 2x hand-written NumPy.

    python benchmarks/mlp_step.py
"""
from __future__ import annotations

import numpy as np

import nnkit
from nnkit import losses, nn, optim
from nnkit.data import moons

try:
    from benchmarks.common import best_time, gemm_gflops, print_table, torch_or_none
except ImportError:  # run as a script from the benchmarks folder
    from common import best_time, gemm_gflops, print_table, torch_or_none

LR = 0.1


def data():
    X, y = moons(100, noise=0.1, seed=0)
    return X.astype(np.float32), y.astype(np.float32)


def nnkit_step_fn(X, y):
    nnkit.seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.SGD(model.parameters(), lr=LR)

    def step():
        loss = losses.binary_cross_entropy_with_logits(model(X).reshape(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def numpy_step_fn(X, y):
    """The same network with forward and backward written out by hand."""
    rng = np.random.default_rng(0)
    W1 = rng.normal(0, 0.5, (16, 2)).astype(np.float32)
    b1 = np.zeros(16, np.float32)
    W2 = rng.normal(0, 0.25, (16, 16)).astype(np.float32)
    b2 = np.zeros(16, np.float32)
    W3 = rng.normal(0, 0.25, (1, 16)).astype(np.float32)
    b3 = np.zeros(1, np.float32)
    n = np.float32(len(y))

    def step():
        h1 = np.tanh(X @ W1.T + b1)
        h2 = np.tanh(h1 @ W2.T + b2)
        z = (h2 @ W3.T + b3)[:, 0]
        _loss = np.mean(np.logaddexp(0, z) - y * z)
        dz = (1 / (1 + np.exp(-z)) - y) / n  # d loss / d z
        dh2 = np.outer(dz, W3[0]) * (1 - h2 * h2)
        dh1 = (dh2 @ W2) * (1 - h1 * h1)
        for p, g in ((W3, dz[None, :] @ h2), (b3, dz.sum(keepdims=True)), (W2, dh2.T @ h1),
                     (b2, dh2.sum(0)), (W1, dh1.T @ X), (b1, dh1.sum(0))):
            p -= LR * g

    return step


def torch_step_fn(torch, X, y):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                                torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    lossf = torch.nn.BCEWithLogitsLoss()

    def step():
        loss = lossf(model(Xt).reshape(-1), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main():
    X, y = data()
    t_nnkit = best_time(nnkit_step_fn(X, y))
    t_numpy = best_time(numpy_step_fn(X, y))
    rows = [
        ("machine float32 GEMM", f"{gemm_gflops():.0f} GFLOP/s"),
        ("nnkit step", f"{t_nnkit * 1e6:.1f} us"),
        ("hand-written NumPy step", f"{t_numpy * 1e6:.1f} us"),
        ("nnkit / NumPy", f"{t_nnkit / t_numpy:.2f}x", "(goal <= 2x)"),
    ]
    torch = torch_or_none()
    if torch is not None:
        t_torch = best_time(torch_step_fn(torch, X, y))
        rows += [("PyTorch CPU step", f"{t_torch * 1e6:.1f} us"), ("nnkit / PyTorch", f"{t_nnkit / t_torch:.2f}x")]
    else:
        rows.append(("PyTorch", "not installed"))
    print_table("2-16-16-1 MLP training step, batch 100, float32", rows)
    return {"nnkit_s": t_nnkit, "numpy_s": t_numpy}


if __name__ == "__main__":
    main()
