"""Everything the fast kernels keep between calls, in one object: :data:`STATE`.

- which implementation runs (``"fast"`` or ``"reference"``);
- how many threads split a batch of images, and the pool of worker threads;
- the workspace of large scratch arrays lent to the kernels;
- the threads of BLAS (through threadpoolctl): once the kernels split a batch over their own
  threads, BLAS runs one thread per calling thread, so that two thread pools do not fight
  over the same cores; the recurrent kernels' products get BLAS's threads back while they
  run; ``nnkit.kernels.set_threads(1)`` returns them for good.

A process forked from this one starts with no worker threads (the threads of a
pool are not copied by ``fork``; handing work to the copied pool object would
wait forever), so :class:`SpeedState` drops its pool in the child and starts a
new one on first use.
"""
from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from nnkit import backend

KERNELS = ("fast", "reference")
FAST: dict = {}     # primitive name -> its fast kernel, filled by :func:`register`


def register(primitive: str):
    """Decorator: the function is the fast kernel of ``primitive`` (e.g. "conv2d")."""
    def add(fn):
        FAST[primitive] = fn
        return fn
    return add


def _default_kernels() -> str:
    name = os.environ.get("NNKIT_KERNELS", "fast")
    if name not in KERNELS:
        raise ValueError(f"NNKIT_KERNELS must be one of {KERNELS}, got {name!r}")
    return name


