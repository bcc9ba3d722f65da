"""How fast are nnkit's convolutions?  Prints times and ratios for two workloads.

(a) one LeNet-5 training step: batch 64 of 1x28x28, forward + backward + SGD update;
(b) a 3 -> 32 channel 3x3 convolution with padding 1 on 64x3x32x32, forward + backward
    (gradients for the weights and bias; the input is data and needs none).

For each: nnkit's time, the arithmetic rate as a fraction of this machine's float32
matrix-multiply rate (measured here; NumPy's products and nnkit's per-image work both use
OMP_NUM_THREADS threads, default all cores), a plain-NumPy im2col reference (sliding-window
view + tensordot, nothing reused), and the ratio to PyTorch CPU with the same number
of threads when torch is installed.

    python benchmarks/conv.py [--repeats 50] [--cpu-time] [--default-malloc]
"""
from __future__ import annotations

import argparse
import ctypes
import os
import time

import numpy as np

import nnkit
from nnkit import losses, nn, optim
from nnkit.autodiff import Tensor
from nnkit.models import LeNet5
from nnkit.models.lenet import layer_table

try:
    import torch
except ImportError:  # the ratios to PyTorch are printed only when it is installed
    torch = None


CLOCK = [time.perf_counter]


def steady_malloc() -> bool:
    """Keep glibc from handing large freed blocks back to the operating system (Linux only).

    By default glibc serves big allocations with fresh memory maps and trims freed memory, so
    a library that allocates its multi-megabyte temporaries on every call pays for page faults
    each time; glibc raises those thresholds by itself after some frees, so a time then depends
    on what ran before in the process.  Measured here, PyTorch's 3->32 convolution took 8.6 ms
    in a fresh process and 2.0 ms with this setting.  Both libraries are timed with it.
    Returns whether it could be applied.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 512 << 20))
    except (OSError, AttributeError):  # not glibc
        return False


def kernel_threads() -> int:
    """How many threads nnkit's kernels may split a batch over (this script also runs against older
    versions, which kept the setting elsewhere or had none)."""
    try:
        from nnkit.kernels import STATE
        return STATE.threads
    except ImportError:
        try:
            from nnkit.nn import _im2col
            return _im2col.THREADS[0]
        except (ImportError, AttributeError):
            return 1


def best_time(fn, repeats):
    """Fastest time of ``fn()`` in seconds over ``repeats`` calls, after three warm-up calls.

    The minimum is the figure least disturbed by other work on a shared machine.
    """
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = CLOCK[0]()
        fn()
        times.append(CLOCK[0]() - t0)
    return float(np.min(times))


def race(fns, repeats, rounds=5):
    """Best times of several functions, measured in alternating rounds so that they share the load."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], best_time(fn, max(1, repeats // rounds)))
    return best


def gemm_rate(n=1024, repeats=20):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    return 2 * n ** 3 / best_time(lambda: a @ b, repeats)


# ------------------------------------------------------- plain NumPy reference
def np_conv_forward(x, w, b, pad):
    """Cross-correlation by a sliding-window view and tensordot; returns (out, windows)."""
    kh, kw = w.shape[2:]
    xp_ = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp_, (kh, kw), axis=(2, 3))  # N, C, Ho, Wo, kh, kw
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))                   # N, Ho, Wo, O
    return out.transpose(0, 3, 1, 2) + b[:, None, None], win


def np_conv_backward(g, win, w, x_shape, pad, need_dx):
    gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))                    # O, C, kh, kw
    gb = g.sum(axis=(0, 2, 3))
    gx = None
    if need_dx:
        N, C, H, W = x_shape
        kh, kw = w.shape[2:]
        Ho, Wo = g.shape[2:]
        gpad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), g.dtype)
        for i in range(kh):
            for j in range(kw):
                gpad[:, :, i:i + Ho, j:j + Wo] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
        gx = gpad[:, :, pad:pad + H, pad:pad + W]
    return gx, gw, gb


