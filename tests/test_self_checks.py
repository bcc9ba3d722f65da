"""Self-checks without answers: fingerprints, stored expected results, misconception hints."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnkit
from nnkit.grading import checkdata, fingerprint
from nnkit.grading.cases import evaluate

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "nnkit" / "grading"


# ------------------------------------------------------------------------------ fingerprints

@pytest.mark.parametrize("seed", range(20))
def test_fingerprint_accepts_noise_within_tolerance_and_rejects_errors(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=10.0 ** rng.integers(-3, 4), size=(4, 5))
    fp = fingerprint.make(x, rtol=1e-6, atol=1e-9, salt="s")
    scale = 2.0 ** fp["scale"]
    tol = 1e-9 + 1e-6 * scale
    assert fingerprint.matches(x, fp, salt="s")
    assert fingerprint.matches(x + rng.uniform(-0.99, 0.99, size=x.shape) * tol, fp, salt="s")
    wrong = x.copy()
    wrong[rng.integers(4), rng.integers(5)] += 3 * tol * rng.choice([-1, 1])
    assert not fingerprint.matches(wrong, fp, salt="s")
    assert not fingerprint.matches(x, fp, salt="another case")


def test_fingerprint_exact_structure_and_non_finite_values():
    fp = fingerprint.make((np.arange(3), 7), salt="k")
    assert fp["exact"] and fingerprint.matches((np.arange(3), 7), fp, salt="k")
    assert not fingerprint.matches((np.arange(3), 8), fp, salt="k")
    assert not fingerprint.matches([np.arange(3), 7], fp, salt="k")          # a list is not a tuple
    assert "tuple" in fingerprint.structure_message([np.arange(3), 7], fp)
    fp = fingerprint.make(np.ones((2, 3)), salt="k")
    assert "transposed" in fingerprint.structure_message(np.ones((3, 2)), fp)
    nan = fingerprint.make(np.array([1.0, np.nan, np.inf]), salt="k")
    assert fingerprint.matches(np.array([1.0, np.nan, np.inf]), nan, salt="k")
    assert not fingerprint.matches(np.array([1.0, 2.0, np.inf]), nan, salt="k")
    assert fingerprint.matches({"a": None, "b": "x"}, fingerprint.make({"b": "x", "a": None}))


def test_fingerprint_shows_no_value():
    value = np.array([0.123456789, 42.4242])
    text = json.dumps(fingerprint.make(value, salt="k"))
    assert "0.1234" not in text and "42.42" not in text


# ------------------------------------------------------------------- stored expected results

def _recorded(tmp_path, monkeypatch, wrong=None, **options):
    """Record one check of a solution (and a misconception), write its data file, look it up."""
    def solution(x):
        return 2.0 * x

    cases = {"vector": [np.array([1.0, -2.0, 3.0, 0.5])], "number": [np.array(4.0)]}
    item = checkdata.Recorded("double", solution, cases, dict(options))
    item.run(item.results)
    if wrong is not None:
        item.wrong["adds instead of multiplying"] = {}
        item.bound = False
        item.fn = wrong
        item.run(item.wrong["adds instead of multiplying"])
        item.fn = solution
    data = checkdata.build("demo", [item])
    (tmp_path / ("demo" + checkdata.SUFFIX)).write_text(checkdata.dumps(data))
    monkeypatch.chdir(tmp_path)
    return cases, data


def test_stored_values_and_fingerprints_explain_failures(tmp_path, monkeypatch):
    cases, data = _recorded(tmp_path, monkeypatch, wrong=lambda x: x + 2.0)
    stored = data["checks"]["double"]["cases"]
    assert "value" in stored["vector"] and "fingerprint" in stored["number"]      # one number: a fingerprint
    good = nnkit.check.report(lambda x: x * 2.0, cases=cases, name="double")
    assert good.passed, good.text()
    half = nnkit.check.report(lambda x: x * 1.0, cases=cases, name="double")
    assert not half.passed and "1/2" in half.text()
    wrong = nnkit.check.report(lambda x: x + 2.0, cases=cases, name="double")
    assert not wrong.passed and wrong.misconception == "adds instead of multiplying"
    assert "this looks like: adds instead of multiplying" in wrong.text()
    number_only = nnkit.check.report(lambda x: x * 2.0 + 1e-3, cases={"number": cases["number"]}, name="double")
    assert "fingerprint" in number_only.text() and "8" not in number_only.text()


def test_edited_inputs_and_missing_data_are_reported_not_passed(tmp_path, monkeypatch):
    cases, _ = _recorded(tmp_path, monkeypatch)
    other = {"vector": [np.array([1.0, -2.0, 3.0, 0.6])]}          # an edited case: no entry matches
    report = nnkit.check.report(lambda x: 2.0 * x, cases=other, name="double")
    assert not report.passed and "nothing to compare" in report.text()
    report = nnkit.check.report(lambda x: 2.0 * x, cases=other, name="double",
                                props=[("finite", lambda y, x: np.all(np.isfinite(y)))])
    assert report.passed


def test_stub_says_not_implemented(tmp_path, monkeypatch):
    cases, _ = _recorded(tmp_path, monkeypatch)

    def stub(x):
        raise NotImplementedError("replace this line with your code")

    report = nnkit.check.report(stub, cases=cases, name="double")
    assert not report.implemented and "not implemented yet" in report.text()


def test_generator_results_are_read_once_and_compared():
    def batches(n):
        yield from (np.arange(i, i + 2) for i in range(0, n, 2))

    report = evaluate(batches, {"four": (4,)}, props=[("two batches", lambda out, n: len(out) == 2)])
    assert report.passed, report.text()


def test_cases_as_a_function_are_the_same_on_every_run():
    seen = []
    for _ in range(2):
        evaluate(lambda x: x, lambda rng: {"draw": (rng.normal(size=3),)},
                 props=[("record", lambda out, x: seen.append(x.copy()) or True)])
    assert np.array_equal(seen[0], seen[1])


# ------------------------------------------------------------------- module structure

def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("nnkit.grading.")}


def test_no_two_grading_modules_import_each_other():
    modules = {f"nnkit.grading.{p.stem}": _imports(p) for p in GRADING.glob("*.py") if p.stem != "__init__"}
    graph = {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph[start])

    cycles = [m for m in graph if reaches(m, m)]
    assert not cycles, f"import cycles through {cycles}"
    assert "nnkit.grading.selfcheck" not in graph["nnkit.grading.checks"]


def test_import_nnkit_loads_no_grading_and_check_still_works():
    code = ("import sys, nnkit; assert not any(m.startswith('nnkit.grading') for m in sys.modules); "
            "import numpy as np; r = nnkit.check.report('softmax', lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)); "
            "print(r.passed)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"        # the plain exponential overflows on the large scores


def test_named_checks_hold_no_reference_implementation():
    text = (GRADING / "checks.py").read_text()
    assert "_ref" not in text and "reference=" not in text
    good = nnkit.check.report("softmax", lambda z: np.exp(z - z.max(-1, keepdims=True))
                              / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))
    assert good.passed, good.text()
    sig = nnkit.check.report("sigmoid", lambda z: 0.5 * (1 + np.tanh(np.asarray(z) / 2)))
    assert sig.passed, sig.text()
    shifted = nnkit.check.report("sigmoid", lambda z: 0.5 * (1 + np.tanh(np.asarray(z))))
    assert not shifted.passed
