"""Cutting a data set into minibatches, splits and cross-validation folds.

Lecture 7, §3 (minibatches); neural-nets notes, "Shuffling" and
"Choosing hyperparameters" (validation sets, k-fold cross-validation).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend


def _rng(seed):
    return backend.rng() if seed is None else np.random.default_rng(seed)


def _check_pair(name, X, y):
    if y is not None and len(X) != len(y):
        raise ValueError(f"{name}: X has {len(X)} examples but y has {len(y)}")


def minibatches(X, y=None, batch_size: int = 32, shuffle: bool = True, seed=None,
                drop_last: bool = False):
    """Yield ``(X_batch, y_batch)`` pairs that together cover every example once (one epoch).

    ``X`` has shape ``(N, ...)`` and ``y`` shape ``(N, ...)`` (or ``None``).  With
    ``shuffle`` the order is a fresh random permutation each call; the last
    batch holds the ``N mod batch_size`` leftovers unless ``drop_last``.
    ``batch_size = 1`` is pure SGD and ``batch_size = N`` full-batch descent.
    """
    _check_pair("minibatches", X, y)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be a positive integer, got {batch_size}")
    n = len(X)
    order = _rng(seed).permutation(n) if shuffle else None
    if order is not None and not isinstance(X, np.ndarray):
        order = backend.to_device(order)  # index GPU arrays with a GPU index
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            idx = slice(start, min(start + batch_size, n))
        else:
            idx = order[start:start + batch_size]
        yield X[idx], (None if y is None else y[idx])


def train_val_test_split(X, y, val: float = 0.15, test: float = 0.15, shuffle: bool = True,
                         seed=None):
    """Split into training, validation and test parts: ``((X_tr, y_tr), (X_val, y_val), (X_te, y_te))``.

    ``val`` and ``test`` are fractions of ``N`` (rounded to whole examples);
    the training part gets the rest.  Every example lands in exactly one part.
    """
    _check_pair("train_val_test_split", X, y)
    if val < 0 or test < 0 or val + test >= 1:
        raise ValueError(f"train_val_test_split: need val, test >= 0 and val + test < 1, "
                         f"got val={val}, test={test}")
    n = len(X)
    order = _rng(seed).permutation(n) if shuffle else np.arange(n)
    n_test, n_val = int(round(test * n)), int(round(val * n))
    te, va, tr = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te])


def kfold(n: int, k: int = 5, shuffle: bool = True, seed=None):
    """Yield ``k`` pairs ``(train_idx, val_idx)`` of index arrays for k-fold cross-validation.

    The ``n`` indices are cut into ``k`` folds whose sizes differ by at most
    one; fold ``i`` is the validation part of round ``i`` and the rest is for
    training.  Each index is validated on exactly once.
    """
    if not 2 <= k <= n:
        raise ValueError(f"kfold: need 2 <= k <= n, got k={k}, n={n}")
    order = _rng(seed).permutation(n) if shuffle else np.arange(n)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    start = 0
    for size in sizes:
        val_idx = order[start:start + size]
        train_idx = np.concatenate([order[:start], order[start + size:]])
        yield train_idx, val_idx
        start += size
