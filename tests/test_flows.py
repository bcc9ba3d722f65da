"""NICE and additive coupling blocks (Lecture 15, §1)."""
import numpy as np
import pytest

import nnkit
from nnkit.data import moons
from nnkit.models.flows import AdditiveCoupling, NICE, gaussian_log_likelihood, numerical_jacobian, train_flow


pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


def test_each_coupling_block_has_unit_jacobian_determinant():
    rng = np.random.default_rng(0)
    for parity in (0, 1):
        block = AdditiveCoupling(4, hidden=16, parity=parity)
        for p in block.parameters():  # make F far from zero so the test means something
            p.data[...] = rng.normal(scale=0.8, size=p.shape)
        x = rng.normal(size=4)
        J = numerical_jacobian(lambda v: block(v[None]).data[0], x)
        assert abs(np.linalg.det(J) - 1.0) < 1e-8
        changed = slice(0, 2) if parity == 0 else slice(2, 4)
        kept = slice(2, 4) if parity == 0 else slice(0, 2)
        assert np.allclose(J[changed, changed], np.eye(2), atol=1e-8)
        assert np.allclose(J[kept, kept], np.eye(2), atol=1e-8)
        assert np.allclose(J[kept, changed], 0, atol=1e-8)
        assert np.abs(J[changed, kept]).max() > 0.1  # F really depends on the kept half


def test_inverse_reconstructs_inputs_in_float64():
    rng = np.random.default_rng(1)
    model = NICE(6, n_blocks=5, hidden=32)
    for p in model.parameters():
        p.data[...] = rng.normal(scale=0.5, size=p.shape)
    x = rng.normal(size=(50, 6))
    z = model(x).data
    assert np.abs(z - x).max() > 0.1
    assert np.abs(model.inverse(z).data - x).max() < 1e-10
    for block in model.blocks:
        assert np.abs(block.inverse(block(x)).data - x).max() < 1e-10


def test_log_prob_matches_change_of_variables():
    rng = np.random.default_rng(2)
    model = NICE(2, n_blocks=3, hidden=8)
    model.log_scale.data[...] = [0.3, -0.7]
    x = rng.normal(size=(5, 2))
    z = model(x).data
    J = np.array([numerical_jacobian(lambda v: model(v[None]).data[0], xi) for xi in x])
    expected = -0.5 * (z ** 2).sum(1) - np.log(2 * np.pi) + np.log(np.abs(np.linalg.det(J)))
    assert np.allclose(model.log_prob(x).data, expected, atol=1e-7)


def test_nice_beats_a_gaussian_on_two_moons():
    X, _ = moons(1500, noise=0.05, seed=0)
    X_test, _ = moons(500, noise=0.05, seed=1)
    model = NICE(2, n_blocks=4, hidden=32)
    train_flow(model, X, steps=600, batch_size=128, lr=3e-3, seed=0)
    ll = model.log_prob(X_test).data.mean()
    assert ll > gaussian_log_likelihood(X, X_test) + 0.3
    assert model.sample(10).shape == (10, 2)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="even"):
        AdditiveCoupling(3)
    with pytest.raises(nnkit.nn.ShapeError, match="AdditiveCoupling"):
        AdditiveCoupling(4)(np.zeros((2, 6)))
