"""Neuroevolution: a genetic algorithm over the weights of a fixed network, and Pareto fronts.

Neural-nets notes, "Neuroevolution" (a summary of Risi & Togelius, 2015).  With a fixed
topology the genotype is simply the weight vector and a standard genetic algorithm
applies: "conventional neuroevolution" (CNE).  NEAT, HyperNEAT and NSGA-II are only
described in the chapter; the pieces here are the ones small enough to run in seconds:

- :func:`evolve`: truncation selection with elitism, uniform crossover, Gaussian mutation;
- :func:`xor_net` / :func:`xor_fitness`: a 2-2-1 network whose 9 weights are the genome;
- :func:`noisy_fitness`: fitness averaged over repeated noisy evaluations;
- :func:`pareto_front` / :func:`non_dominated_sort`: the multi-objective view (NSGA-II's ranks);
- :func:`cppn_image`: a compositional pattern-producing network drawing a 2-D pattern.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])
XOR_GENOME_SIZE = 9  # 2x2 hidden weights + 2 hidden biases + 2 output weights + 1 output bias


def xor_net(genome, X=XOR_X):
    """A 2-2-1 net: y = sigmoid(v . tanh(W x + c) + d), all 9 numbers taken from ``genome``."""
    g = np.asarray(genome, dtype=float)
    if g.shape[-1] != XOR_GENOME_SIZE:
        raise ValueError(f"xor_net: a genome has {XOR_GENOME_SIZE} genes, got shape {g.shape}")
    W, c, v, d = g[:4].reshape(2, 2), g[4:6], g[6:8], g[8]
    h = np.tanh(X @ W.T + c)
    return 1.0 / (1.0 + np.exp(-(h @ v + d)))


def xor_fitness(genome):
    """Fitness = 4 - sum of squared errors on the four XOR cases (4 is perfect)."""
    return float(4.0 - ((xor_net(genome) - XOR_Y) ** 2).sum())


def xor_accuracy(genome):
    """Fraction of the four XOR cases the thresholded output gets right."""
    return float(((xor_net(genome) > 0.5) == (XOR_Y > 0.5)).mean())


def evolve(fitness, n_genes, pop_size=50, generations=100, sigma=0.5, elite=5, parents=20,
           crossover=True, seed=None, init_scale=1.0, target=None):
    """Run a generational GA; returns (best genome, history dict with 'best' and 'mean' fitness).

    Each generation: rank by fitness; keep the ``elite`` best unchanged; fill the rest with
    children of two random parents from the top ``parents`` (uniform crossover: each gene
    from either parent), plus Gaussian mutation N(0, sigma^2) on every gene.
    Stops early once the best fitness reaches ``target``.
    """
    if not 0 < elite <= parents <= pop_size:
        raise ValueError(f"evolve: need 0 < elite <= parents <= pop_size, got {elite}, {parents}, {pop_size}")
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    pop = init_scale * rng.standard_normal((pop_size, n_genes))
    history = {"best": [], "mean": []}
    for _ in range(generations):
        scores = np.array([fitness(g) for g in pop])
        order = np.argsort(scores)[::-1]
        pop, scores = pop[order], scores[order]
        history["best"].append(float(scores[0]))
        history["mean"].append(float(scores.mean()))
        if target is not None and scores[0] >= target:
            break
        a = pop[rng.integers(parents, size=pop_size - elite)]
        b = pop[rng.integers(parents, size=pop_size - elite)]
        children = np.where(rng.random(a.shape) < 0.5, a, b) if crossover else a.copy()
        children += sigma * rng.standard_normal(children.shape)
        pop = np.vstack([pop[:elite], children])
    scores = np.array([fitness(g) for g in pop])
    return pop[int(np.argmax(scores))], history


def noisy_fitness(fitness, genome, noise, repeats, rng):
    """Average of ``repeats`` evaluations fitness(genome) + N(0, noise^2): the std shrinks by sqrt(repeats)."""
    return float(np.mean([fitness(genome) + noise * rng.standard_normal() for _ in range(repeats)]))


def dominates(a, b):
    """True when a is at least as good as b in every objective and better in one (maximising)."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all(a >= b) and np.any(a > b))


def pareto_front(points):
    """Indices of the non-dominated rows of ``points`` (n, objectives), every objective maximised."""
    P = np.asarray(points, dtype=float)
    return [i for i in range(len(P)) if not any(dominates(P[j], P[i]) for j in range(len(P)) if j != i)]


def non_dominated_sort(points):
    """Front rank of every row (0 = Pareto front, 1 = front once rank 0 is removed, ...), as in NSGA-II."""
    P = np.asarray(points, dtype=float)
    rank = np.full(len(P), -1)
    remaining, r = list(range(len(P))), 0
    while remaining:
        front = [remaining[i] for i in pareto_front(P[remaining])]
        rank[front] = r
        remaining = [i for i in remaining if i not in front]
        r += 1
    return rank


def cppn_image(genome, size=64, hidden=8):
    """Draw a pattern with a CPPN: inputs (x, y, r) -> [sin, gaussian, tanh] units -> sigmoid.

    The genome holds 3*hidden + hidden + hidden + 1 numbers (weights, biases, output weights and
    bias); sine units give repetition and Gaussian units symmetry, as the notes describe.
    """
    g = np.asarray(genome, dtype=float)
    need = 5 * hidden + 1
    if g.size != need:
        raise ValueError(f"cppn_image: a genome for {hidden} hidden units has {need} genes, got {g.size}")
    W, c, v, d = g[:3 * hidden].reshape(hidden, 3), g[3 * hidden:4 * hidden], g[4 * hidden:5 * hidden], g[-1]
    t = np.linspace(-1, 1, size)
    x, y = np.meshgrid(t, t)
    inp = np.stack([x, y, np.sqrt(x ** 2 + y ** 2)], axis=-1)
    z = inp @ W.T + c
    kinds = np.arange(hidden) % 3
    h = np.where(kinds == 0, np.sin(3 * z), np.where(kinds == 1, np.exp(-z ** 2), np.tanh(z)))
    return 1.0 / (1.0 + np.exp(-(h @ v + d)))
