"""Run a list of code cells in a fresh Jupyter kernel, surviving whatever the cells do.

- each cell has a time limit; on expiry the kernel is interrupted (KeyboardInterrupt), and if
  the cell still does not stop within a grace period the kernel is killed;
- output is not kept (only error names and messages), and a cell that floods output past a cap
  is interrupted;
- when a cell kills the kernel (os._exit, a signal, a crash, an ignored interrupt), a fresh
  kernel replays the earlier cells, skips the fatal one and goes on (a few times at most).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

GRACE_S = 3.0
MAX_RESTARTS = 3


@dataclass
class CellOutcome:
    """How one cell ended: status is ok, error, timeout, flood, died or skipped."""

    status: str
    error: str = ""


class _Client(NotebookClient):
    """A NotebookClient that keeps only errors and caps the output it accepts."""

    def __init__(self, *args, output_cap: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_cap = output_cap
        self.output_bytes = 0
        self.flooded = False
        self.timed_out = False

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "error":
            content = msg["content"]
            outs.append(nbformat.v4.new_output(
                "error", ename=str(content.get("ename", ""))[:100],
                evalue=str(content.get("evalue", ""))[:400], traceback=[]))
            return None
        self.output_bytes += len(str(msg.get("content", "")))
        if self.output_bytes > self.output_cap and not self.flooded:
            self.flooded = True
            asyncio.ensure_future(self.km.interrupt_kernel())
        return None

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)


def _outcome(client: _Client, cell) -> CellOutcome:
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    if client.flooded:
        return CellOutcome("flood", "printed more output than allowed")
    if client.timed_out:
        return CellOutcome("timeout", "ran past the time limit and was interrupted")
    if errors:
        return CellOutcome("error", f"{errors[0].ename}: {errors[0].evalue}".strip())
    return CellOutcome("ok")


async def _run_cell(client: _Client, source: str, timeout: float) -> CellOutcome:
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    client.flooded = client.timed_out = False
    client.output_bytes = 0
    try:
        await asyncio.wait_for(
            client.async_execute_cell(cell, len(client.nb.cells) - 1, store_history=False),
            timeout + GRACE_S)
    except asyncio.TimeoutError:
        await _kill(client)
        return CellOutcome("died", "ignored the interrupt after the time limit; the kernel was stopped")
    except DeadKernelError:
        if client.timed_out:
            return CellOutcome("died", "ignored the interrupt after the time limit; the kernel was stopped")
        return CellOutcome("died", "stopped the Python kernel (os._exit, a signal or a crash)")
    return _outcome(client, cell)


async def _kill(client: _Client) -> None:
    try:
        if client.km is not None:
            await client.km._async_kill_kernel()  # noqa: SLF001 - immediate stop is what we want
    except Exception:  # noqa: BLE001 - the kernel may already be gone
        pass


async def run_cells(cells, *, setup: str, workdir, timeout: float, output_cap: int,
                    replay, env=None) -> list[CellOutcome]:
    """Run ``cells`` (sources) after ``setup``; return one outcome per cell.

    ``replay(i)`` says whether cell ``i`` is re-run in a fresh kernel after a later cell
    killed the previous one (learner cells yes, probe cells no).
    """
    outcomes: list[CellOutcome | None] = [None] * len(cells)
    fatal: set[int] = set()
    start, restarts = 0, 0
    env = dict(os.environ if env is None else env)
    while start < len(cells):
        client = _Client(nbformat.v4.new_notebook(), timeout=timeout, interrupt_on_timeout=True,
                         allow_errors=True, kernel_name="python3", iopub_timeout=5,
                         shutdown_kernel="immediate", output_cap=output_cap,
                         resources={"metadata": {"path": str(workdir)}})
        died_at = None
        try:
            async with client.async_setup_kernel(env=env, stderr=subprocess.DEVNULL):
                first = await _run_cell(client, setup, max(timeout, 30))
                if first.status != "ok":
                    raise RuntimeError(f"the grading kernel could not start its sandbox: {first.error}")
                for i in range(start):
                    if replay(i) and i not in fatal:
                        again = await _run_cell(client, cells[i], timeout)
                        if again.status == "died":
                            fatal.add(i)
                            outcomes[i] = again
                            died_at = i
                            break
                if died_at is None:
                    for i in range(start, len(cells)):
                        outcomes[i] = await _run_cell(client, cells[i], timeout)
                        if outcomes[i].status == "died":
                            fatal.add(i)
                            died_at = i
                            break
        except DeadKernelError:
            pass
        if died_at is None:
            break
        start = max(start, died_at + 1)
        restarts += 1
        if restarts > MAX_RESTARTS:
            for i in range(start, len(cells)):
                outcomes[i] = CellOutcome("skipped", "not run: the kernel was stopped too many times")
            break
    return [o or CellOutcome("skipped", "not run") for o in outcomes]
