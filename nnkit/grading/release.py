"""``nnkit release``: turn solutions notebooks into exercise notebooks.

For every ``solutions/NAME.ipynb`` this writes ``exercises/NAME.ipynb`` where
- each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block is a ``raise NotImplementedError``
  carrying the cell's ``### HINT:`` text,
- cells starting with ``### HIDDEN TESTS`` are gone,
- outputs and execution counts are cleared,
- stub cells, and later cells that call a stubbed function outside ``nnkit.check(...)``, start
  with ``# NBVAL_RAISES_EXCEPTION`` so ``pytest --nbval-lax`` accepts the blank exercise.
The output is a pure function of the input, so a test can regenerate and compare.
"""
from __future__ import annotations

import re
from pathlib import Path

from nnkit.grading import markers

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
        if markers.is_hidden(cell):
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
        elif markers.BEGIN in text or markers.HIDDEN in text:
            raise markers.FormatError(f"{name}, cell {index}: solution markers in a {cell.cell_type} cell")
        new.source = text
        out.cells.append(new)
    return out


def release_dir(solutions_dir="solutions", out_dir="exercises") -> list[Path]:
    """Write ``out_dir/X.ipynb`` for every ``solutions_dir/X.ipynb``; drop stale exercises.

    Returns the paths written.
    """
    import nbformat

    src, dst = Path(solutions_dir), Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"nnkit release: no solutions folder {src}")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    sources = sorted(src.glob("*.ipynb"))
    for path in sources:
        nb = nbformat.read(path, as_version=4)
        ex = release_notebook(nb, path.stem)
        target = dst / path.name
        target.write_text(nbformat.writes(ex) + "\n", encoding="utf-8")
        written.append(target)
    keep = {p.name for p in sources}
    for old in dst.glob("*.ipynb"):
        if old.name not in keep:
            old.unlink()
    return written
