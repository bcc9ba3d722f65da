"""`nnkit release`: exercises/ is exactly what release generates, and leaks nothing."""
import json
import re
from pathlib import Path

import nbformat
import pytest

from nnkit.grading import markers
from nnkit.grading.release import release_dir, release_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _solution_lines(nb):
    """Lines inside solution blocks that appear nowhere outside them."""
    inside, outside = set(), set()
    for cell in nb.cells:
        active = False
        for line in markers.cell_text(cell).splitlines():
            s = line.strip()
            if s.startswith(markers.BEGIN):
                active = True
            elif s.startswith(markers.END):
                active = False
            elif s:
                (inside if active else outside).add(s)
    return {s for s in inside - outside if len(s) >= 8 and not s.startswith("#")}


def test_exercises_are_up_to_date(tmp_path):
    written = release_dir(ROOT / "solutions", tmp_path)
    assert written, "no solutions notebooks found"
    committed = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert committed == sorted(p.name for p in written), "run `nnkit release` to regenerate exercises/"
    for path in written:
        stale = (ROOT / "exercises" / path.name).read_text(encoding="utf-8")
        assert stale == path.read_text(encoding="utf-8"), f"exercises/{path.name} is stale: run `nnkit release`"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_no_solution_or_output_leaks(path):
    nb = nbformat.read(path, as_version=4)
    exercise = release_notebook(nb, path.stem)
    text = nbformat.writes(exercise)
    code_lines = {line.strip() for c in exercise.cells if c.cell_type == "code"
                  for line in c.source.splitlines()}
    leaked = _solution_lines(nb) & code_lines
    assert not leaked, f"solution lines leaked into the exercise: {sorted(leaked)}"
    for marker in (markers.BEGIN, markers.END, markers.HIDDEN, "### HINT", "hidden_test("):
        assert marker not in text
    for cell in exercise.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            if "NotImplementedError(" in cell.source:
                assert cell.source.startswith(markers.RAISES)
    assert exercise.metadata["nnkit"]["exercise"] == path.stem


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_question_has_a_stub_and_a_self_check(path):
    exercise = release_notebook(nbformat.read(path, as_version=4), path.stem)
    sources = [c.source for c in exercise.cells if c.cell_type == "code"]
    assert any("NotImplementedError(" in s for s in sources)
    assert any("nnkit.check(" in s for s in sources)


def _solution_nb(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_stub_keeps_indentation_hint_and_surrounding_code():
    nb = _solution_nb(
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### HINT: square it\n    ### BEGIN SOLUTION\n"
        "    return x * x\n    ### END SOLUTION\n\nW = 3",
        "### BEGIN SOLUTION\nb = 2\n### END SOLUTION",
        "print(f(2))",
        "nnkit.check('f', f)",
        "### HIDDEN TESTS\nhidden_test('f', call='f', args=lambda rng: [1.0])",
    )
    ex = release_notebook(nb, "demo")
    sources = [c.source for c in ex.cells]
    assert sources[0] == (f"{markers.RAISES}\ndef f(x):\n    \"\"\"Doc.\"\"\"\n"
                          "    raise NotImplementedError('square it')\n\nW = 3")
    assert sources[1] == f"{markers.RAISES}\nraise NotImplementedError({markers.DEFAULT_HINT!r})"
    assert sources[2] == f"{markers.RAISES}\nprint(f(2))"   # calls a stub
    assert sources[3] == "nnkit.check('f', f)"               # a self-check never raises
    assert len(sources) == 4                                 # hidden cell removed


@pytest.mark.parametrize("bad", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
])
def test_broken_markers_are_reported(bad):
    with pytest.raises(markers.FormatError, match="cell 0"):
        release_notebook(_solution_nb(bad), "demo")


def test_release_cli_and_stale_files(tmp_path):
    from nnkit.cli import main

    out = tmp_path / "ex"
    out.mkdir()
    (out / "old.ipynb").write_text("{}")
    assert main(["release", str(ROOT / "solutions"), "--out", str(out)]) == 0
    assert not (out / "old.ipynb").exists()
    names = sorted(p.name for p in out.glob("*.ipynb"))
    assert names == sorted(p.name for p in SOLUTIONS)
    json.loads((out / names[0]).read_text())
    assert re.search(r"NotImplementedError", (out / names[0]).read_text())