def np_lenet_step(params, x, y, lr=0.01):
    """One SGD step of LeNet-5 (ReLU, average pooling) in plain NumPy."""
    w1, b1, w3, b3, w5, b5, w6, b6, w7, b7 = params
    N = len(x)
    z1, win1 = np_conv_forward(x, w1, b1, 2)
    h1 = np.maximum(z1, 0)
    p1 = h1.reshape(N, 6, 14, 2, 14, 2).mean(axis=(3, 5))
    z3, win3 = np_conv_forward(p1, w3, b3, 0)
    h3 = np.maximum(z3, 0)
    p3 = h3.reshape(N, 16, 5, 2, 5, 2).mean(axis=(3, 5)).reshape(N, 400)
    z5 = p3 @ w5.T + b5
    h5 = np.maximum(z5, 0)
    z6 = h5 @ w6.T + b6
    h6 = np.maximum(z6, 0)
    z7 = h6 @ w7.T + b7
    p = np.exp(z7 - z7.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g7 = p
    g7[np.arange(N), y] -= 1
    g7 /= N
    grads = [None] * 10
    grads[8], grads[9] = g7.T @ h6, g7.sum(0)
    g6 = (g7 @ w7) * (z6 > 0)
    grads[6], grads[7] = g6.T @ h5, g6.sum(0)
    g5 = (g6 @ w6) * (z5 > 0)
    grads[4], grads[5] = g5.T @ p3, g5.sum(0)
    gp3 = (g5 @ w5).reshape(N, 16, 5, 1, 5, 1) / 4
    gh3 = np.broadcast_to(gp3, (N, 16, 5, 2, 5, 2)).reshape(N, 16, 10, 10) * (z3 > 0)
    gp1, grads[2], grads[3] = np_conv_backward(gh3, win3, w3, p1.shape, 0, True)
    gh1 = np.broadcast_to(gp1.reshape(N, 6, 14, 1, 14, 1) / 4, (N, 6, 14, 2, 14, 2)).reshape(N, 6, 28, 28)
    gh1 = gh1 * (z1 > 0)
    _, grads[0], grads[1] = np_conv_backward(gh1, win1, w1, x.shape, 2, False)
    for p_, g_ in zip(params, grads):
        p_ -= lr * g_


# ---------------------------------------------------------------- PyTorch
def torch_lenet():
    import torch.nn as tnn
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.AvgPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.AvgPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the calling thread's CPU clock (meaningful with OMP_NUM_THREADS=1 "
                             "on a busy machine, where wall times mostly measure the other work)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator settings alone (see steady_malloc)")
    args = parser.parse_args(argv)
    steady = False if args.default_malloc else steady_malloc()
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    if args.cpu_time:
        if threads != 1:
            parser.error("--cpu-time needs OMP_NUM_THREADS=1")
        CLOCK[0] = time.thread_time
    nnkit.seed(0)
    rng = np.random.default_rng(0)
    rate = gemm_rate()
    clock = "thread CPU time" if args.cpu_time else "wall time"
    conv_threads = kernel_threads()
    print(f"float32 GEMM (1024^3), {threads} threads: {rate / 1e9:.0f} GFLOP/s; best of {args.repeats}, {clock}; "
          f"nnkit convolutions split each batch over up to {conv_threads} threads; "
          f"glibc large-block trimming {'off' if steady else 'as by default'}")
    if torch is not None:
        torch.set_num_threads(threads)

    # ---------------- (a) LeNet-5 training step
    N = 64
    x = rng.random((N, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, N)
    model = LeNet5(input_size=28, activation="relu", pool="avg")
    opt = optim.SGD(model.parameters(), lr=0.01)
    xt = Tensor(x)

    def nnkit_step():
        opt.zero_grad()
        loss = losses.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()

    conn = sum(r["connections"] for r in model.layer_table())
    flops_a = 2 * 3 * conn * N  # a multiply-add per connection, backward ~ 2 forwards (Lecture 10, §3)
    params_np = [p.data.copy() for p in model.parameters()]
    fns = [nnkit_step, lambda: np_lenet_step(params_np, x, y)]
    if torch is not None:
        tm = torch_lenet()
        topt = torch.optim.SGD(tm.parameters(), lr=0.01)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tx), ty).backward()
            topt.step()

        fns.append(torch_step)
    times = race(fns, args.repeats)
    t_a, t_a_np = times[:2]
    print("\n(a) LeNet-5 step, batch 64, 1x28x28, forward + backward + SGD")
    print(f"  nnkit            {t_a * 1e3:7.2f} ms   {flops_a / t_a / rate:6.1%} of GEMM rate")
    print(f"  plain NumPy      {t_a_np * 1e3:7.2f} ms   (nnkit / NumPy = {t_a / t_a_np:.2f})")
    if torch is not None:
        print(f"  PyTorch CPU      {times[2] * 1e3:7.2f} ms   nnkit / PyTorch = {t_a / times[2]:.2f}  (goal <= 1.5)")

    # ---------------- (b) 3 -> 32 3x3 convolution
    x = rng.standard_normal((64, 3, 32, 32), dtype=np.float32)
    conv = nn.Conv2d(3, 32, 3, padding=1)
    g = rng.standard_normal((64, 32, 32, 32), dtype=np.float32)
    xt = Tensor(x)

    def nnkit_conv():
        conv.zero_grad()
        conv(xt).backward(g)

    flops_b = 2 * 2 * 64 * 32 * 32 * 32 * 27  # forward and the weight gradient
    w, b = conv.weight.data.copy(), conv.bias.data.copy()

    def numpy_conv():
        out, win = np_conv_forward(x, w, b, 1)
        np_conv_backward(g, win, w, x.shape, 1, False)

    fns = [nnkit_conv, numpy_conv]
    if torch is not None:
        tconv = torch.nn.Conv2d(3, 32, 3, padding=1)
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)

        def torch_conv():
            tconv.zero_grad()
            tconv(tx).backward(tg)

        fns.append(torch_conv)
    times = race(fns, args.repeats)
    t_b, t_b_np = times[:2]
    print("\n(b) Conv 3->32, 3x3, pad 1, on 64x3x32x32, forward + backward")
    print(f"  nnkit            {t_b * 1e3:7.2f} ms   {flops_b / t_b / rate:6.1%} of GEMM rate")
    print(f"  plain NumPy      {t_b_np * 1e3:7.2f} ms   (nnkit / NumPy = {t_b / t_b_np:.2f})")
    if torch is not None:
        print(f"  PyTorch CPU      {times[2] * 1e3:7.2f} ms   nnkit / PyTorch = {t_b / times[2]:.2f}  (goal <= 1.0)")


if __name__ == "__main__":
    main()
