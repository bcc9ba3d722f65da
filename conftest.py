"""Test-session wiring shared by the whole repository.

- Matplotlib draws with Agg in this process; notebook kernels keep Jupyter's inline backend.
- Notebooks (``book/``, ``solutions/``, ``exercises/``) run under nbval (``--nbval-lax``, see
  pyproject.toml). For each one the session records its wall time (kernel start to last
  cell) and fails its last cell when the notebook took more than ``NOTEBOOK_LIMIT_S``.
- Book notebooks are executed only once per run: the outputs nbval produces (including the
  widget state a browser needs) are put into the book's execution cache, which
  ``book/build.py`` reads, so the book build at the end of the session executes nothing
  again. The cache is emptied first when nnkit's source changed.
- The book-build and browser tests run last, after every notebook.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
BOOK = ROOT / "book"
NOTEBOOK_LIMIT_S = 90.0
#: Test files that must run after every notebook, in this order (the browser test is last).
RUN_LAST = ("tests/test_book_build.py", "tests/test_browser.py")


def _load_build_module():
    """Import book/build.py (the book folder is not a package)."""
    spec = importlib.util.spec_from_file_location("nnkit_book_build", BOOK / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


book_build = _load_build_module()

# This process draws off-screen; kernels started from it keep the notebook's inline backend.
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
# Explorers (nnkit.viz.explore) pre-render their frames, as in the book build, whose cache
# these executions fill.
os.environ[book_build.EXPLORERS_VARIABLE] = "static"
try:
    import matplotlib

    matplotlib.use("Agg", force=True)
except ImportError:  # pragma: no cover - matplotlib is a dependency
    pass


# --------------------------------------------------------------------------------------
# Session set-up and ordering
# --------------------------------------------------------------------------------------
def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # once, in the controlling process
        book_build.sync_cache_with_source(BOOK, log=lambda msg: print(f"\n{msg}"))


def _run_last_rank(item) -> int:
    path = Path(str(item.fspath)).resolve()
    for rank, name in enumerate(RUN_LAST, start=1):
        if path == ROOT / name:
            return rank
    return 0


def pytest_collection_modifyitems(session, config, items):
    # A stable sort keeps every notebook's cells together and in order.
    items.sort(key=_run_last_rank)
    _NotebookRun.index_items(items)


# --------------------------------------------------------------------------------------
# Notebook runs: timing, and capturing nbval's outputs for the book's execution cache
# --------------------------------------------------------------------------------------
def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell_num")


class _NotebookRun:
    """What the session records about one notebook while nbval runs its cells."""

    runs: dict[str, "_NotebookRun"] = {}
    last_cell: dict[str, int] = {}  # notebook path -> cell_num of its last collected cell
    times: dict[str, float] = {}    # notebook path -> seconds, for the summary

    def __init__(self, nb_file):
        self.path = Path(str(nb_file.fspath)).resolve()
        self.start = time.perf_counter()
        self.failed = False
        self.client = None
        self.msg_id = None
        self.nb = None
        try:
            self.path.relative_to(BOOK)
            self.in_book = "_build" not in self.path.parts
        except ValueError:
            self.in_book = False
        if self.in_book:
            self._prepare_capture(nb_file)

    @classmethod
    def index_items(cls, items):
        for item in items:
            if _is_nbval_cell(item):
                cls.last_cell[str(item.parent.fspath)] = item.cell_num

    @classmethod
    def for_item(cls, item) -> "_NotebookRun":
        key = str(item.parent.fspath)
        if key not in cls.runs:
            cls.runs[key] = cls(item.parent)
        return cls.runs[key]

    # -- capture --------------------------------------------------------------------
    def _prepare_capture(self, nb_file):
        """Replay the kernel's messages through an nbclient client, as if it ran the notebook.

        nbclient turns messages into outputs the way Jupyter does: it follows
        clear_output, routes output captured by Output widgets into the widget, and
        records every widget's state, which the built page needs to draw the widgets.
        """
        import nbformat
        from nbclient import NotebookClient

        self.nb = nbformat.read(str(self.path), as_version=4)
        for cell in self.nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        self.code_cells = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]
        self.client = NotebookClient(self.nb, record_timing=False)
        self.client.clear_before_next_output = False  # set by nbclient's own execute loop

    def attach(self, nb_file):
        """Wrap the running kernel: cells run as Jupyter runs them, and every message nbval
        reads is also replayed (book notebooks)."""
        kernel = getattr(nb_file, "kernel", None)
        if kernel is None or getattr(kernel, "_nnkit_wrapped", False):
            return
        if self.client is not None:
            self.client.kc = kernel.kc  # Output widgets sync their state back to the kernel
        run = self
        original_get = kernel.get_message

        def execute_cell_input(source, allow_stdin=None):
            # nbval executes with store_history=False, and IPython then ignores a trailing ';'
            # (it looks for the ';' in the history). Jupyter stores history; so do we.
            run.msg_id = kernel.kc.execute(source, store_history=True, allow_stdin=allow_stdin,
                                           stop_on_error=False)
            return run.msg_id

        def get_message(stream, timeout=None):
            msg = original_get(stream, timeout=timeout)
            if stream == "iopub":
                run.replay(msg)
            return msg

        kernel.execute_cell_input = execute_cell_input
        kernel.get_message = get_message
        kernel._nnkit_wrapped = True

    def replay(self, msg):
        from nbclient.exceptions import CellExecutionComplete

        if self.client is None or self.current is None:
            return
        if msg["parent_header"].get("msg_id") != self.msg_id:
            return
        index = self.code_cells[self.current]
        try:
            self.client.process_message(msg, self.nb.cells[index], index)
        except CellExecutionComplete:
            pass
        except Exception as err:  # never let the capture break a test
            self.client = None
            print(f"\n(not caching {self.path.name}: could not record its outputs: {err!r})")

    current = None

    def finish(self) -> float:
        seconds = time.perf_counter() - self.start
        _NotebookRun.times[str(self.path)] = seconds
        if self.in_book and self.client is not None and not self.failed and seconds <= NOTEBOOK_LIMIT_S:
            self.client.set_widgets_metadata()
            nb = copy.deepcopy(self.nb)
            try:
                book_build.store_execution(self.path, nb, seconds, BOOK)
            except Exception as err:  # a cache problem only costs a second execution
                print(f"\n(could not cache the execution of {self.path.name}: {err!r})")
        return seconds


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    if _is_nbval_cell(item):
        run = _NotebookRun.for_item(item)
        yield
        run.attach(item.parent)  # the kernel starts in the first cell's setup
    else:
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if _is_nbval_cell(item):
        run = _NotebookRun.for_item(item)
        run.current = item.cell_num
        run.msg_id = None
        yield
        run.current = None
    else:
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _is_nbval_cell(item):
        return
    report = outcome.get_result()
    run = _NotebookRun.for_item(item)
    if report.failed:
        run.failed = True
    is_last = _NotebookRun.last_cell.get(str(item.parent.fspath)) == item.cell_num
    if call.when == "call" and is_last:
        seconds = run.finish()
        name = os.path.relpath(run.path, ROOT)
        report.user_properties.append(("notebook_seconds", round(seconds, 2)))
        if seconds > NOTEBOOK_LIMIT_S and not report.failed:
            report.outcome = "failed"
            report.longrepr = (
                f"{name} took {seconds:.1f} s to execute, more than the {NOTEBOOK_LIMIT_S:.0f} s "
                "a notebook may take (aim for 30 s)."
            )


def pytest_terminal_summary(terminalreporter):
    times = _NotebookRun.times
    if not times:
        return
    terminalreporter.section("notebook execution times (kernel start to last cell)")
    for path, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        flag = "  TOO SLOW" if seconds > NOTEBOOK_LIMIT_S else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {os.path.relpath(path, ROOT)}{flag}")
    terminalreporter.write_line(f"{sum(times.values()):7.1f} s  in all ({len(times)} notebooks)")


# --------------------------------------------------------------------------------------
# The built book, shared by tests/test_book_build.py and tests/test_browser.py
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def cached_book_notebooks():
    """Book notebooks whose execution this session put into the cache (paths relative to book/)."""
    return sorted(
        run.path.relative_to(BOOK).with_suffix("").as_posix()
        for run in _NotebookRun.runs.values()
        if run.in_book and run.client is not None and not run.failed
        and _NotebookRun.times.get(str(run.path), 1e9) <= NOTEBOOK_LIMIT_S
    )


@pytest.fixture(scope="session")
def built_book():
    """Build the book once per session (re-using this session's executions); the result."""
    result = book_build.build_book(BOOK, quiet=True)
    assert result.ok, "the book build failed:\n" + "\n".join(result.failures or [result.log[-3000:]])
    return result
