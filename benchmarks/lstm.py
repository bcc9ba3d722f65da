"""LSTM forward + backward: T=50, B=32, input 64, hidden 128, float32.

Prints nnkit's time per step, the fraction of the machine's float32 GEMM rate
it reaches, a straightforward NumPy LSTM (one step at a time, a fresh array for
every intermediate) and, when PyTorch is installed, the ratio to its CPU LSTM.
Run: ``python -m benchmarks.lstm``.
"""
from __future__ import annotations

import numpy as np

import nnkit
from benchmarks.common import best_time, gemm_gflops, print_table, torch_or_none
from nnkit.autodiff import Tensor
from nnkit.nn import LSTM

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


def main() -> dict:
    nnkit.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    layer = LSTM(I, H, dtype="float32")

    def nnkit_step():
        layer.zero_grad()
        xt = Tensor(x, requires_grad=True)
        out, _ = layer(xt)
        out.backward(dy)

    ref = NumpyLSTM(rng)
    t_nnkit = best_time(nnkit_step)
    t_numpy = best_time(lambda: ref.forward_backward(x, dy))
    gflops = gemm_gflops()
    rate = lstm_flops() / t_nnkit / 1e9
    rows = [("nnkit LSTM", f"{t_nnkit * 1e3:.2f} ms", f"{rate:.0f} GFLOP/s = {rate / gflops:.0%} of GEMM ({gflops:.0f})"),
            ("NumPy reference", f"{t_numpy * 1e3:.2f} ms", f"{t_numpy / t_nnkit:.2f}x nnkit's time")]
    result = {"nnkit_ms": t_nnkit * 1e3, "numpy_ms": t_numpy * 1e3, "gemm_fraction": rate / gflops}
    torch = torch_or_none()
    if torch is not None:
        tl = torch.nn.LSTM(I, H, batch_first=True)
        xt_ = torch.from_numpy(x).requires_grad_(True)
        dyt = torch.from_numpy(dy)

        def torch_step():
            tl.zero_grad()
            xt_.grad = None
            out, _ = tl(xt_)
            out.backward(dyt)

        t_torch = best_time(torch_step)
        result["torch_ms"] = t_torch * 1e3
        rows.append(("PyTorch CPU", f"{t_torch * 1e3:.2f} ms",
                     f"nnkit / torch = {t_nnkit / t_torch:.2f}x, NumPy reference / torch = {t_numpy / t_torch:.2f}x"))
    print_table(f"LSTM forward+backward, T={T} B={B} I={I} H={H}, float32", rows)
    return result


if __name__ == "__main__":
    main()
