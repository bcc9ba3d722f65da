"""Misconceptions through the real grader: a learner notebook that holds a typical wrong answer
loses the points of the tests it fails, and the feedback names the misconception."""
from pathlib import Path

import nbformat
import pytest

from nnkit.grading import grade, markers

ROOT = Path(__file__).resolve().parents[1]


def _learner_notebook(solution: Path, misconception: int, target: Path) -> str:
    """The solution's code with misconception number ``misconception`` written in as the learner's
    answer (its marker line removed); returns that misconception's hint."""
    nb = nbformat.read(solution, as_version=4)
    wrong = [c for c in nb.cells if markers.is_misconception(c)]
    hint = markers.misconception_text(wrong[misconception])
    kept = [c for c in nb.cells if not markers.is_hidden(c) and not markers.is_misconception(c)]
    answer = markers.cell_text(wrong[misconception]).split("\n", 1)[1]
    nb.cells = kept + [nbformat.v4.new_code_cell(answer)]
    nbformat.write(nb, target)
    return hint


@pytest.mark.parametrize("name, which", [("00-warmup", 1), ("lectures-12-generalization", 1)])
def test_grader_names_the_misconception(name, which, tmp_path):
    source = ROOT / "solutions" / f"{name}.ipynb"
    learner = tmp_path / "learner.ipynb"
    hint = _learner_notebook(source, which, learner)
    row, = grade(source, [learner], tmp_path / "out", jobs=1, progress=False, seed=3)
    assert row["status"] == "graded", row["notes"]
    failed = {t: line for t, line in row["lines"].items() if row["tests"][t] == 0}
    assert failed, row["lines"]
    assert any(f"this looks like: {hint}" in line for line in failed.values()), failed
    assert 0 < row["total"] < row["max"]
    feedback = (tmp_path / "out" / "feedback" / "learner.md").read_text()
    assert "this looks like" in feedback
