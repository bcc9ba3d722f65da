"""Named self-checks, ``nnkit.check("softmax", fn)``, built from properties only.

None of them holds a reference implementation: each property is something the right answer
satisfies and that a learner could verify by hand (the sigmoid is the inverse of the log-odds,
the derivative integrates back to the function, softmax turns score differences into log-ratios
of probabilities).  Exercise notebooks check against the expected results that ``nnkit release``
stores beside them instead (see ``nnkit.grading.checkdata``).
"""
from __future__ import annotations

import numpy as np

from nnkit.grading.cases import evaluate


def _cases(rng):
    return {
        "zero": (np.zeros(3),),
        "vector": (rng.normal(size=5),),
        "matrix": (rng.normal(scale=3, size=(4, 3)),),
    }


def _sigmoid_cases(rng):
    cases = _cases(rng)
    cases["large |z|"] = (np.array([-800.0, -50.0, 50.0, 800.0]),)
    return cases


def check_sigmoid(fn):
    def log_odds(s, z):
        s, z = np.asarray(s, dtype=float), np.asarray(z, dtype=float)
        inside = (s > 1e-12) & (s < 1 - 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.allclose(np.log(s[inside] / (1 - s[inside])), z[inside], rtol=1e-6, atol=1e-8)

    return evaluate(fn, _sigmoid_cases, name="sigmoid", props=[
        ("values lie in [0, 1], without nan", lambda s, z: np.all((np.asarray(s) >= 0) & (np.asarray(s) <= 1))),
        ("sigmoid(-z) = 1 - sigmoid(z)", lambda s, z: np.allclose(fn(-np.asarray(z)), 1 - np.asarray(s), atol=1e-12)),
        ("log(s / (1 - s)) gives z back (the log-odds undo the sigmoid)", log_odds),
    ], hints=["sigmoid(0) is 0.5; sigmoid(-z) = 1 - sigmoid(z)"])


def check_sigmoid_grad(fn):
    grid = np.linspace(-40.0, 40.0, 16001)

    def integrates_to_one(g, z):
        values = np.asarray(fn(grid), dtype=float)
        area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(grid)))
        if not np.isclose(area, 1.0, rtol=1e-4):
            factor = " (a missing or extra 1/2?)" if np.isclose(area, 0.5, rtol=1e-3) or np.isclose(area, 2, rtol=1e-3) else ""
            raise AssertionError(f"it integrates to {area:.4g}: every value is off by the same "
                                 f"factor {area:.3g}{factor}")
        return True

    def matches_its_integral(g, z):
        values = np.asarray(fn(grid), dtype=float)
        s = np.concatenate([[0.0], np.cumsum((values[1:] + values[:-1]) / 2 * np.diff(grid))])
        return np.allclose(values, s * (1 - s), atol=1e-6)

    return evaluate(fn, _cases, name="sigmoid_grad", props=[
        ("the derivative integrates to 1 over the real line (the sigmoid climbs from 0 to 1)", integrates_to_one),
        ("it is even: sigmoid'(-z) = sigmoid'(z)", lambda g, z: np.allclose(fn(-np.asarray(z)), g)),
        ("sigmoid' = s (1 - s), where s is its own integral from -infinity", matches_its_integral),
    ], hints=["the derivative peaks at z = 0 with value 1/4"])


def check_softmax(fn):
    def cases(rng):
        return {"one row": (rng.normal(size=4),), "batch of rows": (rng.normal(size=(5, 3)),),
                "large scores": (rng.normal(scale=1000.0, size=(3, 4)),)}

    def log_ratios(p, z):
        p, z = np.asarray(p, dtype=float), np.asarray(z, dtype=float)
        z = z - z.max(axis=-1, keepdims=True)
        keep = z > -30                     # probabilities too small to take a log of are skipped
        with np.errstate(divide="ignore"):
            logs = np.log(p) - np.log(np.max(p, axis=-1, keepdims=True))
        return np.allclose(logs[keep], z[keep], atol=1e-7)

    return evaluate(fn, cases, name="softmax", props=[
        ("each row sums to 1, without nan", lambda p, z: np.allclose(np.sum(p, -1), 1.0)),
        ("log(p_i / p_j) = z_i - z_j along each row", log_ratios),
    ], hints=["normalise along the last axis (axis=-1, keepdims=True)"])


CHECKS = {
    "sigmoid": check_sigmoid,
    "sigmoid_grad": check_sigmoid_grad,
    "softmax": check_softmax,
}
