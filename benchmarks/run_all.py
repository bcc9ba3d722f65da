"""Run every benchmark in one process and print one table of ratios.

    python -m benchmarks.run_all [--grading] [--quick] [--only mlp,lenet,conv,lstm]
    OMP_NUM_THREADS=1 python -m benchmarks.run_all --cpu-time     # steadier on a busy machine

Workloads (the same as the single scripts, whose reference code is reused here):

- ``mlp``   one SGD step of a 2-16-16-1 tanh MLP, batch 100     (benchmarks/mlp_step.py)
- ``lenet`` one SGD step of LeNet-5, batch 64 of 1x28x28         (benchmarks/conv.py)
- ``conv``  a 3->32 3x3 convolution on 64x3x32x32, fwd + bwd     (benchmarks/conv.py)
- ``lstm``  an LSTM, T=50 B=32 I=64 H=128, fwd + bwd              (benchmarks/lstm.py)
- ``grading`` (with --grading; slow): grading submissions        (benchmarks/grading.py)

For each workload: nnkit's time, the hand-written NumPy reference, PyTorch CPU when it is
installed and nnkit on CuPy when a GPU is present, all measured in this run and printed as
ratios, plus the machine's float32 GEMM rate and the share of it each workload reaches.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import nnkit
from nnkit import backend, losses, nn, optim
from nnkit.autodiff import Tensor

try:
    from benchmarks import conv as conv_bench, lstm as lstm_bench, mlp_step as mlp_bench
    from benchmarks.common import torch_or_none
except ImportError:  # run as a script from the benchmarks folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import conv as conv_bench, lstm as lstm_bench, mlp_step as mlp_bench
    from benchmarks.common import torch_or_none

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------- the workloads
# Each workload returns {"flops": float or None, "nnkit": builder, "numpy": fn, "torch": fn or None};
# ``builder()`` makes the nnkit step under the backend in use, with its data moved there first.

def mlp_workload(torch):
    X, y = mlp_bench.data()
    return {
        "flops": None,
        "nnkit": lambda: mlp_bench.nnkit_step_fn(nnkit.to_device(X), nnkit.to_device(y)),
        "numpy": mlp_bench.numpy_step_fn(X, y),
        "torch": mlp_bench.torch_step_fn(torch, X, y) if torch else None,
    }


def lenet_workload(torch):
    from nnkit.models import LeNet5

    rng = np.random.default_rng(0)
    N = 64
    x = rng.random((N, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, N)

    def build():
        nnkit.seed(0)
        model = LeNet5(input_size=28, activation="relu", pool="avg")
        opt = optim.SGD(model.parameters(), lr=0.01)
        xt, yt = Tensor(nnkit.to_device(x)), nnkit.to_device(y)

        def step():
            opt.zero_grad()
            losses.cross_entropy(model(xt), yt).backward()
            opt.step()
        return step

    nnkit.seed(0)
    with_float32()
    model = LeNet5(input_size=28, activation="relu", pool="avg")
    params_np = [p.data.copy() for p in model.parameters()]
    connections = sum(r["connections"] for r in model.layer_table())
    torch_step = None
    if torch is not None:
        tm = conv_bench.torch_lenet()
        topt = torch.optim.SGD(tm.parameters(), lr=0.01)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def run_torch():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tx), ty).backward()
            topt.step()
        torch_step = run_torch
    return {"flops": 2 * 3 * connections * N, "nnkit": build,
            "numpy": lambda: conv_bench.np_lenet_step(params_np, x, y), "torch": torch_step}


def conv_workload(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3, 32, 32), dtype=np.float32)
    g = rng.standard_normal((64, 32, 32, 32), dtype=np.float32)

    def build():
        nnkit.seed(0)
        layer = nn.Conv2d(3, 32, 3, padding=1)
        xt, gd = Tensor(nnkit.to_device(x)), nnkit.to_device(g)

        def step():
            layer.zero_grad()
            layer(xt).backward(gd)
        return step

    nnkit.seed(0)
    with_float32()
    ref = nn.Conv2d(3, 32, 3, padding=1)
    w, b = ref.weight.data.copy(), ref.bias.data.copy()

    def numpy_step():
        _out, win = conv_bench.np_conv_forward(x, w, b, 1)
        conv_bench.np_conv_backward(g, win, w, x.shape, 1, False)

    torch_step = None
    if torch is not None:
        tconv = torch.nn.Conv2d(3, 32, 3, padding=1)
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)

        def run_torch():
            tconv.zero_grad()
            tconv(tx).backward(tg)
        torch_step = run_torch
    return {"flops": 2 * 2 * 64 * 32 * 32 * 32 * 27, "nnkit": build, "numpy": numpy_step, "torch": torch_step}


def lstm_workload(torch):
    T, B, I, H = lstm_bench.T, lstm_bench.B, lstm_bench.I, lstm_bench.H
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)

    def build():
        nnkit.seed(0)
        layer = nn.LSTM(I, H, dtype="float32")
        xd, dyd = nnkit.to_device(x), nnkit.to_device(dy)

        def step():
            layer.zero_grad()
            out, _ = layer(Tensor(xd, requires_grad=True))
            out.backward(dyd)
        return step

    ref = lstm_bench.NumpyLSTM(rng)
    torch_step = None
    if torch is not None:
        tl = torch.nn.LSTM(I, H, batch_first=True)
        tx = torch.from_numpy(x).requires_grad_(True)
        tdy = torch.from_numpy(dy)

        def run_torch():
            tl.zero_grad()
            tx.grad = None
            out, _ = tl(tx)
            out.backward(tdy)
        torch_step = run_torch
    return {"flops": lstm_bench.lstm_flops(), "nnkit": build,
            "numpy": lambda: ref.forward_backward(x, dy), "torch": torch_step}


WORKLOADS = {
    "mlp": ("MLP 2-16-16-1 step, batch 100", mlp_workload),
    "lenet": ("LeNet-5 step, batch 64", lenet_workload),
    "conv": ("Conv 3->32 3x3, 64x3x32x32, fwd+bwd", conv_workload),
    "lstm": ("LSTM T50 B32 I64 H128, fwd+bwd", lstm_workload),
}


def with_float32():
    backend.set_default_dtype("float32")


# ------------------------------------------------------------------ timing
def gpu_or_none():
    """CuPy when it is installed and sees a GPU, else the reason it cannot be used."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy, None
        return None, "no GPU"
    except ImportError:
        return None, "CuPy not installed"
    except Exception as err:  # noqa: BLE001 - a broken CUDA set-up is reported, not raised
        return None, f"no usable GPU ({type(err).__name__})"


