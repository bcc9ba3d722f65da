"""``nnkit grade``: grade submitted notebooks against a solutions notebook.

For one grading run:
1. the ``### HIDDEN TESTS`` cells of SOURCE run here, in the grader, to learn the tests;
2. every test's input sets are drawn from the run's seed (recorded in every row, so that
   ``--seed`` repeats the run exactly);
3. the solution (SOURCE without its hidden and misconception cells) runs in a sandbox of its
   own on those inputs: its results, kept only in this process, are the expected values; each
   ``### MISCONCEPTION:`` cell runs the same way after the solution, to recognise typical
   wrong answers;
4. each submission runs in its own sandbox (``isolation``, ``runner``): its cells, then one
   probe per hidden test that calls the learner's function on the same inputs and sends the
   results back;
5. results are scored here (``scoring``) into one row per submission.

``batch`` grades a folder of submissions with this, records the rows in the course
gradebook and writes the exports; ``cluster`` runs the same jobs on Dask workers.

Everything that comes out of a sandbox is treated as hostile (``untrusted``, ``frames``).
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import json
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnkit.grading import codec, markers, submission
from nnkit.grading.isolation import Isolation, Limits, SandboxError, scratch_root
from nnkit.grading.runner import CellOutcome, NotebookRun, run_notebook
from nnkit.grading.scoring import score_test
from nnkit.grading.spec import HiddenTest, collecting
from nnkit.grading.untrusted import UntrustedData, clean_text, parse_json

MAX_RESULT_BYTES = 8 * 2**20
NOTEBOOK_FACTOR = 3          # default notebook budget: this many times the cell timeout
REFERENCE_BUDGET_S = 600.0


class GradingError(RuntimeError):
    """The grading run itself cannot go on (a broken SOURCE, no sandbox), not a broken submission."""


@dataclass
class Source:
    path: Path
    name: str
    cells: list
    tests: list
    misconceptions: list      # (hint, code) pairs
    digest: str               # of the solution and misconception cells (not the hidden tests)

    def test_specs(self) -> list:
        """(name, points, digest) of every hidden test, for the gradebook."""
        return [(t.name, t.points, hidden_test_digest(t)) for t in self.tests]


@dataclass
class Options:
    timeout: float = 30.0                 # seconds per cell
    notebook_timeout: float | None = None  # seconds per notebook (default NOTEBOOK_FACTOR x timeout)
    memory_mb: int = 2048
    isolate: bool = True

    @property
    def budget(self) -> float:
        return self.notebook_timeout or NOTEBOOK_FACTOR * self.timeout

    def limits(self, budget: float) -> Limits:
        return Limits(memory_mb=self.memory_mb, cpu_s=int(budget) + 30)


# ----------------------------------------------------------------------------- the source

def load_source(path) -> Source:
    """Read SOURCE: its solution cells, its misconception cells and the hidden tests."""
    import nbformat

    path = Path(path)
    try:
        raw = path.read_bytes()
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise GradingError(f"cannot read the solutions notebook {path}: {err}") from err
    cells, misconceptions = [], []
    with collecting() as tests:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            text = markers.cell_text(cell)
            if markers.is_hidden(cell):
                scope = {"np": np, "__name__": "__hidden_tests__"}
                try:
                    exec(compile(text, f"{path.name} cell {index}", "exec"), scope)  # noqa: S102
                except Exception as err:
                    raise GradingError(f"{path.name}, hidden-test cell {index}: {type(err).__name__}: {err}") from err
            elif markers.is_misconception(cell):
                misconceptions.append((markers.misconception_text(cell), text))
            else:
                cells.append(text)
    if not tests:
        raise GradingError(f"{path.name} declares no hidden tests (cells starting with {markers.HIDDEN})")
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise GradingError(f"{path.name}: hidden test names repeat: {names}")
    solution = json.dumps([cells, misconceptions]).encode("utf-8", "surrogatepass")
    return Source(path, path.stem, cells, tests, misconceptions, hashlib.sha256(solution).hexdigest()[:16])


def _code_fingerprint(fn) -> list:
    """What a function computes, without where it was written (line numbers, file names)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return [repr(fn)]

    def walk(c):
        consts = [walk(k) if hasattr(k, "co_code") else repr(k) for k in c.co_consts]
        return [c.co_code.hex(), consts, list(c.co_names), list(c.co_varnames)]

    return walk(code)


def hidden_test_digest(test: HiddenTest) -> str:
    """A digest of one hidden test's definition: a changed test re-grades only its assignment."""
    parts = [test.name, test.points, test.call, test.code, test.rtol, test.atol, test.compare, test.hint,
             test.draws, codec.encode([list(f) if isinstance(f, tuple) else f for f in test.fixed]),
             _code_fingerprint(test.args), _code_fingerprint(test.check) if test.check else None]
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()[:16]


