"""Named self-checks used by ``nnkit.check("name", fn)`` in the exercise notebooks.

References here are written differently from the natural solution (sigmoid through tanh,
softmax through log-sum-exp), so a learner reading this file learns a second way, not the
answer key; the graded answers are the hidden tests, which never run in a learner's kernel.
"""
from __future__ import annotations

import numpy as np

from nnkit.grading.selfcheck import evaluate


def _sigmoid_ref(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def _softmax_ref(z):
    z = np.asarray(z, dtype=float)
    return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))


def _cases(rng):
    return {
        "zero": (np.zeros(3),),
        "vector": (rng.normal(size=5),),
        "matrix": (rng.normal(scale=3, size=(4, 3)),),
    }


def check_sigmoid(fn):
    rng = np.random.default_rng(7)
    cases = _cases(rng)
    cases["large |z|"] = (np.array([-800.0, -50.0, 50.0, 800.0]),)
    return evaluate(fn, cases, name="sigmoid", reference=_sigmoid_ref,
                    props=[("values lie in [0, 1]", lambda s, z: np.all((s >= 0) & (s <= 1)))],
                    hints=["sigmoid(0) is 0.5; sigmoid(-z) = 1 - sigmoid(z)"])


def check_sigmoid_grad(fn):
    return evaluate(fn, _cases(np.random.default_rng(8)), name="sigmoid_grad",
                    grad_of=_sigmoid_ref, rtol=1e-5, atol=1e-8,
                    hints=["the derivative peaks at z = 0 with value 1/4"])


def check_softmax(fn):
    rng = np.random.default_rng(9)
    cases = {
        "one row": (rng.normal(size=4),),
        "batch of rows": (rng.normal(size=(5, 3)),),
        "large scores": (rng.normal(scale=1000.0, size=(3, 4)),),
    }
    return evaluate(fn, cases, name="softmax", reference=_softmax_ref,
                    props=[("each row sums to 1", lambda p, z: np.allclose(np.sum(p, -1), 1.0))],
                    hints=["normalise along the last axis (axis=-1, keepdims=True)"])


CHECKS = {
    "sigmoid": check_sigmoid,
    "sigmoid_grad": check_sigmoid_grad,
    "softmax": check_softmax,
}
