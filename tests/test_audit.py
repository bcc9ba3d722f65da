"""The mutation audit and the leak check (`nnkit release --audit`).

The full audit (every mutant of all 31 notebooks under 10 grading seeds) runs with
`nnkit release --audit` (see solutions/README.md).  Here a fixed part of it runs: every notebook,
the misconceptions, and one mutant in eight (chosen by a hash of its key, so always the same ones).
"""
import json
from pathlib import Path

import nbformat
import pytest

from nnkit.grading import audit, grade, leaks, mutation, nbexec
from nnkit.grading.release import release_dir

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SAMPLE = 8


@pytest.fixture(scope="module")
def sampled_audit():
    return audit.audit(ROOT / "solutions", seeds=audit.SEEDS, sample=SAMPLE)


def test_representative_audit_kills_every_sampled_mutant_under_ten_seeds(sampled_audit):
    report = sampled_audit
    assert len(report.notebooks) == len(SOLUTIONS) == 31
    assert report.problems() == [], "\n".join(report.problems())
    n, killed, equivalent, survivors, unstable = report.totals()
    assert n >= 250 and survivors == unstable == 0
    for nb in report.notebooks:
        assert nb.results, f"{nb.name}: no sampled mutant"
        assert not nb.solution_failures and not nb.errors


def test_every_notebook_has_three_questions_and_a_recognised_misconception(sampled_audit):
    for nb in sampled_audit.notebooks:
        graded = {t.call for t in nbexec.collect_tests(nbexec.load(ROOT / "solutions" / f"{nb.name}.ipynb")) if t.call}
        questions = {m.function for m in mutation_targets(nb.name)}
        assert len(questions) >= 3, (nb.name, questions)
        assert graded, nb.name
        assert nb.misconceptions, f"{nb.name}: no misconception"
        for m in nb.misconceptions:
            assert len(m["killed"]) == len(audit.SEEDS), (nb.name, m["hint"])
            assert m["recognised"], f"{nb.name}: no hidden test recognises '{m['hint']}'"
            assert m["self_check"], f"{nb.name}: no self-check recognises '{m['hint']}'"


def mutation_targets(name):
    nb = nbexec.load(ROOT / "solutions" / f"{name}.ipynb")
    return [m for _, src in nb.cells for m in mutation.mutants(src)]


def test_equivalence_marks_carry_reasons():
    marks = audit.load_marks(ROOT / "solutions")
    assert marks
    for name, entries in marks.items():
        assert (ROOT / "solutions" / f"{name}.ipynb").is_file(), name
        assert all(len(reason) > 20 for reason in entries.values()), name


# ------------------------------------------------------------------------------ mutations

SOURCE = '''
import numpy as np

def softmax_loss(S, y, margin=1.0):
    """Doc."""
    S = np.asarray(S)
    ### BEGIN SOLUTION
    z = S - S.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if margin > 0 and len(y) >= 1:
        p = p.T.T
    return -np.log(p[np.arange(len(y)), y]).mean()
    ### END SOLUTION
'''


def test_mutants_cover_the_operators_and_only_solution_lines():
    found = mutation.mutants(SOURCE)
    ops = {m.operator for m in found}
    assert {"arith", "drop-term", "max-shift", "swap-args", "compare", "constant", "axis", "keepdims",
            "transpose", "function", "zeros"} <= ops
    assert all(m.line >= 5 for m in found)                        # nothing in the signature or docstring
    assert not any("np.asarray" in m.before for m in found)       # code outside the block stays
    assert len({m.key for m in found}) == len(found)
    namespace = nbexec.fresh_namespace()
    exec(SOURCE, namespace)
    original = namespace["softmax_loss"]
    shift = next(m for m in found if m.operator == "max-shift")
    previous = shift.apply(namespace)
    assert namespace["softmax_loss"] is not original and "S.max" not in shift.code.split("z =")[1].split("\n")[0]
    shift.restore(namespace, previous)
    assert namespace["softmax_loss"] is original


# --------------------------------------------------------------------------- toy notebooks

def _notebook(path, *cells):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)


_SETUP = "import numpy as np\nimport nnkit"
_SIGN = '''
def relu(x):
    """Zero below 0."""
    ### BEGIN SOLUTION
    return np.where(x > 0, x, 0.0)
    ### END SOLUTION
'''
_CHECK = 'nnkit.check(relu, cases={"mixed": (np.array([-1.0, 0.5, 2.0, -3.0]),)})'