def make_cases(tests: list[HiddenTest], seed: int) -> list[dict]:
    """Draw each test's input sets (seeded by ``seed`` and the test's position)."""
    cases = []
    for index, test in enumerate(tests):
        rng = np.random.default_rng([seed, index])
        try:
            sets = [codec.encode(args) for args in test.all_args(rng)]
        except Exception as err:
            raise GradingError(f"hidden test {test.name!r}: its args cannot be drawn: {err}") from err
        cases.append({"index": index, "seed": int(rng.integers(2**31)), "call": test.call,
                      "code": test.code, "args": sets, "max_bytes": MAX_RESULT_BYTES})
    return cases


# ------------------------------------------------------------------------ running notebooks

def _parse_probe(reply, sets: int) -> list[dict]:
    """One result per input set from a probe's (hostile) reply: {"value": ...} or an error."""
    if isinstance(reply, CellOutcome):
        kind = {"timeout": "timeout", "died": "died"}.get(reply.status, "skipped")
        return [{"error": kind, "message": reply.error}] * sets
    results = reply.get("results") if isinstance(reply, dict) else None
    if not isinstance(results, list) or len(results) != sets:
        return [{"error": "no result", "message": "the test produced no usable result"}] * sets
    warnings = reply.get("warnings")
    warning = clean_text(warnings[0], 160) if isinstance(warnings, list) and warnings else ""
    parsed = []
    for item in results:
        entry = {"warnings": [warning] if warning else []}
        if isinstance(item, dict) and isinstance(item.get("result"), str):
            try:
                entry["value"] = codec.decode(parse_json(item["result"], codec.MAX_DEPTH + 8))
            except (UntrustedData, ValueError, TypeError, RecursionError) as err:
                entry.update(error="no result", message=f"the result cannot be graded ({clean_text(err, 120)})")
        elif isinstance(item, dict) and isinstance(item.get("error"), str):
            entry.update(error=clean_text(item["error"], 60), message=clean_text(item.get("message", ""), 300))
        else:
            entry.update(error="no result", message="the test produced no usable result")
        parsed.append(entry)
    return parsed


def run_job(notebook: bytes, cells: list, cases: list, options: Options, protected=(), *,
            isolation: Isolation | None = None, scratch=None, live=None) -> NotebookRun:
    """Run one notebook in a sandbox of its own: the learner's results, not yet scored.

    The one place where learner code is started, for local grading and on a Dask worker
    alike (``nnkit.grading.cluster`` sends this function to the workers). Its arguments and
    its result are plain data: the notebook's bytes and code cells, the drawn inputs
    (``cases``), the sandbox settings and the paths no sandbox may show; expected values are
    never among them. Without ``isolation`` and ``scratch`` (on a worker), the process makes
    its ``Isolation`` and scratch folder once and keeps them for every later job.
    """
    if isolation is None:
        isolation = _process_isolation(options.isolate, tuple(protected))
        scratch = scratch or _process_scratch()
    workdir = Path(scratch) / f"run-{secrets.token_hex(6)}"
    try:
        return run_notebook(isolation, notebook, cells, cases, timeout=options.timeout,
                            budget=options.budget, limits=options.limits(options.budget),
                            scratch=workdir, live=live)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@functools.lru_cache(maxsize=4)
def _process_isolation(isolate: bool, protected: tuple) -> Isolation:
    return Isolation(isolate=isolate, protected=protected)


@functools.lru_cache(maxsize=1)
def _process_scratch() -> Path:
    root = scratch_root()
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # a killed worker's is swept later
    return root