CLOCK = [time.perf_counter]  # --cpu-time swaps in the process's CPU clock


def time_per_call(fn, min_time: float) -> float:
    """Seconds per call of ``fn`` on CLOCK, over enough calls to last about ``min_time``."""
    number = 1
    while True:
        start = CLOCK[0]()
        for _ in range(number):
            fn()
        elapsed = CLOCK[0]() - start
        if elapsed >= min_time:
            return elapsed / number
        number *= 2


SETTLE_S = 0.15   # a pause between contenders' rounds: longer than BLAS threads spin after a product


def race(fns, quick=False):
    """Best seconds per call of each function, measured in alternating rounds (they share the load).

    Many short rounds: on a shared machine other work comes in bursts, and the best round of each
    function is the one least disturbed by it.  Between two rounds the process sleeps for
    SETTLE_S: OpenBLAS's worker threads keep spinning for about 0.1 s after a multi-threaded
    product, and without the pause the next contender would share a core with them.
    """
    for fn in fns:
        fn()  # warm up: allocations, caches, kernel compilation on a GPU
    best = [float("inf")] * len(fns)
    rounds, min_time = (1, 0.02) if quick else (8, 0.08)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            time.sleep(0 if quick else SETTLE_S)
            best[i] = min(best[i], time_per_call(fn, min_time))
    return best


def gemm_rate(n: int, quick=False) -> float:
    """The float32 n x n matrix-multiply rate in GFLOP/s on CLOCK (NumPy)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    return 2 * n ** 3 / race([lambda: np.matmul(a, b, out=out)], quick)[0] / 1e9


def measure(name, torch, device=None, quick=False) -> dict:
    """Times (seconds) for one workload: nnkit, NumPy, PyTorch CPU, nnkit on the device (None when absent).

    ``device`` is (backend name, function that waits for the device's queued work), or None.
    """
    title, make = WORKLOADS[name]
    with_float32()
    nnkit.use("numpy")
    work = make(torch)
    fns = [work["nnkit"](), work["numpy"]] + ([work["torch"]] if work["torch"] else [])
    times = race(fns, quick)
    result = {"name": name, "title": title, "flops": work["flops"], "nnkit": times[0], "numpy": times[1],
              "torch": times[2] if work["torch"] else None, "gpu": None}
    if device is not None:
        backend_name, sync = device
        nnkit.use(backend_name)
        try:
            step = work["nnkit"]()
            result["gpu"] = race([lambda: (step(), sync())], quick)[0]
        finally:
            nnkit.use("numpy")
    return result


def grading_seconds(n: int) -> float | None:
    """Seconds per graded submission from benchmarks/grading.py (run as a subprocess)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grading.py"), "--n", str(n)],
                         capture_output=True, text=True, cwd=ROOT)
    match = re.search(r"graded (\d+) submissions .* in ([\d.]+) s", out.stdout)
    if out.returncode != 0 or not match:
        print(out.stdout + out.stderr, file=sys.stderr)
        return None
    return float(match.group(2)) / int(match.group(1))


