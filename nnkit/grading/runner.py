"""Run a notebook's code cells, then the hidden-test probes, in a sandboxed kernel.

- each cell has a time limit; on expiry the kernel is interrupted (KeyboardInterrupt), and if
  the cell does not stop within a grace period the whole sandbox is killed;
- the notebook as a whole has a wall-clock budget: what has not run when it is spent is
  skipped, so a notebook of many slow cells costs the batch no more than the budget;
- when a cell kills the kernel (os._exit, a signal, a crash, an ignored interrupt, garbage on
  the kernel's pipe), a fresh sandbox replays the earlier cells, skips the fatal one and goes
  on (a few times at most);
- nothing a cell prints is kept; only error names and messages come back, cleaned.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from nnkit.grading.frames import KernelDied
from nnkit.grading.untrusted import clean_text

GRACE_S = 2.0
MAX_RESTARTS = 3


@dataclass
class CellOutcome:
    """How one cell ended: status is ok, error, timeout, died or skipped."""

    status: str
    error: str = ""


@dataclass
class NotebookRun:
    """What running a notebook gave: one outcome per cell, one reply per probe (or None)."""

    cells: list = field(default_factory=list)
    probes: list = field(default_factory=list)
    seconds: float = 0.0
    restarts: int = 0


class _Clock:
    def __init__(self, budget: float):
        self.budget = budget
        self.end = time.monotonic() + budget

    def left(self) -> float:
        return self.end - time.monotonic()


def _reply(kernel, seq: int, deadline: float):
    """The reply to command ``seq``, or None at ``deadline``.

    The runner answers each command with exactly one frame, so any other frame (a learner
    writing to the kernel's pipe, say) breaks the protocol and ends the kernel.
    """
    reply = kernel.receive(deadline)
    if reply is not None and reply.get("seq") != seq:
        raise KernelDied("the kernel sent a message out of turn")
    return reply


def _ask(kernel, seq: int, message: dict, timeout: float, clock: _Clock):
    """Send one cell or probe and wait for its reply: (status, reply or error text)."""
    limit = min(timeout, clock.left())
    if limit <= 0:
        return "budget", None
    try:
        kernel.send({"seq": seq, **message}, time.monotonic() + min(limit, 10.0))
        reply = _reply(kernel, seq, time.monotonic() + limit)
        if reply is not None:
            return "answered", reply
        kernel.interrupt()
        reply = _reply(kernel, seq, time.monotonic() + GRACE_S)
    except KernelDied as err:
        return "died", str(err)
    out_of_budget = clock.left() <= 0
    if reply is None:
        return ("budget" if out_of_budget else "ignored"), None
    return ("budget" if out_of_budget else "timeout"), reply


def _cell_outcome(status: str, reply, timeout: float) -> CellOutcome:
    if status == "answered":
        if reply.get("status") == "ok":
            return CellOutcome("ok")
        name, value = clean_text(reply.get("ename", "Error"), 60), clean_text(reply.get("evalue", ""), 300)
        return CellOutcome("error", f"{name}: {value}".strip().rstrip(":"))
    if status == "timeout":
        return CellOutcome("timeout", f"ran past the time limit ({timeout:g} s per cell) and was interrupted")
    if status == "ignored":
        return CellOutcome("died", "ignored the interrupt after the time limit; the kernel was stopped")
    if status == "budget":
        return CellOutcome("skipped", "")
    return CellOutcome("died", "stopped the Python kernel (os._exit, a signal, a crash or "
                               "damage to the kernel's connection)")


def run_notebook(isolation, notebook: bytes, cells: list[str], probes: list[dict], *, timeout: float,
                 budget: float, limits, scratch, live=None) -> NotebookRun:
    """Run ``cells`` then one probe per hidden test; never raises for what the notebook does.

    ``live``: a set the running kernel is added to while it runs (so that an interrupted
    grader can stop it). Raises ``SandboxError`` only when no sandbox can be started at all.
    """
    items = [("cell", {"op": "cell", "code": c}) for c in cells]
    items += [("probe", {"op": "probe", "case": p}) for p in probes]
    outcomes: list = [None] * len(items)
    fatal: set[int] = set()
    clock, started = _Clock(budget), time.monotonic()
    run = NotebookRun()
    first, seq = 0, 0
    while first < len(items) and clock.left() > 0:
        kernel = isolation.start(notebook, limits, scratch)
        if live is not None:
            live.add(kernel)
        died_at = None
        try:
            order = [i for i in range(first) if items[i][0] == "cell" and i not in fatal]
            order += list(range(first, len(items)))
            for i in order:
                seq += 1
                status, reply = _ask(kernel, seq, items[i][1], timeout, clock)
                replay = i < first
                if status == "budget":
                    break
                if status in ("died", "ignored"):
                    fatal.add(i)
                    died_at = i
                    outcomes[i] = _cell_outcome(status, reply, timeout)
                    break
                if not replay:
                    outcomes[i] = (_cell_outcome(status, reply, timeout) if items[i][0] == "cell"
                                   else (reply if status == "answered" else _cell_outcome(status, reply, timeout)))
        finally:
            kernel.kill()
            if live is not None:
                live.discard(kernel)
        if died_at is None:
            break
        first = max(first, died_at + 1)
        run.restarts += 1
        if run.restarts > MAX_RESTARTS:
            for i in range(first, len(items)):
                outcomes[i] = CellOutcome("skipped", "not run: the kernel was stopped too many times")
            break
    spent = f"not run: the notebook used up its time budget ({budget:g} s)"
    for i, outcome in enumerate(outcomes):
        if outcome is None or (isinstance(outcome, CellOutcome) and outcome.status == "skipped" and not outcome.error):
            outcomes[i] = CellOutcome("skipped", spent)
    n = len(cells)
    run.cells, run.probes = outcomes[:n], outcomes[n:]
    run.seconds = round(time.monotonic() - started, 2)
    return run
