"""A batch of hostile and broken submissions: each gets exactly the points its real answers
earn and a clear feedback line, and the batch as a whole always completes."""
import csv
import sys
from pathlib import Path

import nbformat
import pytest

from nnkit.grading import grade
sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_fixtures.hostile import SUBMISSIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "00-warmup.ipynb"


def _write(folder: Path, name: str, spec, other: Path) -> Path:
    path = folder / f"{name}.ipynb"
    if spec is None:
        return path
    if isinstance(spec, str):
        path.write_text(spec)
        return path
    cells = [nbformat.v4.new_code_cell(c.replace("{SOURCE}", str(SOURCE)).replace("{OTHER}", str(other)))
             for c in spec]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["nnkit"] = {"exercise": "03-backprop" if name == "other_exercise" else "00-warmup"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    other = folder / "correct.ipynb"
    paths = [_write(folder, name, spec, other) for name, (_, spec, _) in SUBMISSIONS.items()]
    out = tmp_path_factory.mktemp("grades")
    # 10 s per cell: hanging submissions cost that much, and a loaded CI machine stays well inside it
    rows = grade(SOURCE, paths, out, jobs=2, timeout=10, memory_mb=1024, progress=False,
                 output_cap=256 * 1024)
    return {row["submission"]: row for row in rows}, out


def test_suite_is_large_enough():
    assert len(SUBMISSIONS) >= 12


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_hostile_submission_gets_exactly_its_points(graded, name):
    rows, out = graded
    points, _, word = SUBMISSIONS[name]
    row = rows[name]
    assert row["status"] != "grader error", row["notes"]
    assert row["total"] == points, (row["notes"], row["lines"])
    feedback = (out / "feedback" / f"{name}.md").read_text()
    assert f"Score: {points:g} / 5" in feedback
    assert word in feedback, feedback


def test_every_submission_has_its_row(graded):
    rows, out = graded
    with open(out / "grades.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert sorted(r["submission"] for r in table) == sorted(SUBMISSIONS)
    for r in table:
        assert float(r["total"]) == SUBMISSIONS[r["submission"]][0]
        parts = [float(r[k]) for k in ("sigmoid_values", "sigmoid_extreme", "sigmoid_grad_values",
                                       "softmax_batch", "softmax_large_scores")]
        assert sum(parts) == float(r["total"])


def test_feedback_never_contains_expected_values(graded):
    rows, out = graded
    text = (out / "feedback" / "patches_numpy.md").read_text()
    assert "largest error" in text and "expected (" not in text.split("wrong values")[0]