# ------------------------------------------------------------------ report
def table(results, gflops, gpu_note) -> str:
    """The results as one text table; every figure is a ratio or a time from this run."""
    head = ["workload", "nnkit", "NumPy", "nnkit/NumPy", "PyTorch", "nnkit/PyTorch", "% of GEMM", "GPU speed-up"]
    rows = []
    for r in results:
        rows.append([
            r["title"], f"{r['nnkit'] * 1e3:.3f} ms", f"{r['numpy'] * 1e3:.3f} ms", f"{r['nnkit'] / r['numpy']:.2f}x",
            f"{r['torch'] * 1e3:.3f} ms" if r["torch"] else "not installed",
            f"{r['nnkit'] / r['torch']:.2f}x" if r["torch"] else "-",
            f"{r['flops'] / r['nnkit'] / (gflops * 1e9):.0%}" if r["flops"] else "-",
            f"{r['nnkit'] / r['gpu']:.1f}x" if r["gpu"] else gpu_note,
        ])
    widths = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads: " + ", ".join(WORKLOADS))
    parser.add_argument("--grading", action="store_true", help="also time the batch grader (slow)")
    parser.add_argument("--grading-n", type=int, default=30, help="submissions to grade with --grading")
    parser.add_argument("--quick", action="store_true", help="one short round per figure (a smoke test, noisy)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process's CPU clock instead of the wall clock (needs OMP_NUM_THREADS=1; "
                             "steadier on a busy machine, and it leaves out time spent waiting for a GPU)")
    parser.add_argument("--stand-in", action="store_true",
                        help="fill the GPU column with nnkit.testing.strict (tests this script; the figures mean nothing)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {sorted(WORKLOADS)}")
    if args.cpu_time and os.environ.get("OMP_NUM_THREADS") != "1":
        parser.error("--cpu-time needs OMP_NUM_THREADS=1 (CPU time of several threads is not a duration)")
    CLOCK[0] = time.process_time if args.cpu_time else time.perf_counter
    conv_bench.steady_malloc()  # same allocator behaviour for every library (see benchmarks/conv.py)
    torch = torch_or_none()
    cupy, gpu_note = gpu_or_none()
    if args.cpu_time and cupy is not None:
        cupy, gpu_note = None, "not with --cpu-time"
    device = ("cupy", cupy.cuda.Device().synchronize) if cupy is not None else None
    if args.stand_in:  # exercises the GPU column's code path on any machine; its figures mean nothing
        device, gpu_note = ("strict", lambda: None), None
    old_dtype = backend.default_dtype()
    n = 512 if args.quick else 1024
    try:
        # the GEMM rate is measured before every workload and the best kept: a rate taken while
        # the machine was busy would flatter every "% of GEMM" figure
        rates, results = [], []
        for name in names:
            rates.append(gemm_rate(n, args.quick))
            results.append(measure(name, torch, device, args.quick))
        rates.append(gemm_rate(n, args.quick))
        gflops = max(rates)
    finally:
        nnkit.use("numpy")
        backend.set_default_dtype(old_dtype)
    clock = "process CPU time" if args.cpu_time else "wall time"
    print(f"machine float32 GEMM rate: {gflops:.0f} GFLOP/s (NumPy, best of {len(rates)}); {clock}; PyTorch {'CPU ' + torch.__version__ if torch else 'not installed'}; "
          f"GPU: {'the strict stand-in (a test of this script, not a GPU)' if args.stand_in else 'CuPy ' + cupy.__version__ if cupy else gpu_note}")
    print(table(results, gflops, gpu_note or "-"))
    summary = {"gemm_gflops": gflops, "results": results}
    if args.grading:
        per = grading_seconds(args.grading_n)
        summary["grading_s_per_submission"] = per
        print(f"grading: {per:.2f} s per submission ({args.grading_n} graded; goal 1.8 s)" if per
              else "grading: the grading benchmark failed (output above)")
    return summary


if __name__ == "__main__":
    main()