def _default_threads() -> int:
    """Cores this process may use, at most 4, or fewer when NNKIT_THREADS / OMP_NUM_THREADS say so."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for var in ("NNKIT_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return min(cores, int(value))
    return min(cores, 4)


class Workspace:
    """Large scratch arrays, lent with :meth:`take` and handed back with :meth:`give`.

    A kernel takes the arrays it needs, and gives back each one at a point where
    nothing can read it any more: scratch arrays at the end of the call, arrays
    saved for the backward pass when the graph that holds them is garbage
    collected (:meth:`give_when_dead`).  Arrays returned to the caller (outputs,
    gradients) never come from here.  Reuse matters because the allocator hands
    freed multi-megabyte blocks back to the operating system, and touching fresh
    pages again costs more than the arithmetic of a small layer.

    At most ``max_arrays`` arrays and ``max_bytes`` bytes are kept, the most
    recently given first.
    """

    def __init__(self, max_arrays: int = 24, max_bytes: int = 256 << 20):
        self.max_arrays, self.max_bytes = max_arrays, max_bytes
        self._free: list = []        # (backend name, array), oldest first
        self._dead: list = []        # arrays of collected graphs, moved to _free by the next take()
        self._lock = threading.Lock()

    def take(self, shape, dtype):
        """An array of this shape and dtype; its contents are undefined."""
        xp, name = backend.xp(), backend.name()
        shape, dtype = tuple(shape), xp.dtype(dtype)
        with self._lock:
            self._collect()
            for k in range(len(self._free) - 1, -1, -1):
                owner, a = self._free[k]
                if owner == name and a.shape == shape and a.dtype == dtype:
                    return self._free.pop(k)[1]
        return xp.empty(shape, dtype=dtype)

    def give(self, *arrays) -> None:
        """Hand arrays back; the caller promises not to read or write them again."""
        with self._lock:
            self._free.extend((backend.name(), a) for a in arrays)
            self._trim()

    def give_when_dead(self, owner, *arrays) -> None:
        """Hand ``arrays`` back once ``owner`` (a VJP closure holding them) is garbage collected.

        The finalizer only appends to a list (atomic, takes no lock), since it may run in
        the middle of any allocation of any thread.
        """
        entry = (backend.name(), arrays)
        weakref.finalize(owner, self._dead.append, entry).atexit = False

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
            self._dead.clear()

    def _collect(self):
        while self._dead:
            name, arrays = self._dead.pop()
            self._free.extend((name, a) for a in arrays)
        self._trim()

    def _trim(self):
        del self._free[:-self.max_arrays]
        total = sum(a.nbytes for _, a in self._free)
        while self._free and total > self.max_bytes:
            total -= self._free.pop(0)[1].nbytes


class SpeedState:
    """The settings and resources of the fast kernels (see the module docstring).

    ``kernels``: "fast" or "reference"; ``threads``: how many threads may share a batch;
    ``work_per_thread``: array entries below which another thread is not worth waking.
    """

    def __init__(self):
        self.kernels = _default_kernels()
        self.threads = _default_threads()
        self.work_per_thread = 100_000
        self.workspace = Workspace()
        self._executor = None
        self._executor_size = 0
        self._blas = None            # threadpoolctl's controllers of the BLAS libraries, made on first use
        self._blas_cores = None      # BLAS's thread counts before take_cores(), while the kernels hold the cores

    # ------------------------------------------------------------ threads
    def map_blocks(self, part, n: int, work: int) -> list:
        """``[part(lo, hi) for each block]``: blocks [lo, hi) cover range(n), one per thread.

        ``work`` is the number of array entries the whole batch touches; each thread gets at
        least ``work_per_thread`` of them.  Only on NumPy, which releases Python's lock inside
        matrix products and copies (on a GPU the work is parallel already).  ``part`` must
        write only to its own images; results come back in block order, so sums over them are
        the same for a given number of threads.
        """
        threads = min(self.threads, n, max(1, work // self.work_per_thread))
        if threads <= 1 or backend.name() != "numpy":
            return [part(0, n)]
        if self._executor_size < threads - 1:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._executor = ThreadPoolExecutor(threads - 1, thread_name_prefix="nnkit")
            self._executor_size = threads - 1
        self.take_cores()                            # one BLAS thread per worker (see take_cores)
        bounds = [n * t // threads for t in range(threads + 1)]
        others = [self._executor.submit(part, bounds[t], bounds[t + 1]) for t in range(1, threads)]
        first = part(bounds[0], bounds[1])           # the calling thread takes the first block
        return [first] + [f.result() for f in others]

    def forget_threads(self) -> None:
        """Drop the worker pool without waiting for it (in a forked child, its threads do not exist)."""
        self._executor, self._executor_size = None, 0

    # --------------------------------------------------------------- BLAS
    def _blas_libraries(self) -> list:
        """threadpoolctl's controllers of the loaded BLAS libraries ([] without threadpoolctl)."""
        if self._blas is None:
            try:
                from threadpoolctl import ThreadpoolController  # noqa: PLC0415 - a dependency of nnkit
                self._blas = ThreadpoolController().select(user_api="blas").lib_controllers
            except Exception:  # noqa: BLE001 - missing or unusable: leave BLAS alone
                self._blas = []
        return self._blas

    def limit_blas(self, threads: int):
        """A context manager: BLAS uses at most ``threads`` threads inside it, then as before.

        It talks to the BLAS libraries' controllers directly (a few microseconds).
        """
        libraries = self._blas_libraries()
        return _BlasThreads(libraries, [min(threads, lib.num_threads) for lib in libraries])

    def take_cores(self) -> None:
        """From now on, BLAS runs one thread per calling thread; the kernels' own threads use the cores.

        BLAS's threads keep spinning for a while after each product (OpenBLAS: about 0.1 s),
        holding a core that the kernels' worker then has to share; with two pools on the
        same cores every layer waits for the slower thread.  Called by :meth:`map_blocks`
        the first time it splits a batch; :meth:`give_back_cores` undoes it.
        """
        if self._blas_cores is None:
            libraries = self._blas_libraries()
            self._blas_cores = [lib.num_threads for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)

    def give_back_cores(self) -> None:
        """BLAS gets back the threads it had before :meth:`take_cores`."""
        if self._blas_cores is not None:
            for lib, n in zip(self._blas_libraries(), self._blas_cores):
                lib.set_num_threads(n)
            self._blas_cores = None

    def blas_products(self):
        """A context manager: BLAS with all the threads it had before :meth:`take_cores`.

        For kernels whose work is a sequence of products too small and too dependent to
        split over the kernels' own threads (the time steps of a recurrent layer): BLAS's
        threads, which wait for work spinning, start on each product at once.
        """
        libraries = self._blas_libraries()
        counts = self._blas_cores or [lib.num_threads for lib in libraries]
        return _BlasThreads(libraries, counts)


class _BlasThreads:
    """Set each BLAS library to the given number of threads on entry, and back on exit."""

    def __init__(self, libraries, counts):
        self.libraries, self.counts, self.previous = libraries, counts, []

    def __enter__(self):
        self.previous = [lib.num_threads for lib in self.libraries]
        for lib, old, new in zip(self.libraries, self.previous, self.counts):
            if new != old:
                lib.set_num_threads(new)
        return self

    def __exit__(self, *exc):
        for lib, old, new in zip(self.libraries, self.previous, self.counts):
            if new != old:
                lib.set_num_threads(old)
        return False


STATE = SpeedState()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=STATE.forget_threads)
