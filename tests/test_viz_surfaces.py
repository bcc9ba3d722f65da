"""Tests for nnkit.viz.surfaces: grids, descent paths (against closed forms) and the plots."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nnkit.optim  # noqa: E402
from nnkit.autodiff import Tensor  # noqa: E402
from nnkit.viz.surfaces import (  # noqa: E402
    descent_path,
    grid_values,
    log_levels,
    optimizer_path,
    plot_cost_contours,
    plot_path,
)

# An elongated bowl J(u, v) = (a u^2 + c v^2) / 2 with gradient (a u, c v).
A, C = 4.0, 0.5


def bowl(u, v):
    return 0.5 * (A * u**2 + C * v**2)


def bowl_grad(w):
    return np.array([A * w[0], C * w[1]])


def test_grid_values_shapes_and_values():
    U, V, J = grid_values(bowl, (-1, 2), (-3, 3), n=31)
    assert U.shape == V.shape == J.shape == (31, 31)
    assert U[0, 0] == -1 and U[0, -1] == 2 and V[0, 0] == -3 and V[-1, 0] == 3
    i, j = 7, 20
    assert J[i, j] == pytest.approx(0.5 * (A * U[i, j] ** 2 + C * V[i, j] ** 2))


def test_grid_values_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        grid_values(lambda u, v: np.sum(u + v), (0, 1), (0, 1), n=5)
    with pytest.raises(ValueError, match="u_range"):
        grid_values(bowl, (0, 1, 2), (0, 1))


def test_descent_path_matches_closed_form():
    # On the bowl each coordinate shrinks by (1 - lr * curvature) per step.
    lr, k = 0.1, 25
    path = descent_path(bowl_grad, (1.0, -2.0), lr=lr, steps=k)
    assert path.shape == (k + 1, 2)
    steps = np.arange(k + 1)
    assert np.allclose(path[:, 0], 1.0 * (1 - lr * A) ** steps)
    assert np.allclose(path[:, 1], -2.0 * (1 - lr * C) ** steps)


def test_descent_path_stops_when_diverging():
    # lr > 2 / A makes the u-coordinate grow by |1 - lr*A| = 1.4 per step.
    path = descent_path(bowl_grad, (1.0, 1.0), lr=0.6, steps=10_000, stop_above=1e3)
    assert len(path) < 10_001
    assert np.abs(path[-1]).max() > 1e3
    assert np.abs(path[-2]).max() <= 1e3


def test_optimizer_path_with_sgd_equals_descent_path():
    def loss(w):
        return (w * w * Tensor(np.array([A, C])) * 0.5).sum()

    ours = optimizer_path(loss, (1.0, -2.0), lambda ps: nnkit.optim.SGD(ps, lr=0.1), steps=30)
    plain = descent_path(bowl_grad, (1.0, -2.0), lr=0.1, steps=30)
    assert np.allclose(ours, plain)


def test_optimizer_path_with_momentum_reaches_minimum_faster():
    def loss(w):
        return (w * w * Tensor(np.array([A, C])) * 0.5).sum()

    sgd = optimizer_path(loss, (1.0, -2.0), lambda ps: nnkit.optim.SGD(ps, lr=0.1), steps=40)
    mom = optimizer_path(loss, (1.0, -2.0), lambda ps: nnkit.optim.Momentum(ps, lr=0.1), steps=40)
    assert bowl(*mom[-1]) < bowl(*sgd[-1])


def test_log_levels():
    levels = log_levels(np.array([[0.01, 1.0], [10.0, 100.0]]), count=5)
    assert np.allclose(levels, [0.01, 0.1, 1.0, 10.0, 100.0])
    with pytest.raises(ValueError, match="> 0"):
        log_levels(np.array([-1.0, 0.0]))


def test_plots_draw():
    U, V, J = grid_values(bowl, (-1, 1), (-1, 1), n=20)
    fig, ax = plt.subplots()
    cs = plot_cost_contours(ax, U, V, J + 1e-3, levels=8)
    assert len(cs.levels) >= 8
    line = plot_path(ax, [[0.5, 0.5], [0.2, 0.4], [0.0, 0.0]], label="gd")
    assert np.allclose(line.get_xdata(), [0.5, 0.2, 0.0])
    with pytest.raises(ValueError, match=r"\(k, 2\)"):
        plot_path(ax, [1.0, 2.0, 3.0])
    plt.close(fig)
