"""Conventional neuroevolution on XOR, noisy fitness and Pareto fronts."""
import numpy as np
import pytest

from nnkit.models import neuroevolution as ne


def test_ga_solves_xor_with_a_fixed_topology():
    best, hist = ne.evolve(ne.xor_fitness, ne.XOR_GENOME_SIZE, pop_size=60, generations=200, seed=0, target=3.9)
    assert ne.xor_accuracy(best) == 1.0
    assert hist["best"][-1] >= 3.9
    assert hist["best"][0] < 3.5  # the random start does not already solve it
    assert all(b2 >= b1 for b1, b2 in zip(hist["best"], hist["best"][1:]))  # elitism never loses the best


def test_xor_net_against_hand_computation():
    g = np.arange(9) / 10.0
    x = np.array([1.0, 0.0])
    h = np.tanh(np.array([[0.0, 0.1], [0.2, 0.3]]) @ x + [0.4, 0.5])
    y = 1 / (1 + np.exp(-(h @ [0.6, 0.7] + 0.8)))
    assert np.isclose(ne.xor_net(g, x[None])[0], y)


def test_noisy_fitness_averaging_shrinks_the_spread():
    rng = np.random.default_rng(0)
    one = [ne.noisy_fitness(lambda g: 1.0, None, 1.0, 1, rng) for _ in range(2000)]
    sixteen = [ne.noisy_fitness(lambda g: 1.0, None, 1.0, 16, rng) for _ in range(2000)]
    assert 3.4 < np.std(one) / np.std(sixteen) < 4.6


def test_pareto_front_and_ranks():
    rng = np.random.default_rng(1)
    P = rng.random((40, 2))
    front = ne.pareto_front(P)
    for i in front:
        assert not any(ne.dominates(P[j], P[i]) for j in range(40))
    for i in set(range(40)) - set(front):
        assert any(ne.dominates(P[j], P[i]) for j in front)
    ranks = ne.non_dominated_sort(P)
    assert set(np.flatnonzero(ranks == 0)) == set(front)
    assert ne.non_dominated_sort([[1, 1], [0, 0], [2, 0]]).tolist() == [0, 1, 0]


def test_cppn_image_and_errors():
    img = ne.cppn_image(np.random.default_rng(0).normal(size=41), size=32)
    assert img.shape == (32, 32) and 0 < img.min() and img.max() < 1
    with pytest.raises(ValueError, match="9 genes"):
        ne.xor_net(np.zeros(5))
