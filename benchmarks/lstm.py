"""LSTM forward + backward: T=50, B=32, input 64, hidden 128, float32.

Prints nnkit's time per step, the fraction of the machine's float32 GEMM rate
it reaches, a straightforward NumPy LSTM (one step at a time, a fresh array for
every intermediate) and, when PyTorch is installed, the ratio to its CPU LSTM.
The contenders are timed in alternating rounds (best round kept), so that a
burst of load on a shared machine does not favour one of them.
``--cells`` adds nnkit's GRU and tanh RNN against PyTorch's; ``--products`` times the
LSTM's matrix products alone (the part BLAS does, with nnkit's shapes), the floor under any
NumPy LSTM on this machine.

Run: ``python benchmarks/lstm.py [--rounds 5] [--cells] [--products]`` (or ``python -m benchmarks.lstm``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import nnkit
from nnkit.autodiff import Tensor
from nnkit.nn import GRU, LSTM, RNN

try:
    from benchmarks.common import best_time, gemm_gflops, print_table, torch_or_none
except ImportError:  # run as a script: python benchmarks/lstm.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import best_time, gemm_gflops, print_table, torch_or_none

T, B, I, H = 50, 32, 64, 128


def lstm_flops(T=T, B=B, I=I, H=H) -> float:
    """Multiply-adds x 2 of the matrix products: forward x(I->4H), h(H->4H); backward twice that."""
    forward = 2 * T * B * 4 * H * (I + H)
    return 3 * forward


class NumpyLSTM:
    """The textbook LSTM in NumPy: a loop over steps, concatenated [x_t, h] @ W, caches in lists."""

    def __init__(self, rng):
        self.W = (rng.standard_normal((I + H, 4 * H)) / np.sqrt(H)).astype(np.float32)
        self.b = np.zeros(4 * H, np.float32)

    def forward_backward(self, x, dy):
        W, b = self.W, self.b
        h = np.zeros((B, H), np.float32)
        c = np.zeros((B, H), np.float32)
        cache = []
        for t in range(T):
            xh = np.concatenate([x[:, t], h], axis=1)
            a = xh @ W + b
            i, f, o = (1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in range(3))
            g = np.tanh(a[:, 3 * H:])
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            h = o * tc
            cache.append((xh, i, f, o, g, c, tc))
            c = c_new
        dW, db = np.zeros_like(W), np.zeros_like(b)
        dx = np.zeros_like(x)
        dh, dc = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)
        for t in reversed(range(T)):
            xh, i, f, o, g, c_prev, tc = cache[t]
            dh = dh + dy[:, t]
            do = dh * tc
            dc = dc + dh * o * (1 - tc ** 2)
            da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                 do * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
            dW += xh.T @ da
            db += da.sum(axis=0)
            dxh = da @ W.T
            dx[:, t] = dxh[:, :I]
            dh = dxh[:, I:]
            dc = dc * f
        return dx, dW, db


def products_only(rng):
    """Only the matrix products of one LSTM forward + backward, with the shapes nnkit uses.

    The input projection of all steps, T recurrent products h_{t-1} W_hh^T (B x H by H x 4H),
    T backward products dA_t W_hh (B x 4H by 4H x H) and the three weight-gradient products,
    and nothing else: the time every NumPy LSTM on this BLAS needs before any element-wise work.
    """
    x2 = rng.standard_normal((T * B, I)).astype(np.float32)
    w_ih = rng.standard_normal((I, 4 * H)).astype(np.float32)
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32)
    w_hh_T = np.ascontiguousarray(w_hh.T)
    hs = rng.standard_normal((T, B, H)).astype(np.float32)
    dA = rng.standard_normal((T, B, 4 * H)).astype(np.float32)
    rec, dh = np.empty((B, 4 * H), np.float32), np.empty((B, H), np.float32)

    def step():
        x2 @ w_ih
        for t in range(T):
            np.matmul(hs[t], w_hh_T, out=rec)
        for t in range(T - 1, -1, -1):
            np.matmul(dA[t], w_hh, out=dh)
        dA2 = dA.reshape(T * B, 4 * H)
        dA2.T @ x2, dA2.T @ hs.reshape(T * B, H), dA2 @ w_ih.T
    return step


def nnkit_step(layer, x, dy):
    """One forward + backward of an nnkit recurrent layer on fixed data."""
    def step():
        layer.zero_grad()
        out, _ = layer(Tensor(x, requires_grad=True))
        out.backward(dy)
    return step


def torch_step(torch, module, x, dy):
    """The same for a PyTorch recurrent module."""
    xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def step():
        module.zero_grad()
        xt.grad = None
        out, _ = module(xt)
        out.backward(dyt)
    return step


def best_of_rounds(fns: dict, rounds: int) -> dict:
    """Seconds per call for each function: the best of ``rounds`` alternating rounds."""
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], best_time(fn, repeat=1, min_time=0.1))
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (best kept)")
    parser.add_argument("--cells", action="store_true", help="also time GRU and tanh RNN")
    parser.add_argument("--products", action="store_true",
                        help="also time the LSTM's matrix products alone (the floor set by BLAS)")
    args = parser.parse_args(argv)
    nnkit.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    ref = NumpyLSTM(rng)
    fns = {"lstm": nnkit_step(LSTM(I, H, dtype="float32"), x, dy),
           "numpy": lambda: ref.forward_backward(x, dy)}
    if args.products:
        fns["products"] = products_only(rng)
    torch = torch_or_none()
    if torch is not None:
        fns["torch"] = torch_step(torch, torch.nn.LSTM(I, H, batch_first=True), x, dy)
    if args.cells:
        fns["gru"] = nnkit_step(GRU(I, H, dtype="float32"), x, dy)
        fns["rnn"] = nnkit_step(RNN(I, H, dtype="float32"), x, dy)
        if torch is not None:
            fns["torch_gru"] = torch_step(torch, torch.nn.GRU(I, H, batch_first=True), x, dy)
            fns["torch_rnn"] = torch_step(torch, torch.nn.RNN(I, H, batch_first=True), x, dy)
    t = best_of_rounds(fns, args.rounds)
    gflops = gemm_gflops()
    t_nnkit, t_numpy = t["lstm"], t["numpy"]
    rate = lstm_flops() / t_nnkit / 1e9
    rows = [("nnkit LSTM", f"{t_nnkit * 1e3:.2f} ms", f"{rate:.0f} GFLOP/s = {rate / gflops:.0%} of GEMM ({gflops:.0f})"),
            ("NumPy reference", f"{t_numpy * 1e3:.2f} ms", f"{t_numpy / t_nnkit:.2f}x nnkit's time")]
    result = {"nnkit_ms": t_nnkit * 1e3, "numpy_ms": t_numpy * 1e3, "gemm_fraction": rate / gflops}
    if torch is not None:
        t_torch = t["torch"]
        result["torch_ms"] = t_torch * 1e3
        rows.append(("PyTorch CPU", f"{t_torch * 1e3:.2f} ms",
                     f"nnkit / torch = {t_nnkit / t_torch:.2f}x, NumPy reference / torch = {t_numpy / t_torch:.2f}x"))
    if args.products:
        t_products = t["products"]
        result["products_ms"] = t_products * 1e3
        note = f"{t_products / t_nnkit:.0%} of nnkit's step"
        if torch is not None:
            note += f", {t_products / t['torch']:.2f}x PyTorch's whole step"
        rows.append(("its products alone", f"{t_products * 1e3:.2f} ms", note))
    for cell in ("gru", "rnn") if args.cells else ():
        note = f"nnkit / torch = {t[cell] / t['torch_' + cell]:.2f}x" if torch is not None else ""
        rows.append((f"nnkit {cell.upper()}", f"{t[cell] * 1e3:.2f} ms", note))
        result[f"{cell}_ms"] = t[cell] * 1e3
        if torch is not None:
            rows.append((f"PyTorch {cell.upper()}", f"{t['torch_' + cell] * 1e3:.2f} ms", ""))
            result[f"torch_{cell}_ms"] = t["torch_" + cell] * 1e3
    print_table(f"LSTM forward+backward, T={T} B={B} I={I} H={H}, float32", rows)
    return result


if __name__ == "__main__":
    main()
