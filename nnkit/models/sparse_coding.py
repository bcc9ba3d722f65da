"""Sparse coding (dictionary learning) solved by ISTA.

Neural-nets notes, "Sparse Coding": for inputs x_t find codes h_t and a dictionary D
with unit-norm columns that minimise

    (1/T) sum_t  1/2 |x_t - D h_t|^2 + lambda |h_t|_1

The notes give no algorithm; here the inner problem (the codes) is solved by ISTA,
iterative soft-thresholding (Daubechies, Defrise & De Mol, 2004), and the outer one
(the dictionary) by projected gradient steps that renormalise each column.

Shapes: X (T, n) holds one input per row, D (n, K) one atom per column, H (T, K).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend


def soft_threshold(z, t):
    """The proximal map of t|.|_1: sign(z) max(|z| - t, 0), elementwise."""
    z = np.asarray(z, dtype=float)
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


def normalize_columns(D, eps=1e-12):
    """D with every column scaled to Euclidean norm 1 (columns of norm 0 stay 0)."""
    D = np.asarray(D, dtype=float)
    return D / np.maximum(np.linalg.norm(D, axis=0, keepdims=True), eps)


def objective(X, D, H, lam):
    """(1/T) sum_t 1/2 |x_t - D h_t|^2 + lambda |h_t|_1."""
    R = X - H @ D.T
    return float(0.5 * (R * R).sum(axis=1).mean() + lam * np.abs(H).sum(axis=1).mean())


def _check(X, D):
    X = np.atleast_2d(np.asarray(X, dtype=float))
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or X.shape[1] != D.shape[0]:
        raise ValueError(f"sparse coding: inputs X (T, n) need a dictionary D (n, K); got X {X.shape}, D {D.shape}")
    return X, D


def ista(X, D, lam, steps=200, H0=None):
    """Codes H minimising 1/2 |x - D h|^2 + lambda |h|_1 for each row x of X.

    One step: h <- soft_threshold(h + D^T (x - D h) / L, lambda / L), with L = |D|_2^2
    the Lipschitz constant of the smooth part's gradient.  X (T, n), D (n, K) -> H (T, K).
    """
    X, D = _check(X, D)
    L = np.linalg.norm(D, 2) ** 2
    H = np.zeros((X.shape[0], D.shape[1])) if H0 is None else np.array(H0, dtype=float)
    for _ in range(steps):
        H = soft_threshold(H + (X - H @ D.T) @ D / L, lam / L)
    return H


def learn_dictionary(X, n_atoms, lam, n_iter=50, lr=None, code_steps=50, D0=None, seed=None):
    """Alternate ISTA for the codes and a projected gradient step for D.

    D <- normalize_columns(D - lr * dJ/dD), dJ/dD = -(1/T) (X - H D^T)^T H.
    Returns (D, H, history of the objective).
    """
    X = np.asarray(X, dtype=float)
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    if D0 is None:
        D = normalize_columns(X[rng.choice(len(X), n_atoms, replace=len(X) < n_atoms)].T
                              + 0.01 * rng.standard_normal((X.shape[1], n_atoms)))
    else:
        D = normalize_columns(D0)
    H, history = None, []
    from nnkit.kernels import few_blas_threads  # noqa: PLC0415 - small matrices: one BLAS thread is faster

    with few_blas_threads():
        for _ in range(n_iter):
            H = ista(X, D, lam, code_steps, H)
            grad = -(X - H @ D.T).T @ H / len(X)
            step = lr if lr is not None else 1.0 / max(np.linalg.norm(H.T @ H / len(X), 2), 1e-8)
            D = normalize_columns(D - step * grad)
            history.append(objective(X, D, H, lam))
    return D, H, history
