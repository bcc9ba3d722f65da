"""``nnkit grade``: grade submitted notebooks against a solutions notebook.

For one grading run:
1. the ``### HIDDEN TESTS`` cells of SOURCE are run here, in the grader, to learn the tests;
2. every test's inputs are drawn from a fresh random seed;
3. the solution (SOURCE without its hidden cells) runs in a clean kernel on those inputs:
   its results, kept only in this process, are the expected values;
4. each submission runs in its own fresh, sandboxed kernel (``runner``, ``sandbox``); probe cells
   call its functions on the same inputs and send the results back as JSON;
5. results are compared here (``compare``) and written at once: ``results/<id>.json``,
   ``feedback/<id>.md`` and the whole ``grades.csv``.  A re-run skips what is already graded.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnkit.grading import codec, markers, sandbox
from nnkit.grading.scoring import score_test
from nnkit.grading.spec import HiddenTest, collecting

MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_RESULT_BYTES = 16 * 2**20
OUTPUT_CAP = 2 * 2**20


class GradingError(RuntimeError):
    """The grading run itself cannot go on (a broken SOURCE, not a broken submission)."""


@dataclass
class Source:
    path: Path
    name: str
    cells: list
    tests: list
    digest: str


@dataclass
class Options:
    timeout: float = 30.0
    memory_mb: int = 2048
    output_cap: int = OUTPUT_CAP
    deny: list = field(default_factory=list)
    allow: list = field(default_factory=list)


# ----------------------------------------------------------------------------- the source

def load_source(path) -> Source:
    """Read SOURCE: its solution cells and the hidden tests declared in it."""
    import nbformat

    path = Path(path)
    try:
        raw = path.read_bytes()
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise GradingError(f"cannot read the solutions notebook {path}: {err}") from err
    cells, tests = [], []
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
            else:
                cells.append(text)
    if not tests:
        raise GradingError(f"{path.name} declares no hidden tests (cells starting with {markers.HIDDEN})")
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise GradingError(f"{path.name}: hidden test names repeat: {names}")
    return Source(path, path.stem, cells, tests, hashlib.sha256(raw).hexdigest()[:16])


def make_cases(tests: list[HiddenTest], seed: int) -> list[dict]:
    """Draw each test's inputs (seeded by ``seed`` and the test's position)."""
    cases = []
    for index, test in enumerate(tests):
        rng = np.random.default_rng([seed, index])
        try:
            args = test.make_args(rng)
            encoded = codec.encode(args)
        except Exception as err:
            raise GradingError(f"hidden test {test.name!r}: its args cannot be drawn: {err}") from err
        cases.append({"index": index, "seed": int(rng.integers(2**31)), "call": test.call,
                      "code": test.code, "args": encoded, "max_bytes": MAX_RESULT_BYTES})
    return cases


# ------------------------------------------------------------------------- running a kernel

def _probe_results(cells, cases, workdir: Path, options: Options, deny, timeout=None):
    """Run learner ``cells`` then one probe per case; return (outcomes, results per case)."""
    from nnkit.grading.runner import run_cells

    nonce = secrets.token_hex(8)
    probes = []
    for case in cases:
        path = workdir / f".result-{nonce}-{case['index']}.json"
        probes.append(sandbox.probe_source({**case, "nonce": nonce, "path": str(path)}))
    setup = sandbox.sandbox_source(deny, [str(workdir)] + options.allow, options.memory_mb)
    n = len(cells)
    outcomes = asyncio.run(run_cells(
        list(cells) + probes, setup=setup, workdir=workdir, timeout=timeout or options.timeout,
        output_cap=options.output_cap, replay=lambda i: i < n, env=_kernel_env(workdir)))
    results = []
    for case, outcome in zip(cases, outcomes[n:]):
        path = workdir / f".result-{nonce}-{case['index']}.json"
        results.append(_read_result(path, nonce, case["index"], outcome))
    return outcomes[:n], results


def _kernel_env(workdir: Path) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _read_result(path: Path, nonce: str, index: int, outcome) -> dict:
    """What the probe wrote, checked; or an error explaining why there is nothing."""
    if outcome.status in ("died", "timeout", "flood", "skipped"):
        return {"error": outcome.status, "message": outcome.error}
    try:
        if path.stat().st_size > MAX_RESULT_BYTES + 4096:
            return {"error": "too large", "message": "the result is too large to grade"}
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("nonce") != nonce or data.get("index") != index:
            raise ValueError("result file does not belong to this test")
        if "result" in data:
            data["value"] = codec.loads(data.pop("result"))
        return data
    except Exception as err:  # noqa: BLE001 - tampered, missing or broken file
        message = outcome.error or str(err)
        return {"error": "no result", "message": f"the test produced no usable result ({message})"}


def _protected(source: Source, submissions, out_dir: Path, run_root: Path) -> list[str]:
    """Paths no submission may read: the solutions, the submissions, the output, the runtime."""
    from jupyter_core.paths import jupyter_runtime_dir

    deny = {str(source.path.resolve()), str(out_dir.resolve()), str(run_root.resolve()),
            str(Path(jupyter_runtime_dir()).resolve())}
    folder = source.path.resolve().parent
    library = Path(__file__).resolve().parents[1]
    if not (library.is_relative_to(folder) or Path(sys.prefix).resolve().is_relative_to(folder)):
        deny.add(str(folder))
    for sub in submissions:
        deny.add(str(Path(sub).resolve()))
    return sorted(deny)


def reference_results(source: Source, cases, options: Options, run_root: Path, deny) -> list:
    """Expected values: the solution run in its own clean kernel on the same inputs."""
    workdir = Path(tempfile.mkdtemp(prefix="reference-", dir=run_root))
    try:
        outcomes, results = _probe_results(source.cells, cases, workdir, options, deny,
                                           timeout=max(options.timeout, 60))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for number, outcome in enumerate(outcomes):
        if outcome.status != "ok":
            raise GradingError(f"the solution {source.path.name} fails in cell {number}: {outcome.error}")
    for test, result in zip(source.tests, results):
        if "value" not in result:
            raise GradingError(f"hidden test {test.name!r} fails on the solution: "
                               f"{result.get('error')}: {result.get('message')}")
    return [r["value"] for r in results]


# ------------------------------------------------------------------------ one submission

def _load_submission(path: Path):
    """(notebook, None) or (None, reason the notebook cannot be graded)."""
    import nbformat

    if not path.is_file():
        return None, "missing file: no notebook at this path"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None, f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as err:
        return None, f"not a valid notebook file (broken JSON: {err})"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "not a Jupyter notebook (no cells)"
    version = data.get("nbformat")
    if not isinstance(version, int) or version not in (3, 4):
        return None, f"unsupported notebook format (nbformat {version!r}; save it from Jupyter as version 4)"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any schema problem
        return None, f"not a valid notebook (format version {version}): {str(err).splitlines()[0][:200]}"
    return nb, None


def grade_one(path: Path, ident: str, source: Source, cases, expected, options: Options,
              deny, run_root: Path) -> dict:
    """Grade one submission; never raises (a grader failure becomes the row's status)."""
    total_points = sum(t.points for t in source.tests)
    row = {"submission": ident, "file": str(path), "status": "graded", "notes": [],
           "tests": {t.name: 0.0 for t in source.tests}, "lines": {}, "total": 0.0,
           "max": total_points, "source": source.digest}
    started = time.perf_counter()
    try:
        nb, problem = _load_submission(path)
        if problem:
            row["status"] = "not graded"
            row["notes"].append(problem)
            row["lines"] = {t.name: "not run: " + problem for t in source.tests}
            return row
        exercise = nb.metadata.get("nnkit", {}).get("exercise") if isinstance(nb.metadata.get("nnkit"), dict) else None
        if exercise and exercise != source.name:
            row["notes"].append(f"this notebook is exercise '{exercise}', not '{source.name}'")
        cells = [markers.cell_text(c) for c in nb.cells if c.cell_type == "code"]
        workdir = Path(tempfile.mkdtemp(prefix="sub-", dir=run_root))
        try:
            shutil.copyfile(path, workdir / "submission.ipynb")
            outcomes, results = _probe_results(cells, cases, workdir, options, deny)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        for number, outcome in enumerate(outcomes):
            if outcome.status in ("timeout", "died", "flood"):
                row["notes"].append(f"code cell {number + 1}: {outcome.error}")
        if any(o.status == "error" and o.error.startswith("MemoryError") for o in outcomes):
            row["notes"].append(f"a cell ran out of memory (limit {options.memory_mb} MB)")
        for test, case, result, value in zip(source.tests, cases, results, expected):
            passed, line = score_test(test, result, value, codec.decode(case["args"]))
            if not passed and test.hint:
                line += f" (hint: {test.hint})"
            if result.get("warnings"):
                line += f" [NumPy warned: {result['warnings'][0]}]"
            row["tests"][test.name] = test.points if passed else 0.0
            row["lines"][test.name] = line
        row["total"] = sum(row["tests"].values())
    except Exception as err:  # noqa: BLE001 - the batch must go on
        row["status"] = "grader error"
        row["notes"].append(f"{type(err).__name__}: {err}")
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


# ------------------------------------------------------------------------------ reporting

def feedback_text(row: dict, source: Source) -> str:
    lines = [f"# Feedback for {row['submission']} — {source.name}", "",
             f"**Score: {row['total']:g} / {row['max']:g}**", ""]
    if row["status"] != "graded":
        lines += [f"Status: {row['status']}.", ""]
    for note in row["notes"]:
        lines.append(f"- Note: {note}")
    if row["notes"]:
        lines.append("")
    lines += ["| test | points | result |", "|---|---|---|"]
    for test in source.tests:
        got = row["tests"].get(test.name, 0.0)
        text = str(row["lines"].get(test.name, "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {test.name} | {got:g} / {test.points:g} | {text} |")
    return "\n".join(lines) + "\n"


def write_csv(out_dir: Path, source: Source, rows: list[dict]) -> Path:
    names = [t.name for t in source.tests]
    path = out_dir / "grades.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "status", *names, "total", "max_points", "notes"])
        for row in sorted(rows, key=lambda r: r["submission"]):
            writer.writerow([row["submission"], row["status"],
                             *[f"{row['tests'].get(n, 0.0):g}" for n in names],
                             f"{row['total']:g}", f"{row['max']:g}", "; ".join(row["notes"])])
    os.replace(tmp, path)
    return path


def _identities(paths) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for path in paths:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem) or "submission"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def grade(source, submissions, out_dir, *, jobs=2, timeout=30.0, memory_mb=2048, force=False,
          seed=None, progress=True, output_cap=OUTPUT_CAP) -> list[dict]:
    """Grade ``submissions`` against solutions notebook ``source`` into ``out_dir``.

    Returns one row (a dict) per submission.  ``seed`` fixes the hidden inputs (by default a
    fresh one per run).  Already graded submissions are skipped unless ``force``.
    """
    src = load_source(source)
    out = Path(out_dir)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in submissions]
    idents = _identities(paths)
    options = Options(timeout=float(timeout), memory_mb=int(memory_mb), output_cap=int(output_cap))
    rows, todo = {}, []
    for path, ident in zip(paths, idents):
        saved = out / "results" / f"{ident}.json"
        if saved.is_file() and not force:
            try:
                row = json.loads(saved.read_text())
                if row.get("source") == src.digest and row.get("file") == str(path):
                    rows[ident] = row
                    continue
            except ValueError:
                pass
        todo.append((path, ident))
    if todo:
        run_root = Path(tempfile.mkdtemp(prefix="nnkit-grade-"))
        try:
            deny = _protected(src, paths, out, run_root)
            cases = make_cases(src.tests, secrets.randbits(32) if seed is None else int(seed))
            expected = reference_results(src, cases, options, run_root, deny)
            lock = threading.Lock()
            bar = _progress(len(todo), progress)
            with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
                futures = [pool.submit(grade_one, p, i, src, cases, expected, options, deny, run_root)
                           for p, i in todo]
                for future in as_completed(futures):
                    row = future.result()
                    with lock:
                        rows[row["submission"]] = row
                        (out / "results" / f"{row['submission']}.json").write_text(json.dumps(row))
                        (out / "feedback" / f"{row['submission']}.md").write_text(feedback_text(row, src))
                        write_csv(out, src, list(rows.values()))
                    bar.update(1)
            bar.close()
        finally:
            shutil.rmtree(run_root, ignore_errors=True)
    write_csv(out, src, list(rows.values()))
    return [rows[i] for i in idents]


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="nb", disable=not enabled)
