"""Simulated annealing, Cauchy training and gradient noise (nnkit.optim.annealing).

Expected numbers are recomputed here from the formulas with ``math``; the
statistical checks use many draws and tolerances several standard errors wide.
"""
import math

import numpy as np
import pytest

import nnkit
import nnkit.losses
import nnkit.nn
from nnkit.optim import annealing as an
from nnkit.optim import CauchyTraining, SimulatedAnnealing, add_gradient_noise


class P:
    def __init__(self, value):
        self.data = np.array(value, dtype=np.float64)
        self.grad = None


def test_schedules_match_their_formulas():
    assert an.boltzmann_temperature(1, 2.0) == pytest.approx(2.0 / math.log(2.0))
    assert an.boltzmann_temperature(math.e - 1, 3.0) == pytest.approx(3.0)
    assert an.cauchy_temperature(1, 2.0) == pytest.approx(1.0)
    t = np.arange(1, 200)
    # the Cauchy schedule cools faster at every step t >= 1
    assert np.all(an.cauchy_temperature(t) < an.boltzmann_temperature(t))
    with pytest.raises(ValueError, match="undefined at 0"):
        an.boltzmann_temperature(0)


def test_acceptance_probability():
    assert an.acceptance_probability(-1.0, T=0.5) == 1.0
    assert an.acceptance_probability(2.0, T=2.0, k=1.0) == pytest.approx(math.exp(-1))
    assert an.acceptance_probability(1.0, T=1e6) == pytest.approx(1.0, abs=1e-5)
    assert an.acceptance_probability(1.0, T=1e-3) < 1e-300
    with pytest.raises(ValueError):
        an.acceptance_probability(1.0, T=0.0)


def test_step_laws_have_the_stated_spread():
    rng = np.random.default_rng(0)
    g = an.gaussian_step(2.0, 200_000, rng)
    assert g.std() == pytest.approx(2.0 / math.sqrt(2), rel=0.01)
    c = an.cauchy_step(2.0, 200_000, rng)
    assert np.median(np.abs(c)) == pytest.approx(2.0, rel=0.02)
    tail = 1 - 2 * math.atan(10) / math.pi
    assert np.mean(np.abs(c) > 20.0) == pytest.approx(tail, abs=0.003)


def test_rejected_uphill_move_restores_the_weights():
    # with a tiny temperature nothing uphill is kept: the cost never rises
    p = P([0.0, 0.0])
    opt = SimulatedAnnealing([p], T0=1e-9, step_law="gaussian", step_scale=1e8, rng=np.random.default_rng(1))
    cost = lambda: float(np.sum((p.data - 1.0) ** 2))
    costs = [opt.step(cost) for _ in range(300)]
    assert all(b <= a + 1e-12 for a, b in zip(costs, costs[1:]))
    assert cost() == pytest.approx(costs[-1])
    assert opt.n_uphill == 0


def test_uphill_acceptance_rate_matches_boltzmann():
    # a cost that always rises by exactly c: the acceptance rate must be exp(-c / kT)
    p = P([0.0])
    opt = SimulatedAnnealing([p], T0=1.0, k=1.0, schedule="cauchy", rng=np.random.default_rng(2))
    opt.temperature = lambda t: 1.0  # hold T fixed at 1
    cost = lambda: 0.0 if opt.cost is None else opt.cost + 1.0  # every proposal is 1 uphill
    n = 20_000
    for _ in range(n):
        opt.step(cost)
    assert opt.n_uphill == opt.n_accepted
    assert opt.n_accepted / n == pytest.approx(math.exp(-1), abs=0.012)


def test_annealing_finds_the_global_minimum_of_a_bumpy_function():
    # f has a local minimum near w = -1.53 (f = -0.36) and the global one near w = 1.99 (f = -1.11)
    f = lambda w: 0.1 * w ** 4 - 0.5 * w ** 2 - 0.3 * w + 0.2 * np.sin(5 * w)
    grid = np.linspace(-3, 3, 60001)
    w_star = grid[np.argmin(f(grid))]
    found = 0
    for seed in range(10):
        p = P([-1.53])  # start in the local minimum: gradient descent would stay there
        opt = CauchyTraining([p], T0=1.0, step_scale=5.0, rng=np.random.default_rng(seed))
        for _ in range(2000):
            opt.step(lambda: float(f(p.data[0])))
        found += abs(p.data[0] - w_star) < 0.05
    assert found >= 9


def test_one_weight_mode_changes_a_single_entry():
    a, b = P(np.zeros((2, 3))), P(np.zeros(4))
    opt = SimulatedAnnealing([a, b], T0=10.0, one_weight=True, rng=np.random.default_rng(3))
    opt.step(lambda: 0.0)  # cost 0 always: every move is kept (change 0)
    changed = np.count_nonzero(a.data) + np.count_nonzero(b.data)
    assert changed == 1


def test_closure_and_parameter_errors():
    with pytest.raises(ValueError, match="empty"):
        SimulatedAnnealing([])
    with pytest.raises(ValueError, match="schedule"):
        SimulatedAnnealing([P([0.0])], schedule="linear")
    opt = SimulatedAnnealing([P([0.0])])
    with pytest.raises(TypeError, match="closure"):
        opt.step(1.0)
    with pytest.raises(TypeError, match="cost"):
        opt.step(lambda: "high")


def test_works_on_nnkit_parameters():
    nnkit.seed(0)
    lin = nnkit.nn.Linear(2, 1, dtype="float64")
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[1.0], [-1.0], [0.5]])
    loss = lambda: nnkit.losses.mse(lin(X), y)
    start = loss().item()
    opt = CauchyTraining(lin.parameters(), T0=1.0, step_scale=1.0)
    for _ in range(400):
        opt.step(loss)
    assert loss().item() < 0.1 * start


def test_gradient_noise_variance_and_draws():
    assert an.gradient_noise_variance(0, 0.3, 0.55) == pytest.approx(0.3)
    assert an.gradient_noise_variance(99, 0.3, 0.55) == pytest.approx(0.3 / 100 ** 0.55)
    assert np.all(np.diff(an.gradient_noise_variance(np.arange(50))) < 0)
    p, q = P(np.zeros(100_000)), P([1.0])
    p.grad = np.ones(100_000)
    var = add_gradient_noise([p, q], t=3, eta=0.5, gamma=1.0, rng=np.random.default_rng(4))
    assert var == pytest.approx(0.5 / 4)
    assert p.grad.mean() == pytest.approx(1.0, abs=0.01)
    assert p.grad.var() == pytest.approx(0.125, rel=0.02)
    assert q.grad is None  # no gradient, nothing added
