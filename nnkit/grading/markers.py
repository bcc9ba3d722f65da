"""The marker lines of a solutions notebook (see solutions/README.md).

    ### BEGIN SOLUTION / ### END SOLUTION   solution code, replaced by a stub on release
    ### HINT: text                          the stub's message
    ### HIDDEN TESTS                        first line of a cell of graded tests
    ### MISCONCEPTION: text                 first line of a cell holding a typical wrong
                                            answer (removed on release; ``text`` is the hint)
"""
from __future__ import annotations

import re

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HIDDEN = "### HIDDEN TESTS"
MISCONCEPTION = "### MISCONCEPTION:"
HINT_RE = re.compile(r"^\s*### HINT:\s?(.*)$")
RAISES = "# NBVAL_RAISES_EXCEPTION"
DEFAULT_HINT = "replace this line with your code"


class FormatError(ValueError):
    """A solutions notebook breaks the marker format."""


def cell_text(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def is_hidden(cell) -> bool:
    """True for a code cell whose first non-blank line is ``### HIDDEN TESTS``."""
    if cell.get("cell_type") != "code":
        return False
    for line in cell_text(cell).splitlines():
        if line.strip():
            return line.strip().startswith(HIDDEN)
    return False


def _first_line(cell) -> str:
    for line in cell_text(cell).splitlines():
        if line.strip():
            return line.strip()
    return ""


def is_misconception(cell) -> bool:
    """True for a code cell whose first non-blank line is ``### MISCONCEPTION: ...``."""
    return cell.get("cell_type") == "code" and _first_line(cell).startswith(MISCONCEPTION)


def misconception_text(cell) -> str:
    """The description on a misconception cell's first line (shown to the learner)."""
    return _first_line(cell)[len(MISCONCEPTION):].strip()


def has_solution(text: str) -> bool:
    return any(line.strip().startswith(BEGIN) for line in text.splitlines())


def stub_source(text: str, where: str = "cell") -> str:
    """Replace every solution block of ``text`` by ``raise NotImplementedError(hint)``.

    The hint comes from the cell's ``### HINT:`` lines (one per block, in order; the last one
    is reused), and the HINT lines themselves are dropped.
    """
    lines = text.splitlines()
    hints = [m.group(1).strip() for m in map(HINT_RE.match, lines) if m]
    out, inside, block = [], False, 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if HINT_RE.match(line):
            continue
        if stripped.startswith(BEGIN):
            if inside:
                raise FormatError(f"{where}, line {number}: {BEGIN} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            hint = hints[min(block, len(hints) - 1)] if hints else DEFAULT_HINT
            out.append(f"{indent}raise NotImplementedError({hint!r})")
            block += 1
        elif stripped.startswith(END):
            if not inside:
                raise FormatError(f"{where}, line {number}: {END} without a {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise FormatError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)
