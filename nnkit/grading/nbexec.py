"""Run a solutions or exercise notebook's code in this process, and work in child processes.

Release, the leak check and the mutation audit need the solutions' functions as Python objects:
they execute the notebook's cells with ``exec`` in a fresh namespace (a few hundred
milliseconds, where a kernel takes seconds), always inside a forked child process
(``in_children``) so that global state (seeds, default dtype, a hanging mutant) never leaks
from one notebook into the next.  Only trusted notebooks run here: the solutions and the
exercises released from them; learners' submissions go through the sandboxed grader.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from nnkit.grading import markers


@dataclass
class Notebook:
    """A solutions notebook split by role: solution cells, hidden-test cells, misconceptions."""

    path: Path
    name: str
    cells: list            # [(index, source)] code cells run to define the solution
    hidden: list           # [(index, source)] ### HIDDEN TESTS cells
    misconceptions: list   # [(index, hint, source)]


def load(path) -> Notebook:
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    cells, hidden, wrong = [], [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text = markers.cell_text(cell)
        if markers.is_hidden(cell):
            hidden.append((index, text))
        elif markers.is_misconception(cell):
            wrong.append((index, markers.misconception_text(cell), text))
        else:
            cells.append((index, text))
    return Notebook(path, path.stem, cells, hidden, wrong)


def fresh_namespace() -> dict:
    return {"__name__": "__main__", "__builtins__": __builtins__}


def quiet_plots() -> None:
    """Matplotlib draws off-screen and ``plt.show()`` does nothing."""
    os.environ["MPLBACKEND"] = "Agg"
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
    except ImportError:  # pragma: no cover - a dependency
        pass


def run_cells(cells, namespace: dict, where: str, *, allow_errors=False) -> list:
    """``exec`` each (index, source) in ``namespace``, output discarded; returns the errors.

    Without ``allow_errors`` the first error raises RuntimeError naming the cell.
    """
    errors = []
    for index, source in cells:
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(compile(source, f"{where}, cell {index}", "exec"), namespace)  # noqa: S102
        except Exception as err:  # noqa: BLE001 - reported to the caller
            if not allow_errors:
                raise RuntimeError(f"{where}, cell {index}: {type(err).__name__}: {err}") from err
            errors.append((index, err))
    return errors


def collect_tests(nb: Notebook) -> list:
    """The ``HiddenTest`` objects the notebook's hidden cells declare (run here, as the grader does)."""
    import numpy as np

    from nnkit.grading.spec import collecting

    with collecting() as tests:
        for index, source in nb.hidden:
            scope = {"np": np, "__name__": "__hidden_tests__"}
            exec(compile(source, f"{nb.name}, hidden-test cell {index}", "exec"), scope)  # noqa: S102
    return tests


# ---------------------------------------------------------------------------- time limits

class TimeLimit(Exception):
    """A call ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise ``TimeLimit`` in this (main) thread after ``seconds`` of wall time."""
    def expire(signum, frame):
        raise TimeLimit(f"ran past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------ child processes

def _child(conn, func, args, memory_mb):
    try:
        if memory_mb:
            import resource

            limit = int(memory_mb) * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        quiet_plots()
        for message in func(*args):
            conn.send(("item", message))
        conn.send(("done", None))
    except BaseException as err:  # noqa: BLE001 - everything goes back to the parent
        conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)}"))
    finally:
        conn.close()


def in_children(tasks, *, jobs=2, stall_s=120.0, memory_mb=4096):
    """Run generator functions in forked children, at most ``jobs`` at a time.

    ``tasks`` is a list of (key, func, args); ``func(*args)`` yields picklable items (the caller
    may append tasks to the list while iterating).  Yields
    (key, kind, payload): kind "item" for each item, then "done", or "error" (with a message)
    when the child raised, died, or sent nothing for ``stall_s`` seconds (it is killed).
    """
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    pending = tasks
    running: dict = {}    # conn -> (key, process, last_seen)
    while pending or running:
        while pending and len(running) < max(1, jobs):
            key, func, args = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(child, func, args, memory_mb), daemon=True)
            proc.start()
            child.close()
            running[parent] = (key, proc, time.monotonic())
        for conn in wait(list(running), timeout=1.0):
            key, proc, _ = running[conn]
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                kind, payload = "error", f"the worker process stopped (exit code {proc.exitcode})"
            if kind == "item":
                running[conn] = (key, proc, time.monotonic())
                yield key, kind, payload
                continue
            yield key, kind, payload
            _finish(conn, proc)
            del running[conn]
        now = time.monotonic()
        for conn, (key, proc, seen) in list(running.items()):
            if now - seen > stall_s:
                proc.kill()
                _finish(conn, proc)
                del running[conn]
                yield key, "error", f"stalled: no progress for {stall_s:g} s"


def _finish(conn, proc):
    conn.close()
    proc.join(timeout=5)
    if proc.is_alive():
        proc.kill()
        proc.join()
