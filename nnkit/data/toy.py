"""Small synthetic data sets for two-dimensional classification and 1-D regression.

Every generator returns ``(X, y)`` as float arrays: ``X`` of shape ``(n, 2)``
(``(n, 1)`` for regression) and ``y`` of shape ``(n,)`` holding class labels
``0, 1, ...`` (``(n, 1)`` targets for regression).  Randomness comes from
``seed=`` when given, otherwise from the generator that ``nnkit.seed`` resets.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend


def _rng(seed):
    return backend.rng() if seed is None else np.random.default_rng(seed)


def _shuffled(X, y, rng, dtype):
    order = rng.permutation(len(X))
    return X[order].astype(dtype), y[order].astype(dtype)


def _check_n(name, n, minimum=1):
    if int(n) != n or n < minimum:
        raise ValueError(f"{name}: n must be an integer >= {minimum}, got {n}")


def xor(signed: bool = False, dtype=np.float64):
    """The four XOR points: ``X = [[0,0],[0,1],[1,0],[1,1]]``, ``y = [0,1,1,0]``.

    No line separates the classes (Lecture 2.2, §5).  ``signed=True`` gives
    labels -1/+1 instead of 0/1.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    y = np.array([0, 1, 1, 0], dtype=dtype)
    return X, (2 * y - 1 if signed else y)


# The hacker's guide prints two different six-point sets: a table in the
# binary-classification section and another one inside its SVM training code.
_GUIDE_POINTS = {
    "table": ([[1.2, 0.7], [-0.3, 0.5], [-3.0, -1.0], [0.1, 1.0], [3.0, 1.1], [2.1, -3.0]],
              [1, -1, 1, -1, -1, 1]),
    "code": ([[1.2, 0.7], [-0.3, -0.5], [3.0, 0.1], [-0.1, -1.0], [-1.0, 1.1], [2.1, -3.0]],
             [1, -1, 1, -1, -1, 1]),
}


def hackers_guide_points(version: str = "code", dtype=np.float64):
    """The six labelled 2-D points of the hacker's guide, chapter 2 ("Binary classification").

    Labels are -1/+1 as in the guide.  ``version="code"`` (default) is the set
    its SVM training code pushes; ``version="table"`` is the differing set in
    the table that introduces the problem (four of the six points differ).
    Returns ``X`` of shape (6, 2) and ``y`` of shape (6,).
    """
    if version not in _GUIDE_POINTS:
        raise ValueError(f"hackers_guide_points: version must be 'code' or 'table', got {version!r}")
    X, y = _GUIDE_POINTS[version]
    return np.array(X, dtype=dtype), np.array(y, dtype=dtype)


def _split(n, k):
    """Sizes of ``k`` groups that add up to ``n`` and differ by at most one."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed=None, dtype=np.float64):
    """Interleaved spiral arms, one per class, ``n`` points in all.

    Point ``j`` of arm ``k`` sits at radius ``r_j`` in [0, 1] and angle
    ``theta = 4 (k + r_j) + noise * N(0, 1)``, i.e. ``x = r (sin theta, cos theta)``.
    Not linearly separable for ``classes >= 2``; a small MLP separates it.
    """
    _check_n("spirals", n, classes)
    if classes < 2:
        raise ValueError(f"spirals: classes must be >= 2, got {classes}")
    rng = _rng(seed)
    Xs, ys = [], []
    for k, m in enumerate(_split(n, classes)):
        r = np.linspace(0.0, 1.0, m)
        theta = 4.0 * (k + r) + noise * rng.standard_normal(m)
        Xs.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        ys.append(np.full(m, k))
    return _shuffled(np.concatenate(Xs), np.concatenate(ys), rng, dtype)


def moons(n: int = 200, noise: float = 0.1, seed=None, dtype=np.float64):
    """Two interleaving half circles.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 0.5 - sin t)``, with ``t``
    evenly spaced in [0, pi], plus Gaussian noise of standard deviation ``noise``.
    """
    _check_n("moons", n, 2)
    rng = _rng(seed)
    n0, n1 = _split(n, 2)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([np.column_stack([np.cos(t0), np.sin(t0)]),
                        np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)])])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _shuffled(X, y, rng, dtype)


def circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed=None, dtype=np.float64):
    """A circle of radius ``factor`` (class 1) inside a circle of radius 1 (class 0), plus noise."""
    _check_n("circles", n, 2)
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must lie in (0, 1), got {factor}")
    rng = _rng(seed)
    n0, n1 = _split(n, 2)
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([np.column_stack([np.cos(t0), np.sin(t0)]),
                        factor * np.column_stack([np.cos(t1), np.sin(t1)])])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _shuffled(X, y, rng, dtype)


_FUNCTIONS = {
    "sin": lambda x: np.sin(2 * np.pi * x),
    "cubic": lambda x: x ** 3 - x,
    "linear": lambda x: 2 * x + 0.5,
    "abs": np.abs,
    "step": lambda x: (x > 0).astype(float),
}


def regression_1d(n: int = 50, noise: float = 0.1, fn="sin", x_range=(-1.0, 1.0), seed=None,
                  dtype=np.float64):
    """Noisy samples of a function of one variable: ``t = fn(x) + noise * N(0, 1)``.

    ``x`` is drawn uniformly from ``x_range`` and sorted.  ``fn`` is a callable
    or one of ``"sin"`` (``sin(2 pi x)``), ``"cubic"`` (``x^3 - x``), ``"linear"``,
    ``"abs"``, ``"step"``.  Returns ``X`` of shape (n, 1) and ``t`` of shape (n, 1).
    Lecture 2.1 (linear regression, basis functions).
    """
    _check_n("regression_1d", n)
    if isinstance(fn, str):
        if fn not in _FUNCTIONS:
            raise ValueError(f"regression_1d: unknown fn {fn!r}; choose one of {sorted(_FUNCTIONS)} "
                             "or pass a callable")
        fn = _FUNCTIONS[fn]
    rng = _rng(seed)
    x = np.sort(rng.uniform(x_range[0], x_range[1], n))
    t = fn(x) + noise * rng.standard_normal(n)
    return x[:, None].astype(dtype), np.asarray(t)[:, None].astype(dtype)
