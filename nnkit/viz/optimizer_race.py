"""An optimizer race: several ``nnkit.optim`` optimizers on the same two-parameter surface.

Neural-nets notes, "Training algorithms" (momentum, Nesterov, Adagrad,
Adadelta, Adam), "Rprop" and "Rmsprop".  Three classic test surfaces, each a
function ``f(u, v)`` written with ``+ - * **`` only, so it takes NumPy arrays
(for contour plots) and autodiff Tensors (for the optimizers) alike:

    rosenbrock   (1 - u)^2 + 100 (v - u^2)^2     a curved, flat-bottomed valley; minimum (1, 1)
    saddle       u^2 - v^2 + v^4 / 2             a saddle at (0, 0); minima (0, +-1)
    bowl         (u^2 + 100 v^2) / 2             an ill-conditioned bowl (condition number 100)

    surface = SURFACES["rosenbrock"]
    paths = race(surface, steps=500)                      # every racer, default learning rates
    fig, ax = plt.subplots(); plot_race(ax, surface, paths)
    race_widget()                                         # the same, with sliders
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnkit.viz.surfaces import grid_values, optimizer_path, plot_cost_contours, plot_path


@dataclass(frozen=True)
class Surface:
    """A cost ``f(u, v)`` of two parameters, where to start, where the minimum is, and what to draw."""

    name: str
    f: callable
    start: tuple
    minima: tuple
    u_range: tuple
    v_range: tuple
    lr: dict = field(default_factory=dict)  # a good learning rate per racer on this surface
    note: str = ""

    def __call__(self, u, v):
        return self.f(u, v)

    def loss(self, w):
        """The cost of a parameter vector ``w = (u, v)`` (a Tensor of shape (2,))."""
        return self.f(w[0], w[1])

    def distance_to_minimum(self, point) -> float:
        """Euclidean distance from ``point`` (shape (2,)) to the nearest minimum."""
        point = np.asarray(point, dtype=np.float64)
        return float(min(np.linalg.norm(point - np.asarray(m, dtype=np.float64)) for m in self.minima))


def rosenbrock(u, v):
    """(1 - u)^2 + 100 (v - u^2)^2: a narrow curved valley; the minimum is 0 at (1, 1)."""
    return (1 - u) ** 2 + 100 * (v - u ** 2) ** 2


def saddle(u, v):
    """u^2 - v^2 + v^4 / 2: a saddle point at the origin, minima -1/2 at (0, +1) and (0, -1)."""
    return u ** 2 - v ** 2 + 0.5 * v ** 4


def ill_conditioned_bowl(u, v):
    """(u^2 + 100 v^2) / 2: curvatures 1 and 100 (condition number 100); minimum 0 at (0, 0)."""
    return 0.5 * (u ** 2 + 100 * v ** 2)


RACERS = ("SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam", "Rprop")
COLORS = dict(zip(RACERS, ("tab:gray", "tab:blue", "tab:cyan", "tab:orange", "tab:brown",
                           "tab:green", "tab:red", "tab:purple")))

# Learning rates picked from the grid 1e-4, 3e-4, ..., 1 by best_learning_rates()
# (the one that ends closest to a minimum after 500 steps); tests/test_optimizer_race.py
# re-runs that search for part of the table.
SURFACES = {
    "rosenbrock": Surface(
        "rosenbrock", rosenbrock, (-1.2, 1.0), ((1.0, 1.0),), (-2.0, 2.0), (-1.0, 3.0),
        lr={"SGD": 3e-3, "Momentum": 3e-3, "Nesterov": 1e-3, "Adagrad": 1.0, "Adadelta": 1.0,
            "RMSprop": 3e-2, "Adam": 1.0, "Rprop": 3e-2},
        note="a curved valley whose floor is nearly flat"),
    "saddle": Surface(
        "saddle", saddle, (1.0, 1e-3), ((0.0, 1.0), (0.0, -1.0)), (-1.5, 1.5), (-1.6, 1.6),
        lr={"SGD": 0.3, "Momentum": 0.1, "Nesterov": 0.1, "Adagrad": 1.0, "Adadelta": 1.0,
            "RMSprop": 3e-3, "Adam": 1.0, "Rprop": 1.0},
        note="the start sits 0.001 off the saddle's ridge line"),
    "bowl": Surface(
        "bowl", ill_conditioned_bowl, (-8.0, 1.0), ((0.0, 0.0),), (-9.0, 3.0), (-1.5, 1.5),
        lr={"SGD": 1e-2, "Momentum": 3e-2, "Nesterov": 1e-2, "Adagrad": 1.0, "Adadelta": 1.0,
            "RMSprop": 3e-2, "Adam": 0.3, "Rprop": 1.0},
        note="curvature 100 across the valley, 1 along it"),
}

LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def make_optimizer(name: str, lr: float):
    """A factory ``params -> optimizer`` for a racer by name (see ``RACERS``)."""
    from nnkit import optim

    classes = {"SGD": optim.SGD, "Momentum": optim.Momentum, "Nesterov": optim.Nesterov,
               "Adagrad": optim.Adagrad, "Adadelta": optim.Adadelta, "RMSprop": optim.RMSprop,
               "Adam": optim.Adam, "Rprop": optim.Rprop}
    if name not in classes:
        raise ValueError(f"make_optimizer: unknown racer {name!r}; choose from {RACERS}")
    return lambda params: classes[name](params, lr=lr)


def _surface(surface) -> Surface:
    if isinstance(surface, Surface):
        return surface
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; choose from {tuple(SURFACES)}")
    return SURFACES[surface]


def race(surface, racers=RACERS, steps: int = 500, lr=None, lr_scale: float = 1.0, start=None):
    """Run each racer from the surface's start; returns ``{name: path}``, each path (k + 1, 2).

    ``lr`` is a dict ``{name: learning rate}`` (default: the surface's table) and
    ``lr_scale`` multiplies every rate.  A diverging run stops early (its path is
    shorter than ``steps + 1``), as in :func:`nnkit.viz.surfaces.optimizer_path`.
    """
    surface = _surface(surface)
    rates = dict(surface.lr if lr is None else lr)
    missing = [n for n in racers if n not in rates]
    if missing:
        raise ValueError(f"race: no learning rate for {missing} on surface {surface.name!r}")
    start = surface.start if start is None else start
    return {name: optimizer_path(surface.loss, start, make_optimizer(name, rates[name] * lr_scale), steps)
            for name in racers}


def best_learning_rates(surface, racers=RACERS, grid=LR_GRID, steps: int = 500) -> dict:
    """For each racer, the rate in ``grid`` whose run ends closest to a minimum (diverged runs lose)."""
    surface = _surface(surface)
    best = {}
    for name in racers:
        scores = []
        for lr in grid:
            path = optimizer_path(surface.loss, surface.start, make_optimizer(name, lr), steps)
            ok = len(path) == steps + 1 and np.all(np.isfinite(path[-1]))
            scores.append(surface.distance_to_minimum(path[-1]) if ok else np.inf)
        best[name] = grid[int(np.argmin(scores))]
    return best


def summary(surface, paths) -> dict:
    """``{name: (final cost, distance to the nearest minimum, steps run)}`` for a race's paths."""
    surface = _surface(surface)
    out = {}
    for name, path in paths.items():
        end = path[-1]
        out[name] = (float(surface(end[0], end[1])), surface.distance_to_minimum(end), len(path) - 1)
    return out


def steps_to_reach(surface, path, tol: float = 1e-2):
    """The first step at which ``path`` is within ``tol`` of a minimum, or ``None`` if never."""
    surface = _surface(surface)
    for k, point in enumerate(np.asarray(path, dtype=np.float64)):
        if surface.distance_to_minimum(point) < tol:
            return k
    return None


def plot_race(ax, surface, paths, levels: int = 30, legend: bool = True):
    """Log-spaced contours of the surface with every racer's path on top."""
    surface = _surface(surface)
    U, V, J = grid_values(surface, surface.u_range, surface.v_range, n=200)
    shift = J.min()
    plot_cost_contours(ax, U, V, J - shift + 1e-3, levels=levels, log=True, colorbar=False)
    for name, path in paths.items():
        plot_path(ax, np.clip(path, -1e3, 1e3), color=COLORS.get(name, "black"), label=name, markers=False)
    for m in surface.minima:
        ax.plot(*m, "*", color="gold", ms=14, mec="black")
    ax.set_xlim(*surface.u_range)
    ax.set_ylim(*surface.v_range)
    ax.set_xlabel("u")
    ax.set_ylabel("v")
    ax.set_title(f"{surface.name}: {surface.note}" if surface.note else surface.name, fontsize=10)
    if legend:
        ax.legend(fontsize=7, loc="best", ncol=2)
    return ax


def race_widget(steps: int = 300):
    """An ipywidgets explorer: pick the surface, the racers, the number of steps and a learning-rate scale."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(surface="rosenbrock", steps=steps, log10_lr_scale=0.0, **chosen):
        racers = [n for n in RACERS if chosen.get(n, True)]
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        paths = race(surface, racers, steps=steps, lr_scale=10 ** log10_lr_scale)
        plot_race(ax, surface, paths)
        plt.show()

    boxes = {n: widgets.Checkbox(value=True, description=n, indent=False) for n in RACERS}
    return widgets.interactive(
        show,
        surface=widgets.Dropdown(options=list(SURFACES), value="rosenbrock"),
        steps=widgets.IntSlider(value=steps, min=10, max=1000, step=10),
        log10_lr_scale=widgets.FloatSlider(value=0.0, min=-2.0, max=1.0, step=0.25,
                                           description="log10 lr x"),
        **boxes,
    )
