"""Fast implementations of the heavy primitives, and the one switch that picks them.

Each heavy primitive (``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``rnn``, ``lstm``, ``gru``)
is written twice:

- the **reference**, in the layer's own module (``nnkit/nn/conv.py``, ``pooling.py``,
  ``recurrent.py``): the textbook form a learner reads, forward and backward side by side;
- the **fast** kernel, here: the same function with the speed techniques (blocked im2col
  on several threads, a stride-1 input-gradient arrangement, pooling tiles, fused
  recurrent loops with hand-written backprop through time, reused scratch arrays).

Which one runs is one setting, fast by default::

    nnkit.use(kernels="reference")          # or nnkit.kernels.use("reference")
    with nnkit.kernels.using("reference"):  # for a block of code
        ...

or the environment variable ``NNKIT_KERNELS=reference``.  Both give the same numbers (the
tests hold them to 1e-10 in float64) and both are checked against finite differences.

A primitive asks :func:`implementation` for its fast kernel and computes the reference
itself when there is none; nothing else in the library imports this package, except
models that cap BLAS threads with :func:`few_blas_threads`.  All speed state (threads,
scratch arrays, BLAS limits) lives in one object, :data:`STATE` (see ``state.py``).
"""
from __future__ import annotations

import contextlib

from nnkit.kernels import conv, pooling, recurrent  # noqa: F401 - each registers its kernels
from nnkit.kernels.state import FAST, KERNELS, STATE


def implementation(primitive: str):
    """The fast kernel of ``primitive`` when the fast kernels are selected, else None."""
    if STATE.kernels != "fast":
        return None
    return FAST.get(primitive)


def use(name: str) -> None:
    """Select the kernels: ``"fast"`` (default) or ``"reference"`` (the textbook code)."""
    if name not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {name!r}")
    STATE.kernels = name


def name() -> str:
    """The kernels in use: ``"fast"`` or ``"reference"``."""
    return STATE.kernels


@contextlib.contextmanager
def using(name: str):
    """Run a block with the given kernels, then switch back."""
    previous = STATE.kernels
    use(name)
    try:
        yield
    finally:
        STATE.kernels = previous


def set_threads(n: int) -> None:
    """Let the fast kernels split a batch over up to ``n`` threads (1: none, and BLAS gets its threads back)."""
    if int(n) < 1:
        raise ValueError(f"set_threads: n must be >= 1, got {n}")
    STATE.threads = int(n)
    if STATE.threads == 1:
        STATE.give_back_cores()     # BLAS may use every core again (see STATE.take_cores)


@contextlib.contextmanager
def threads(n: int, work_per_thread: int | None = None):
    """Run a block with up to ``n`` threads (and, if given, a smaller minimum work per thread)."""
    old = STATE.threads, STATE.work_per_thread
    set_threads(n)
    if work_per_thread is not None:
        STATE.work_per_thread = int(work_per_thread)
    try:
        yield
    finally:
        STATE.threads, STATE.work_per_thread = old


def few_blas_threads():
    """A context manager that runs BLAS on one thread (then restores the previous setting).

    For models whose matrices have a few thousand entries: there, starting and
    synchronising BLAS threads costs more than it saves.
    """
    return STATE.limit_blas(1)

__all__ = ["STATE", "few_blas_threads", "implementation", "name", "set_threads", "threads",
           "use", "using"]
