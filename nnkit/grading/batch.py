"""A batch of submissions: grade each one (here, or on a Dask cluster), record it in the
course gradebook, and write the assignment's exports (``grades.csv``, ``feedback/<id>.md``).

``grader`` knows how to grade one submission; this module runs a batch of them, and chooses
between the local ``Grading`` and ``cluster.ClusterGrading``. Only this process writes the
gradebook and the output folder; no sandbox can reach either.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from nnkit.grading import submission
from nnkit.grading.grader import Grading, Options, Source, load_source
from nnkit.grading.untrusted import UntrustedData, clean_text, read_regular_file



def feedback_text(row: dict, source: Source) -> str:
    """The learner's feedback page (Markdown). Every line from a submission is already cleaned."""
    lines = [f"# Feedback for {row['submission']} — {source.name}", "",
             f"**Score: {row['total']:g} / {row['max']:g}**", ""]
    if row["status"] != "graded":
        lines += [f"Status: {row['status']}.", ""]
    for note in row["notes"]:
        lines.append(f"- Note: {_markdown_cell(note)}")
    if row["notes"]:
        lines.append("")
    lines += ["| test | points | result |", "|---|---|---|"]
    for test in source.tests:
        got = row["tests"].get(test.name, 0.0)
        lines.append(f"| {test.name} | {got:g} / {test.points:g} | {_markdown_cell(row['lines'].get(test.name, ''))} |")
    lines += ["", f"Graded with seed {row.get('seed')}."]
    return "\n".join(lines) + "\n"


def _markdown_cell(text) -> str:
    """Learner text inside a Markdown page: one line, no table breaks, no HTML, no emphasis tricks."""
    text = clean_text(text, 600)
    return re.sub(r"([\\|*_`#<>\[\]])", r"\\\1", text)


def _csv_cell(text) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = clean_text(text, 2000)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_csv(out_dir: Path, source: Source, rows: list[dict]) -> Path:
    names = [t.name for t in source.tests]
    path = out_dir / "grades.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "status", *names, "total", "max_points", "seed", "notes"])
        for row in sorted(rows, key=lambda r: r["submission"]):
            writer.writerow([_csv_cell(row["submission"]), row["status"],
                             *[f"{row['tests'].get(n, 0.0):g}" for n in names],
                             f"{row['total']:g}", f"{row['max']:g}", row.get("seed", ""),
                             _csv_cell("; ".join(row["notes"]))])
    os.replace(tmp, path)
    return path


def _identities(paths) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for path in paths:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem).strip(".-") or "submission"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def _file_digest(path: Path) -> str:
    """SHA-256 of a submission's bytes, or a word saying why there are none to read."""
    try:
        return hashlib.sha256(read_regular_file(path, submission.MAX_NOTEBOOK_BYTES)).hexdigest()
    except UntrustedData:
        return "unreadable" if os.path.lexists(path) else "missing"


def protected_paths(source: Path, submissions, out_dir: Path) -> list[str]:
    """What no sandbox may see: the solutions folder, the output, the submissions, the repository."""
    paths = {source.resolve().parent, Path(out_dir).resolve()}
    paths |= {Path(p).resolve().parent for p in submissions}
    for parent in source.resolve().parents:
        if (parent / ".git").exists():
            paths.add(parent / ".git")
            paths.add(parent / "solutions")
    return sorted(str(p) for p in paths)


@dataclass
class Summary:
    """What a ``grade_batch`` call did."""

    rows: list = field(default_factory=list)
    graded_now: int = 0
    already_graded: int = 0
    not_graded: int = 0
    seed: int = 0
    seconds: float = 0.0


def grade(source, submissions, out_dir, **options) -> list[dict]:
    """Grade ``submissions`` against solutions notebook ``source`` into ``out_dir``.

    Returns one row (a dict) per submission, in the order given; see ``grade_batch`` for the
    options and for the counts of what was graded now.
    """
    return grade_batch(source, submissions, out_dir, **options).rows


