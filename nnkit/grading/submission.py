"""Read a submitted notebook without trusting it: its bytes, its code cells, its exercise name.

Only what grading needs is taken from the file, and leniently: the code cells of an nbformat 4
notebook (or of the worksheets of a version 3 one), whatever else the metadata says. Cells
that only a solutions notebook has (``### HIDDEN TESTS``, ``### MISCONCEPTION:``) are left
out, so that a teacher who submits the solutions notebook itself sees full marks. A file
that is not a regular file, too large, not UTF-8, not JSON or nested too deep is refused with
a reason for the learner; a byte-order mark is skipped and lone surrogates become U+FFFD.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nnkit.grading import markers
from nnkit.grading.untrusted import UntrustedData, clean_text, parse_json, read_regular_file

MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_DEPTH = 100


@dataclass
class Submission:
    data: bytes          # the file's bytes, as handed in
    cells: list          # sources of its code cells, in order
    exercise: str | None  # metadata.nnkit.exercise, if the notebook says which exercise it is
    digest: str          # sha256 of the bytes
    left_out: int = 0    # cells left out: hidden-test and misconception cells of a solutions notebook


def _source(cell) -> str | None:
    text = cell.get("source", cell.get("input", ""))
    if isinstance(text, list):
        if not all(isinstance(line, str) for line in text):
            return None
        return "".join(text)
    return text if isinstance(text, str) else None


def load(path) -> Submission:
    """The submission at ``path``; ``UntrustedData`` (with a reason) when it cannot be graded."""
    data = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UntrustedData(f"not a valid notebook file (not UTF-8 text: byte {err.start})") from None
    notebook = parse_json(text, MAX_DEPTH)
    if not isinstance(notebook, dict):
        raise UntrustedData("not a Jupyter notebook (the file is JSON but not an object)")
    version = notebook.get("nbformat")
    if isinstance(version, bool) or version not in (3, 4):
        raise UntrustedData(f"unsupported notebook format (nbformat {clean_text(repr(version), 40)}; "
                            "save it from Jupyter as version 4)")
    if version == 4:
        cells = notebook.get("cells")
    else:
        sheets = notebook.get("worksheets")
        cells = [c for s in sheets if isinstance(s, dict) for c in (s.get("cells") or [])] \
            if isinstance(sheets, list) else None
    if not isinstance(cells, list):
        raise UntrustedData(f"not a valid notebook (format version {version}): it has no list of cells")
    sources, left_out = [], 0
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise UntrustedData(f"not a valid notebook: cell {number} is not an object")
        if cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        if source is None:
            raise UntrustedData(f"not a valid notebook: code cell {number} has no text source")
        if _solutions_only(source):
            left_out += 1
            continue
        sources.append(source)
    meta = notebook.get("metadata")
    nnkit_meta = meta.get("nnkit") if isinstance(meta, dict) else None
    exercise = nnkit_meta.get("exercise") if isinstance(nnkit_meta, dict) else None
    exercise = clean_text(exercise, 80) if isinstance(exercise, str) else None
    return Submission(data, sources, exercise, hashlib.sha256(data).hexdigest(), left_out)


def _solutions_only(source: str) -> bool:
    """True for a cell whose first non-blank line marks hidden tests or a misconception."""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return first.startswith((markers.HIDDEN, markers.MISCONCEPTION))
