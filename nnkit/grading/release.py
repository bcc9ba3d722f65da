"""``nnkit release``: turn solutions notebooks into exercise notebooks.

For every ``solutions/NAME.ipynb`` this writes ``exercises/NAME.ipynb`` where
- each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block is a ``raise NotImplementedError``
  carrying the cell's ``### HINT:`` text,
- cells starting with ``### HIDDEN TESTS`` or ``### MISCONCEPTION:`` are gone,
- outputs and execution counts are cleared,
- stub cells, and later cells that call a stubbed function outside ``nnkit.check(...)``, start
  with ``# NBVAL_RAISES_EXCEPTION`` so ``pytest --nbval-lax`` accepts the blank exercise;
and ``exercises/NAME.checks.json``, the expected results of the notebook's self-checks and the
fingerprints of its misconceptions, computed by running the solution (``check_data``).
The output is a function of the input only, so a test can regenerate and compare.
"""
from __future__ import annotations

import re
from pathlib import Path

from nnkit.grading import checkdata, markers, nbexec


class ReleaseError(RuntimeError):
    """A solutions notebook cannot be released (broken markers, a failing self-check case)."""

_DEF_RE = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.M)
_ASSIGN_RE = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", re.M)


def _mark(text: str) -> str:
    if text.lstrip().startswith(markers.RAISES):
        return text
    return f"{markers.RAISES}\n{text}"


def _calls_stub(text: str, names: set[str]) -> bool:
    """Does a line of ``text`` use one of ``names`` other than inside ``check(...)``?"""
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if "check(" in code:
            continue
        if any(re.search(rf"\b{re.escape(n)}\b", code) for n in names):
            return True
    return False


def release_notebook(nb, name: str):
    """Return the exercise version of solutions notebook ``nb`` (an nbformat v4 node)."""
    import nbformat

    out = nbformat.v4.new_notebook()
    out.metadata = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    out.metadata["nnkit"] = {"exercise": name}
    stubbed: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if markers.is_hidden(cell) or markers.is_misconception(cell):
            continue
        text = markers.cell_text(cell)
        new = nbformat.NotebookNode(
            {k: v for k, v in cell.items() if k not in ("outputs", "execution_count", "source")}
        )
        new.metadata = {k: v for k, v in cell.get("metadata", {}).items() if k in ("tags",)}
        if cell.cell_type == "code":
            new.outputs, new.execution_count = [], None
            if markers.has_solution(text) or markers.END in text:
                stub = markers.stub_source(text, where=f"{name}, cell {index}")
                stubbed.update(_DEF_RE.findall(text))
                stubbed.update(_ASSIGN_RE.findall(text))
                text = _mark(stub)
            elif stubbed and _calls_stub(text, stubbed):
                text = _mark(text)
        elif markers.BEGIN in text or markers.HIDDEN in text or markers.MISCONCEPTION in text:
            raise markers.FormatError(f"{name}, cell {index}: solution markers in a {cell.cell_type} cell")
        new.source = text
        out.cells.append(new)
    return out


def _record_checks(path):
    """Child process: run the solution with the self-checks recording, then each misconception."""
    import warnings

    warnings.simplefilter("ignore")          # misconceptions overflow on purpose
    nb = nbexec.load(path)
    namespace = nbexec.fresh_namespace()
    with checkdata.recording() as recorded:
        nbexec.run_cells(nb.cells, namespace, nb.name)
    for item in recorded:
        item.bound = namespace.get(getattr(item.fn, "__name__", "")) is item.fn
    hints = [hint for _, hint, _ in nb.misconceptions]
    if len(set(hints)) != len(hints):
        raise ValueError(f"{nb.name}: two misconception cells have the same text")
    for index, hint, source in nb.misconceptions:
        saved = dict(namespace)
        nbexec.run_cells([(index, source)], namespace, nb.name)
        for item in recorded:
            item.wrong[hint] = {}
            item.run(item.wrong[hint], namespace)
        namespace.clear()
        namespace.update(saved)
    yield checkdata.build(nb.name, recorded)


def check_data(paths, jobs=2) -> dict:
    """{notebook name: contents of its .checks.json} for solutions notebooks ``paths``."""
    out, errors = {}, []
    tasks = [(Path(p).stem, _record_checks, (str(p),)) for p in paths]
    for name, kind, payload in nbexec.in_children(tasks, jobs=jobs):
        if kind == "item":
            out[name] = payload
        elif kind == "error":
            errors.append(f"{name}: {payload}")
    if errors:
        raise ReleaseError("cannot compute the self-checks' expected results:\n" + "\n".join(errors))
    return out


def release_dir(solutions_dir="solutions", out_dir="exercises", jobs=2) -> list[Path]:
    """Write ``out_dir/X.ipynb`` and ``out_dir/X.checks.json`` for every ``solutions_dir/X.ipynb``.

    Drops stale exercises and returns the paths written.
    """
    import nbformat

    src, dst = Path(solutions_dir), Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"nnkit release: no solutions folder {src}")
    sources = sorted(src.glob("*.ipynb"))
    exercises = {}
    for path in sources:
        nb = nbformat.read(path, as_version=4)
        exercises[path] = nbformat.writes(release_notebook(nb, path.stem)) + "\n"
    data = check_data(sources, jobs=jobs)
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        target = dst / path.name
        target.write_text(exercises[path], encoding="utf-8")
        table = dst / (path.stem + checkdata.SUFFIX)
        table.write_text(checkdata.dumps(data[path.stem]), encoding="utf-8")
        written += [target, table]
    keep = {p.name for p in written}
    for old in list(dst.glob("*.ipynb")) + list(dst.glob("*" + checkdata.SUFFIX)):
        if old.name not in keep:
            old.unlink()
    return written