def test_a_test_that_misses_the_negative_branch_on_some_draws_is_unstable(tmp_path):
    """Inputs that are all positive on some draws make the grade depend on the seed."""
    src = tmp_path / "sol"
    src.mkdir()
    _notebook(src / "toy.ipynb", _SETUP, _SIGN, _CHECK,
              "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
              "hidden_test('relu', call='relu', args=lambda rng: [rng.normal(loc=2.0, size=3)])",
              "### MISCONCEPTION: the negative side is 0, not -x\ndef relu(x):\n    return np.abs(x)")
    release_dir(src, tmp_path / "ex")
    report = audit.audit(src, seeds=audit.SEEDS, exercises_dir=tmp_path / "ex")
    killed, equivalent, survivors, unstable = report.notebooks[0].classify(audit.SEEDS)
    assert unstable, report.details()
    assert any("unstable" in p for p in report.problems())
    assert any("passes the hidden tests under" in p for p in report.problems())     # abs(x) too, sometimes


def test_fixed_edge_case_makes_it_stable_and_stale_marks_are_reported(tmp_path):
    src = tmp_path / "sol"
    src.mkdir()
    _notebook(src / "toy.ipynb", _SETUP, _SIGN, _CHECK,
              "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
              "hidden_test('relu', call='relu', args=lambda rng: [rng.normal(loc=2.0, size=3)],\n"
              "            fixed=[[np.array([-1.0, 0.0, 0.5, 2.0])]])",
              "### MISCONCEPTION: the negative side is 0, not -x\ndef relu(x):\n    return np.abs(x)")
    (src / audit.MARKS).write_text(json.dumps({"toy": {
        "relu: line 4: `x > 0` -> `x >= 0`": "at x = 0 both branches give 0",
        "relu: line 4: `x` -> `y`": "a mutant that does not exist"}}))
    release_dir(src, tmp_path / "ex")
    report = audit.audit(src, seeds=audit.SEEDS, exercises_dir=tmp_path / "ex")
    killed, equivalent, survivors, unstable = report.notebooks[0].classify(audit.SEEDS)
    assert killed and len(equivalent) == 1 and not unstable and not survivors, report.details()
    problems = report.problems()
    assert any("stale equivalence mark" in p for p in problems), problems
    assert not any("misconception" in p for p in problems), problems
    (src / audit.MARKS).write_text(json.dumps({"toy": {"relu: line 4: `x` -> `y`": " "}}))
    with pytest.raises(ValueError, match="needs a reason"):
        audit.load_marks(src)


def test_the_audit_command_runs_the_grading_seeds_asked_for(tmp_path):
    """--seeds N --first-seed F audits under F..F+N-1, so other seeds than 0..9 can be swept."""
    from nnkit.cli import main

    src, out, report = tmp_path / "sol", tmp_path / "ex", tmp_path / "audit.json"
    src.mkdir()
    _notebook(src / "toy.ipynb", _SETUP, _SIGN, _CHECK,
              "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
              "hidden_test('relu', call='relu', args=lambda rng: [rng.normal(size=5)], fixed=[[np.array([-1.0, 0.0, 0.5, 2.0])]])",
              "### MISCONCEPTION: the negative side is 0, not -x\ndef relu(x):\n    return np.abs(x)")
    (src / audit.MARKS).write_text(json.dumps({"toy": {"relu: line 4: `x > 0` -> `x >= 0`": "at x = 0 both branches give 0"}}))
    args = ["release", str(src), "--out", str(out), "--audit", "--seeds", "3", "--first-seed", "34", "--json", str(report)]
    assert main(args) == 0
    data = json.loads(report.read_text())
    assert data["seeds"] == [34, 35, 36] and data["notebooks"]["toy"]["killed"] > 0
    assert main(["release", str(src), "--out", str(out), "--audit", "--seeds", "0"]) == 2


def test_leak_check_finds_reference_callables_and_solution_code(tmp_path):
    src, out = tmp_path / "sol", tmp_path / "ex"
    src.mkdir()
    _notebook(src / "leaky.ipynb", _SETUP, _SIGN,
              "def _expected(x):\n    return np.maximum(x, 0.0)\n",            # a reference in a helper cell
              'nnkit.check(relu, reference=lambda x: x * (x > 0), cases={"mixed": (np.array([-1.0, 2.0]),)})',
              "def shown(x):\n    return np.where(x > 0, x, 0.0)",            # the solution line, outside the block
              "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
              "hidden_test('relu', call='relu', args=lambda rng: [rng.normal(size=5)], fixed=[[np.array([-1.0, 1.0])]])")
    release_dir(src, out)
    found = leaks.check(src, out)["leaky"]
    assert any("`_expected` computes the answer" in p for p in found), found
    assert any("`shown` computes the answer" in p for p in found), found
    assert any("reference=" in p for p in found), found
    assert any("solution code in the exercise" in p for p in found), found
    from nnkit.cli import main

    assert main(["release", str(src), "--out", str(out), "--audit", "--seeds", "2"]) == 1


