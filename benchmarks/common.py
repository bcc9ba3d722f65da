"""Shared helpers for the benchmark scripts: timing, the machine's GEMM rate, PyTorch if present.

Every figure a benchmark prints is a ratio measured in the same run, so the
numbers compare across machines.
"""
from __future__ import annotations

import os
import time

import numpy as np


def best_time(fn, repeat: int = 5, number: int | None = None, min_time: float = 0.2) -> float:
    """Seconds per call of ``fn``: the best of ``repeat`` rounds of ``number`` calls.

    ``number`` is chosen so that a round lasts about ``min_time`` seconds.
    """
    fn()  # warm up (allocations, caches)
    if number is None:
        number, elapsed = 1, 0.0
        while True:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
            number *= 2
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def gemm_gflops(n: int = 1024, dtype=np.float32) -> float:
    """The machine's float32 matrix-multiply rate in GFLOP/s (NumPy, n x n times n x n)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    seconds = best_time(lambda: np.matmul(a, b, out=out), repeat=5)
    return 2 * n ** 3 / seconds / 1e9


def torch_or_none():
    """PyTorch set to this process's thread count, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    return torch


def print_table(title: str, rows: list[tuple]) -> None:
    """Print rows of (name, value, note) under a title."""
    print(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    for name, value, *note in rows:
        print(f"  {name:<{width}}  {value:>12}  {' '.join(note)}")
