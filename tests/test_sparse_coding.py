"""Sparse coding by ISTA (neural-nets notes, "Sparse Coding")."""
import numpy as np
import pytest

from nnkit.models.sparse_coding import ista, learn_dictionary, normalize_columns, objective, soft_threshold


def test_soft_threshold():
    assert np.allclose(soft_threshold([-3.0, -0.5, 0.0, 0.2, 2.0], 1.0), [-2, 0, 0, 0, 1])


def test_ista_solves_the_lasso_optimality_conditions():
    rng = np.random.default_rng(0)
    D = normalize_columns(rng.normal(size=(10, 15)))
    x = rng.normal(size=(1, 10))
    lam = 0.1
    h = ista(x, D, lam, steps=3000)[0]
    g = D.T @ (x[0] - D @ h)  # subgradient conditions of 1/2|x - Dh|^2 + lam |h|_1
    on = h != 0
    assert on.any() and (~on).any()
    assert np.allclose(g[on], lam * np.sign(h[on]), atol=1e-6)
    assert np.all(np.abs(g[~on]) <= lam + 1e-6)


def test_zero_code_exactly_when_lambda_exceeds_the_correlation():
    rng = np.random.default_rng(1)
    D = normalize_columns(rng.normal(size=(8, 12)))
    x = rng.normal(size=(1, 8))
    c = np.abs(D.T @ x[0]).max()
    assert np.all(ista(x, D, 1.01 * c, steps=200) == 0)
    assert np.any(ista(x, D, 0.99 * c, steps=200) != 0)


def test_larger_lambda_gives_sparser_codes():
    rng = np.random.default_rng(2)
    D = normalize_columns(rng.normal(size=(16, 32)))
    X = rng.normal(size=(20, 16))
    nnz = [np.count_nonzero(ista(X, D, lam, steps=300)) for lam in (0.05, 0.2, 0.8)]
    assert nnz[0] > nnz[1] > nnz[2]


def test_dictionary_learning_recovers_planted_atoms():
    rng = np.random.default_rng(3)
    D_true = normalize_columns(rng.normal(size=(12, 6)))
    H = np.zeros((400, 6))
    for row in H:
        row[rng.choice(6, 2, replace=False)] = rng.uniform(1, 2, 2) * rng.choice([-1, 1], 2)
    X = H @ D_true.T
    runs = [learn_dictionary(X, 6, lam=0.05, n_iter=200, seed=s) for s in range(3)]
    for D, _, hist in runs:
        assert np.allclose(np.linalg.norm(D, axis=0), 1, atol=1e-12)
        assert hist[-1] < hist[0]
    D = min(runs, key=lambda r: r[2][-1])[0]  # restarts guard against poor local minima
    match = np.abs(D_true.T @ D).max(axis=1)  # cosine of each true atom to its best learned atom
    assert match.min() > 0.95


def test_norm_constraint_reason():
    """Scaling D by s and h by 1/s keeps Dh but divides the L1 term by s."""
    rng = np.random.default_rng(4)
    D, H, X = rng.normal(size=(5, 7)), rng.normal(size=(3, 7)), rng.normal(size=(3, 5))
    l1 = lambda H_: np.abs(H_).sum(1).mean()
    assert np.isclose(objective(X, 10 * D, H / 10, 1.0) - objective(X, D, H, 1.0), l1(H) / 10 - l1(H))


def test_shape_error():
    with pytest.raises(ValueError, match="dictionary D"):
        ista(np.zeros((2, 5)), np.zeros((4, 3)), 0.1)