class Grading:
    """One grading run: the sandbox settings, the drawn inputs, the expected values.

    ``run_submission`` and ``score`` are separate so that a submission can be run on another
    machine: only the inputs go out, only the learner's results come back.
    """

    def __init__(self, source: Source, options: Options, seed: int, protected=()):
        self.source, self.options, self.seed = source, options, seed
        self.cases = make_cases(source.tests, seed)
        self.live: set = set()
        self.stopping = threading.Event()
        try:
            self.isolation = Isolation(isolate=options.isolate, protected=protected)
        except SandboxError as err:
            raise GradingError(str(err)) from None
        self.scratch = scratch_root()
        self.expected: list = []
        self.variants: list = []   # (hint, results per test) for each misconception

    # -- the reference --------------------------------------------------------------------
    def _run(self, cells, notebook: bytes, options: Options):
        return run_job(notebook, cells, self.cases, options, isolation=self.isolation,
                       scratch=self.scratch, live=self.live)

    def run_reference(self) -> None:
        """Run the solution (and each misconception) on the drawn inputs; keep their results."""
        src = self.source
        reference = dataclasses.replace(self.options, timeout=max(self.options.timeout, 60.0),
                                        notebook_timeout=REFERENCE_BUDGET_S)
        try:
            run = self._run(src.cells, b"{}", reference)
        except SandboxError as err:
            raise GradingError(str(err)) from None
        for number, outcome in enumerate(run.cells):
            if outcome.status != "ok":
                raise GradingError(f"the solution {src.path.name} fails in code cell {number + 1}: "
                                   f"{outcome.error or outcome.status}")
        for test, case, reply in zip(src.tests, self.cases, run.probes):
            results = _parse_probe(reply, len(case["args"]))
            bad = [r for r in results if "value" not in r]
            if bad:
                raise GradingError(f"hidden test {test.name!r} fails on the solution: "
                                   f"{bad[0].get('error')}: {bad[0].get('message')}")
            self.expected.append([r["value"] for r in results])
        for hint, code in src.misconceptions:
            run = self._run(src.cells + [code], b"{}", reference)
            self.variants.append((hint, [_parse_probe(reply, len(case["args"]))
                                         for case, reply in zip(self.cases, run.probes)]))

    # -- one submission -------------------------------------------------------------------
    def run_submission(self, sub: submission.Submission):
        """Run one submission in its own sandbox; the learner's results, not yet scored."""
        return self._run(sub.cells, sub.data, self.options)

    def _misconception(self, test: HiddenTest, index: int, results: list[dict], args: list) -> str:
        for hint, variant in self.variants:
            theirs = variant[index]
            if all("value" in v for v in theirs) and all(
                    "value" in r and score_test(test, r, v["value"], a)[0]
                    for r, v, a in zip(results, theirs, args)):
                return hint
        return ""

    def score(self, row: dict, run) -> dict:
        """Fill ``row`` from a notebook run: points, feedback lines and notes."""
        src = self.source
        for number, outcome in enumerate(run.cells):
            if outcome.status in ("timeout", "died"):
                row["notes"].append(f"code cell {number + 1}: {outcome.error}")
        if any(o.status == "error" and o.error.startswith("MemoryError") for o in run.cells):
            row["notes"].append(f"a cell ran out of memory (limit {self.options.memory_mb} MB)")
        skipped = [o for o in run.cells + run.probes if isinstance(o, CellOutcome) and o.status == "skipped"]
        if skipped:
            row["notes"].append(skipped[0].error)
        for index, (test, case, reply, expected) in enumerate(zip(src.tests, self.cases, run.probes, self.expected)):
            results = _parse_probe(reply, len(case["args"]))
            args = [codec.decode(a) for a in case["args"]]
            passed, line = True, "passed"
            for number, (result, value, arg) in enumerate(zip(results, expected, args)):
                ok, text = score_test(test, result, value, arg)
                if not ok:
                    where = f" (input set {number + 1} of {len(results)})" if len(results) > 1 else ""
                    passed, line = False, text + where
                    break
            if not passed:
                looks_like = self._misconception(test, index, results, args)
                if looks_like:
                    line += f" — this looks like: {looks_like}"
                if test.hint:
                    line += f" (hint: {test.hint})"
                warnings = [w for r in results for w in r.get("warnings", [])]
                if warnings:
                    line += f" [NumPy warned: {warnings[0]}]"
            row["tests"][test.name] = test.points if passed else 0.0
            row["lines"][test.name] = clean_text(line, 600)
        row["total"] = sum(row["tests"].values())
        row["notes"] = [clean_text(n, 300) for n in row["notes"]]
        return row

    def grade_one(self, path: Path, ident: str) -> dict:
        """Grade one submission; never raises (a failure becomes the row's status)."""
        src = self.source
        row = {"submission": ident, "file": str(path), "status": "graded", "notes": [],
               "tests": {t.name: 0.0 for t in src.tests}, "lines": {}, "total": 0.0,
               "max": sum(t.points for t in src.tests), "source": src.digest, "seed": self.seed}
        started = time.perf_counter()
        try:
            sub = submission.load(path)
            if sub.exercise and sub.exercise != src.name:
                row["notes"].append(f"this notebook is exercise '{sub.exercise}', not '{src.name}'")
            if sub.left_out:
                row["notes"].append(f"{sub.left_out} cell(s) starting with {markers.HIDDEN!r} or "
                                    f"{markers.MISCONCEPTION!r} were not run (they belong to solutions notebooks)")
            if self.stopping.is_set():
                raise UntrustedData("not run: grading was interrupted")
            self.score(row, self.run_submission(sub))
        except UntrustedData as err:
            row["status"] = "not graded"
            row["notes"].append(clean_text(err, 300))
            row["lines"] = {t.name: "not run: " + clean_text(err, 300) for t in src.tests}
        except SandboxError as err:
            row["status"] = "not graded"
            row["notes"].append("not graded: the sandbox could not start (" + clean_text(err, 200) + ")")
        except Exception as err:  # noqa: BLE001 - the batch must go on
            row["status"] = "grader error"
            row["notes"].append(clean_text(f"{type(err).__name__}: {err}", 300))
        row["seconds"] = round(time.perf_counter() - started, 2)
        return row

    def stop(self) -> None:
        """Stop every running kernel now (the grader was interrupted)."""
        self.stopping.set()
        for kernel in list(self.live):
            kernel.kill()

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
