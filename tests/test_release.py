"""`nnkit release`: exercises/ is exactly what release generates, and leaks nothing."""
import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nnkit.grading import checkdata, codec, leaks, markers
from nnkit.grading.release import release_dir, release_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _same_data(a, b, where="checks"):
    """Stored check data agree: the same keys, fingerprints and (within 1e-9) values."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            _same_data(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same_data(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert np.isclose(a, b, rtol=1e-9, atol=1e-12) or (np.isnan(a) and np.isnan(b)), where
    else:
        assert a == b, where


def test_exercises_are_up_to_date(tmp_path):
    written = release_dir(ROOT / "solutions", tmp_path)
    assert written, "no solutions notebooks found"
    committed = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.suffix in (".ipynb", ".json"))
    assert committed == sorted(p.name for p in written), "run `nnkit release` to regenerate exercises/"
    for path in written:
        stale = (ROOT / "exercises" / path.name).read_text(encoding="utf-8")
        if path.name.endswith(checkdata.SUFFIX):      # floats may differ in the last digits across machines
            _same_data(json.loads(stale), json.loads(path.read_text(encoding="utf-8")), path.name)
        else:
            assert stale == path.read_text(encoding="utf-8"), f"exercises/{path.name} is stale: run `nnkit release`"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_self_check_data_covers_every_check(path):
    """Each exercise's data file has an entry for every case of every self-check, and a
    misconception fingerprint somewhere; values and fingerprints never both."""
    data = json.loads((ROOT / "exercises" / (path.stem + checkdata.SUFFIX)).read_text())
    assert data["exercise"] == path.stem and data["checks"]
    wrong = 0
    for name, check in data["checks"].items():
        for case, entry in check["cases"].items():
            assert "inputs" in entry, (name, case)
            assert not ("value" in entry and "fingerprint" in entry), (name, case)
            if "value" in entry:
                codec.decode(entry["value"])
            wrong += len(entry.get("misconceptions", []))
    assert wrong > 0, "no self-check recognises any misconception of this notebook"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_no_solution_or_output_leaks(path):
    nb = nbformat.read(path, as_version=4)
    exercise = release_notebook(nb, path.stem)
    text = nbformat.writes(exercise)
    code_lines = {line.strip() for c in exercise.cells if c.cell_type == "code"
                  for line in c.source.splitlines()}
    leaked = leaks.solution_lines(nb) & code_lines
    assert not leaked, f"solution lines leaked into the exercise: {sorted(leaked)}"
    assert leaks.static_leaks(nb, exercise) == []
    for marker in (markers.BEGIN, markers.END, markers.HIDDEN, markers.MISCONCEPTION, "### HINT", "hidden_test("):
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

    src, out = tmp_path / "sol", tmp_path / "ex"
    src.mkdir()
    out.mkdir()
    shutil.copy(ROOT / "solutions" / "00-warmup.ipynb", src)
    (out / "old.ipynb").write_text("{}")
    (out / ("old" + checkdata.SUFFIX)).write_text("{}")
    assert main(["release", str(src), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["00-warmup.checks.json", "00-warmup.ipynb"]
    text = (out / "00-warmup.ipynb").read_text()
    json.loads(text)
    assert re.search(r"NotImplementedError", text) and markers.MISCONCEPTION not in text