def grade_batch(source, submissions, out_dir, *, gradebook=None, jobs=2, timeout=30.0,
                notebook_timeout=None, memory_mb=2048, force=False, seed=None, progress=True,
                isolate=True, scheduler=None) -> Summary:
    """Grade ``submissions`` (paths) against solutions notebook ``source``.

    Every result goes into the course gradebook (``gradebook``: a path, by default
    ``out_dir/gradebook.sqlite``), one transaction per submission; ``out_dir`` receives its
    exports for this assignment: ``grades.csv`` and ``feedback/<learner>.md``. A learner is
    the submission's file name. Submissions whose file, solution and hidden tests are the same
    as when they were graded are not graded again, unless ``force``.

    ``seed`` fixes the hidden inputs (default: a fresh one, recorded with every submission).
    ``isolate=False`` runs kernels without a sandbox: only for notebooks the teacher trusts.
    ``scheduler`` grades on a Dask cluster (``"tcp://HOST:8786"``, or ``"local:N"`` for N
    workers on this machine; see ``nnkit.grading.cluster``); ``jobs`` is then how many
    submissions are in flight at least.
    """
    from nnkit.grading.gradebook import Gradebook

    started = time.perf_counter()
    if scheduler:
        from nnkit.grading.cluster import parse_scheduler

        parse_scheduler(scheduler)  # a bad address or a missing extra fails before any work
    src = load_source(source)
    out = Path(out_dir)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in submissions]
    idents = _identities(paths)
    seed = secrets.randbits(32) if seed is None else int(seed)
    options = Options(timeout=float(timeout), notebook_timeout=notebook_timeout, memory_mb=int(memory_mb),
                      isolate=isolate)
    with Gradebook(gradebook or out / "gradebook.sqlite") as book:
        book.register_assignment(src.name, src.digest, src.test_specs())
        digests = {ident: _file_digest(path) for ident, path in zip(idents, paths)}
        pending = set(idents) if force else {p.learner for p in book.pending(src.name, digests)}
        todo = [(path, ident) for path, ident in zip(paths, idents) if ident in pending]
        if todo:
            _grade_todo(src, todo, options, seed, out, paths, jobs, progress, book, digests, scheduler)
        recorded = {sub.learner: sub for sub in book.submissions(src.name, with_feedback=True)}
    rows = [_row_from(recorded[i], src, graded_now=i in pending) for i in idents]
    write_csv(out, src, [_row_from(sub, src) for sub in recorded.values()])
    for ident in idents:
        _write_text(out / "feedback" / f"{ident}.md", recorded[ident].feedback)
    summary = Summary(rows=rows, seed=seed, seconds=round(time.perf_counter() - started, 1))
    fresh = [r for r in rows if r["graded_now"]]
    summary.graded_now = sum(r["status"] == "graded" for r in fresh)
    summary.not_graded = len(fresh) - summary.graded_now
    summary.already_graded = len(rows) - len(fresh)
    return summary


def _row_from(sub, src: Source, graded_now: bool = False) -> dict:
    """The grader's row dict for a submission recorded in the gradebook."""
    return {"submission": sub.learner, "file": sub.file, "status": sub.status, "notes": list(sub.notes),
            "tests": {r.test: r.points for r in sub.results}, "lines": {r.test: r.message for r in sub.results},
            "total": sub.total, "max": sub.max_points, "source": sub.solution_digest, "seed": sub.seed,
            "file_digest": sub.file_digest, "seconds": sub.seconds, "graded_now": graded_now}


def _grade_todo(src, todo, options, seed, out, paths, jobs, progress, book, digests, scheduler=None) -> None:
    protected = protected_paths(src.path, paths, out)
    if scheduler:
        from nnkit.grading.cluster import cluster_grading

        runs = cluster_grading(scheduler, src, options, seed, protected, jobs)
    else:
        runs = contextlib.nullcontext((Grading(src, options, seed, protected), jobs))
    previous = _raise_on_sigterm()
    try:
        with runs as (grading, jobs):
            _grade_all(grading, src, todo, seed, out, jobs, progress, book, digests)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _grade_all(grading, src, todo, seed, out, jobs, progress, book, digests) -> None:
    """Grade ``todo`` with ``jobs`` submissions at a time, recording each as it finishes."""
    try:
        grading.run_reference()
        bar = _progress(len(todo), progress)
        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            futures = [pool.submit(grading.grade_one, p, i) for p, i in todo]
            try:
                for future in as_completed(futures):
                    row = future.result()
                    feedback = feedback_text(row, src)
                    book.record_row(src.name, row, feedback, file_digest=digests[row["submission"]], seed=seed)
                    _write_text(out / "feedback" / f"{row['submission']}.md", feedback)
                    bar.update(1)
            except BaseException:
                grading.stop()
                for future in futures:
                    future.cancel()
                raise
        bar.close()
    finally:
        grading.stop()
        grading.close()


def _write_text(path: Path, text: str) -> None:
    """Write an export atomically (the grader alone writes the output folder)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _raise_on_sigterm():
    """Turn SIGTERM into KeyboardInterrupt while grading, so clean-up runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="nb", disable=not enabled)
