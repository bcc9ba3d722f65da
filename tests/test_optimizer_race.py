"""nnkit.viz.optimizer_race: the surfaces, the race runner and its figures."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnkit.nn import Parameter  # noqa: E402
from nnkit.viz import optimizer_race as orace  # noqa: E402


@pytest.mark.parametrize("name", list(orace.SURFACES))
def test_surfaces_have_zero_gradient_at_their_minima(name):
    s = orace.SURFACES[name]
    for m in s.minima:
        w = Parameter(np.array(m, dtype=np.float64), dtype="float64")
        s.loss(w).backward()
        assert np.allclose(w.grad, 0.0, atol=1e-12)
        # and the minimum is lower than every point of a small ring around it
        ring = np.array(m) + 1e-2 * np.stack([np.cos(np.linspace(0, 6.28, 50)), np.sin(np.linspace(0, 6.28, 50))], 1)
        assert np.all(s(ring[:, 0], ring[:, 1]) > s(*m))


def test_surface_values_and_gradient_by_hand():
    # Rosenbrock at (0.5, 0.2): (0.5)^2 + 100 (0.2 - 0.25)^2 = 0.25 + 0.25
    assert orace.rosenbrock(0.5, 0.2) == pytest.approx(0.5)
    w = Parameter(np.array([0.5, 0.2]), dtype="float64")
    orace.rosenbrock(w[0], w[1]).backward()
    # d/du = -2 (1 - u) - 400 u (v - u^2) = -1 + 10 = 9;  d/dv = 200 (v - u^2) = -10
    assert np.allclose(w.grad, [9.0, -10.0])
    # the saddle's Hessian at 0 is diag(2, -2): a minimum along u, a maximum along v
    h = 1e-4
    assert orace.saddle(h, 0) > 0 > orace.saddle(0, h)
    assert orace.ill_conditioned_bowl(1.0, 1.0) == pytest.approx(50.5)


def test_sgd_path_on_the_bowl_matches_the_closed_form():
    # on (u^2 + 100 v^2)/2, SGD multiplies u by (1 - lr) and v by (1 - 100 lr) each step
    lr, k = 0.01, 40
    paths = orace.race("bowl", racers=("SGD",), steps=k, lr={"SGD": lr})
    u0, v0 = orace.SURFACES["bowl"].start
    assert np.allclose(paths["SGD"][-1], [u0 * (1 - lr) ** k, v0 * (1 - 100 * lr) ** k])


def test_momentum_beats_sgd_on_the_ill_conditioned_bowl():
    paths = orace.race("bowl", racers=("SGD", "Momentum"), steps=300)
    res = orace.summary("bowl", paths)
    assert res["Momentum"][1] < 1e-3 < res["SGD"][1]
    assert orace.steps_to_reach("bowl", paths["SGD"]) is None
    assert orace.steps_to_reach("bowl", paths["Momentum"]) < 300


def test_every_racer_gets_closer_on_the_saddle():
    paths = orace.race("saddle", steps=500)
    start = orace.SURFACES["saddle"].distance_to_minimum(orace.SURFACES["saddle"].start)
    for name, (cost, dist, steps) in orace.summary("saddle", paths).items():
        assert steps == 500, name
        assert dist < 0.01 < start, name
        assert cost == pytest.approx(-0.5, abs=1e-4), name


def test_default_table_is_what_the_grid_search_picks():
    # the bowl part of the table, re-derived (the full search takes ~20 s)
    racers = ("SGD", "Nesterov", "Adam", "Rprop")
    best = orace.best_learning_rates("bowl", racers=racers)
    assert best == {n: orace.SURFACES["bowl"].lr[n] for n in racers}


def test_diverging_racer_stops_early():
    paths = orace.race("bowl", racers=("SGD",), steps=100, lr={"SGD": 0.1})  # 1 - 100 lr = -9
    assert len(paths["SGD"]) < 101


def test_bad_names_are_reported():
    with pytest.raises(ValueError, match="unknown surface"):
        orace.race("himmelblau")
    with pytest.raises(ValueError, match="unknown racer"):
        orace.make_optimizer("LBFGS", 0.1)
    with pytest.raises(ValueError, match="no learning rate"):
        orace.race("bowl", racers=("SGD",), lr={})


def test_plot_and_widget():
    fig, ax = plt.subplots()
    paths = orace.race("rosenbrock", racers=("Adam", "Momentum"), steps=50)
    orace.plot_race(ax, "rosenbrock", paths)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Adam", "Momentum"]
    plt.close(fig)
    w = orace.race_widget(steps=20)
    assert {c.description for c in w.children if hasattr(c, "description")} >= {"surface", "steps", "Adam"}
    plt.close("all")
