"""The grader on real notebooks: every solution scores 100 %, every blank exercise 0, and the
pieces (codec, comparisons, self-checks, sandbox, resume) behave as documented."""
import asyncio
import csv
from pathlib import Path

import nbformat
import numpy as np
import pytest

import nnkit
from nnkit.cli import main
from nnkit.grading import codec, grade, markers, sandbox
from nnkit.grading.compare import compare
from nnkit.grading.grader import GradingError, load_source
from nnkit.grading.selfcheck import evaluate

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
IDS = [p.stem for p in SOLUTIONS]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_solution_scores_full_and_exercise_scores_zero(solution, tmp_path):
    exercise = ROOT / "exercises" / solution.name
    rows = grade(solution, [solution, exercise], tmp_path, jobs=2, progress=False)
    full = sum(t.points for t in load_source(solution).tests)
    assert full > 0
    sol, ex = rows
    assert sol["status"] == ex["status"] == "graded", (sol["notes"], ex["notes"])
    assert sol["total"] == full, sol["lines"]
    assert ex["total"] == 0
    assert all("not implemented" in line or "does not define" in line for line in ex["lines"].values()), ex["lines"]
    with open(tmp_path / "grades.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["total"]) for r in table] == [full, 0.0]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_blank_exercise_runs_like_nbval_lax(solution):
    """Every cell that fails in the blank exercise is marked, and fails only by a stub."""
    from nbclient import NotebookClient

    path = ROOT / "exercises" / solution.name
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    checks = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            assert cell.source.startswith(markers.RAISES), cell.source
            assert errors[0].ename == "NotImplementedError", (errors[0].ename, errors[0].evalue)
        if "nnkit.check(" in cell.source:
            checks += 1
            assert not errors
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert "not implemented yet" in text, text
    assert checks > 0


def test_resume_skips_graded_and_force_regrades(tmp_path):
    source = ROOT / "solutions" / "00-warmup.ipynb"
    blank = ROOT / "exercises" / "00-warmup.ipynb"
    first = grade(source, [blank], tmp_path, progress=False, seed=1)
    saved = tmp_path / "results" / "00-warmup.json"
    stamp = saved.stat().st_mtime_ns
    again = grade(source, [blank], tmp_path, progress=False)
    assert saved.stat().st_mtime_ns == stamp and again == first
    grade(source, [blank], tmp_path, progress=False, force=True)
    assert saved.stat().st_mtime_ns != stamp


def test_cli_grade_and_broken_source(tmp_path, capsys):
    source = ROOT / "solutions" / "00-warmup.ipynb"
    assert main(["grade", str(source), str(tmp_path / "nobody.ipynb"), "--out", str(tmp_path / "o"),
                 "--quiet", "--jobs", "1"]) == 0
    text = (tmp_path / "o" / "grades.csv").read_text()
    assert "nobody,not graded" in text and "missing file" in text
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), broken)
    assert main(["grade", str(broken), str(broken), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert "declares no hidden tests" in capsys.readouterr().err


def test_sandbox_refuses_protected_files_but_not_the_workdir(tmp_path):
    from nnkit.grading.runner import run_cells

    secret = tmp_path / "secret" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text("42")
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("ok")
    cells = [f"open({str(secret)!r}).read()", "open('mine.txt').read()",
             f"import os; os.listdir({str(secret.parent)!r})",
             "import subprocess; subprocess.run(['true'])",
             "import os; os.kill(os.getppid(), 0)",
             "import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
             "x = bytearray(4 * 2**30)"]
    setup = sandbox.sandbox_source([str(secret.parent)], [str(work)], 1024)
    out = asyncio.run(run_cells(cells, setup=setup, workdir=work, timeout=20, output_cap=10**5,
                                replay=lambda i: True))
    assert [o.status for o in out] == ["error", "ok", "error", "error", "error", "error", "error"]
    assert all(o.error.startswith("PermissionError") for o in out[2:6]) and "answers" in out[0].error
    assert out[6].error.startswith("MemoryError")


def test_codec_round_trip_and_refusals():
    value = (np.arange(6.0).reshape(2, 3), [1, 2.5, np.float32(3)], {"a": None, "b": "x"},
             np.array([np.nan, np.inf]), True)
    back = codec.loads(codec.dumps(value))
    assert isinstance(back, tuple) and back[0].shape == (2, 3) and back[0].dtype == np.float64
    assert np.array_equal(back[0], value[0]) and back[1] == [1, 2.5, 3.0] and back[2] == value[2]
    assert np.isnan(back[3][0]) and np.isinf(back[3][1]) and back[4] is True
    for bad in (object(), np.array(["a"]), {1: 2}, lambda: 0):
        with pytest.raises(TypeError):
            codec.encode(bad)
    for forged in ({"__array__": [1, 2], "dtype": "<f8", "shape": [3]}, {"__array__": [], "dtype": "|O", "shape": [0]},
                   {"evil": 1}):
        with pytest.raises((ValueError, TypeError)):
            codec.decode(forged)


def test_compare_explains_common_mistakes_without_expected_values():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(4, 3))
    assert compare(e.copy(), e) is None
    assert "transposed" in compare(e.T, e)
    assert "1/N" in compare(e / 4, e)
    assert "all zeros" in compare(np.zeros_like(e), e)
    assert "nan" in compare(np.full_like(e, np.nan), e) and "stable" in compare(np.full_like(e, np.nan), e)
    bumped = e.copy()
    bumped[2, 1] += 0.5
    message = compare(bumped, e)
    assert "largest error 0.5 at index (2, 1)" in message and "1 of 12" in message
    assert f"{e[2, 1]:.3g}" not in message
    assert "expected 2 items" in compare((e,), (e, e))


def test_self_check_feedback():
    def softmax_ref(z):
        return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))

    naive = evaluate(lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
                     {"small": (np.ones((2, 3)),), "large": (np.full((2, 3), 1000.0),)},
                     reference=softmax_ref)
    assert not naive.passed and "case 'large'" in naive.text() and "nan" in naive.text()
    stub = nnkit.check.report("sigmoid", lambda z: (_ for _ in ()).throw(NotImplementedError()))
    assert not stub.implemented and "not implemented yet" in stub.text()
    good = nnkit.check.report("sigmoid_grad", lambda z: 0.25 / np.cosh(np.asarray(z) / 2) ** 2)
    assert good.passed, good.text()
    half = nnkit.check.report("sigmoid_grad", lambda z: 0.125 / np.cosh(np.asarray(z) / 2) ** 2)
    assert not half.passed and "1/2" in half.text()
    shape = evaluate(lambda x, W: x @ W, {"batch": (np.ones((5, 3)), np.ones((3, 2)))},
                     reference=lambda x, W: (x @ W).T)
    assert "transposed" in shape.text()
    with pytest.raises(KeyError, match="no check named"):
        nnkit.check("nope", len)


def test_broken_hidden_tests_are_reported(tmp_path):
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\nhidden_test('x', call='f')")]), bad)
    with pytest.raises(GradingError, match="hidden-test cell 0"):
        load_source(bad)