_LOGISTIC = '''
def logistic(x):
    """1 / (1 + exp(-x)) of a number."""
    ### BEGIN SOLUTION
    return 1.0 / (1.0 + np.exp(-x))
    ### END SOLUTION
'''
_LOGISTIC_TEST = ("### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
                  "hidden_test('logistic', call='logistic', args=lambda rng: [float(rng.normal())], fixed=[[0.5]])")


@pytest.mark.parametrize("setup, use", [("from nnkit.gates import sigmoid as squash", "squash(0.0)"),
                                        ("from nnkit import gates", "gates.sigmoid(0.0)"),
                                        ("import nnkit.gates as g", "g.sigmoid(0.0)")])
def test_leak_check_finds_an_imported_nnkit_function_that_computes_the_answer(setup, use, tmp_path):
    src, out = tmp_path / "sol", tmp_path / "ex"
    src.mkdir()
    _notebook(src / "imported.ipynb", _SETUP + "\n" + setup, _LOGISTIC, use,
              'nnkit.check(logistic, cases={"two": (2.0,)})', _LOGISTIC_TEST)
    release_dir(src, out)
    found = leaks.check(src, out)["imported"]
    assert any("computes the answer of hidden test 'logistic'" in p for p in found), found
    # the same exercise without the import is clean
    _notebook(src / "imported.ipynb", _SETUP, _LOGISTIC, 'nnkit.check(logistic, cases={"two": (2.0,)})',
              _LOGISTIC_TEST)
    release_dir(src, out)
    assert leaks.check(src, out)["imported"] == []


def test_leak_check_passes_on_every_released_exercise():
    names = [p.stem for p in SOLUTIONS]
    report = leaks.check(ROOT / "solutions", ROOT / "exercises", names)
    assert report == {n: [] for n in names}


_UNIT = '''
def unit(pattern):
    """(w, b) of a unit that fires only on the +-1 pattern, with z = 0.5 there."""
    pattern = np.asarray(pattern, dtype=float)
    ### BEGIN SOLUTION
    return pattern.copy(), 0.5 - len(pattern)
    ### END SOLUTION
'''
_UNIT_CHECK = '''
def _fires_only_on_pattern(actual, expected, args):
    import itertools
    import numpy as np
    w, b = actual
    {accept_expected}
    X = np.array(list(itertools.product([-1.0, 1.0], repeat=len(args[0]))))
    if not np.array_equal(X @ w + b > 0, np.all(X == args[0], axis=1)) or not np.isclose(w @ args[0] + b, 0.5):
        raise AssertionError("the unit must fire on the pattern only, with z = 0.5 there")
'''
_UNIT_EXPECTED = "if np.allclose(w, expected[0]) and np.isclose(b, expected[1]):\n        return"


@pytest.mark.parametrize("accepts_expected", [False, True])
def test_the_audit_names_a_misconception_exactly_when_the_grader_does(accepts_expected, tmp_path):
    """With a check= test, a misconception is named only if the check accepts a result equal to
    its ``expected`` argument (the misconception's result, when the grader matches): a check of
    properties alone never names one, in the audit as in the grader."""
    src = tmp_path / "sol"
    src.mkdir()
    check = _UNIT_CHECK.format(accept_expected=_UNIT_EXPECTED if accepts_expected else "pass")
    _notebook(src / "toy.ipynb", _SETUP, _UNIT,
              'nnkit.check(unit, cases={"three": (np.array([1.0, -1.0, 1.0]),)})',
              "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n" + check +
              "hidden_test('unit', call='unit', check=_fires_only_on_pattern, draws=2,\n"
              "            args=lambda rng: [rng.choice([-1.0, 1.0], int(rng.integers(2, 6)))])",
              "### MISCONCEPTION: b = -D gives z = 0 on the pattern, and the unit does not fire\n"
              "def unit(pattern):\n    pattern = np.asarray(pattern, dtype=float)\n    return pattern.copy(), -float(len(pattern))")
    release_dir(src, tmp_path / "ex")
    report = audit.audit(src, seeds=(0, 1), exercises_dir=tmp_path / "ex")
    misconception, = report.notebooks[0].misconceptions
    assert misconception["killed"] == [0, 1]
    assert bool(misconception["recognised"]) is accepts_expected, misconception

    learner = tmp_path / "learner.ipynb"
    _notebook(learner, _SETUP,
              "def unit(pattern):\n    pattern = np.asarray(pattern, dtype=float)\n    return pattern.copy(), -float(len(pattern))")
    row, = grade(src / "toy.ipynb", [learner], tmp_path / "out", jobs=1, progress=False, seed=0)
    assert row["tests"]["unit"] == 0
    assert ("this looks like" in row["lines"]["unit"]) is accepts_expected, row["lines"]
