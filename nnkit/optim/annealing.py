"""Statistical training: simulated annealing, Cauchy training and gradient noise.

Neural-nets notes, "Statistical (stochastic) training" and "Gradient noise".
Instead of following the gradient, make a random change to the weights and
keep it if the cost falls; if the cost rises by ``c > 0``, keep it anyway with
the Boltzmann probability

    P(c) = exp(-c / (k T))

where the temperature ``T`` falls over time.  Two recipes differ in how the
random change is drawn and how fast ``T`` may fall:

    Boltzmann training:  step ~ p(w) ∝ exp(-w^2 / T^2)   (a Gaussian, std T / sqrt(2))
                         T(t) = T0 / log(1 + t)            (t = 1, 2, ...)
    Cauchy training:     step = rho * T * tan(u),  u ~ U(-pi/2, pi/2)
                         T(t) = T0 / (1 + t)

The Cauchy step is drawn by inverting its cumulative distribution; its
density is ``T / (pi (T^2 + x^2))`` (the notes omit the ``pi``).  Its fat
tails allow occasional long jumps, so the temperature may fall faster.

Both optimizers need no gradient, only the cost: ``step(closure)`` calls
``closure()`` (which returns the cost as a float or scalar Tensor) and
changes ``p.data`` in place, like PyTorch's ``LBFGS.step(closure)``.

    opt = CauchyTraining(model.parameters(), T0=1.0)
    for _ in range(500):
        opt.step(lambda: float(loss_fn(model(X), y).item()))

:func:`add_gradient_noise` is the other use of randomness in the notes: add
``N(0, sigma_t^2)`` with ``sigma_t^2 = eta / (1 + t)^gamma`` to every gradient
before the optimizer's step (Neelakantan et al., 2015).
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import backend

SCHEDULES = ("boltzmann", "cauchy")
STEP_LAWS = ("gaussian", "cauchy")


# ------------------------------------------------------------------ the pieces
def boltzmann_temperature(t, T0: float = 1.0):
    """T(t) = T0 / log(1 + t): the slow schedule of Boltzmann training.

    Defined for ``t > 0`` only (``log 1 = 0`` at ``t = 0``; the notes leave
    this out), so the optimizers count from ``t = 1``.  ``T(e - 1) = T0``.
    """
    t = np.asarray(t, dtype=np.float64)
    if np.any(t <= 0):
        raise ValueError(f"boltzmann_temperature: t must be > 0 (T0 / log(1 + t) is undefined at 0), got {t}")
    out = T0 / np.log1p(t)
    return float(out) if out.ndim == 0 else out


def cauchy_temperature(t, T0: float = 1.0):
    """T(t) = T0 / (1 + t): the fast schedule that Cauchy steps allow (``t >= 0``)."""
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError(f"cauchy_temperature: t must be >= 0, got {t}")
    out = T0 / (1.0 + t)
    return float(out) if out.ndim == 0 else out


def acceptance_probability(c, T: float, k: float = 1.0):
    """Boltzmann acceptance of a cost change ``c``: 1 if ``c <= 0``, else exp(-c / (k T))."""
    if T <= 0 or k <= 0:
        raise ValueError(f"acceptance_probability: T and k must be > 0, got T={T}, k={k}")
    c = np.asarray(c, dtype=np.float64)
    out = np.where(c <= 0, 1.0, np.exp(-np.maximum(c, 0.0) / (k * T)))
    return float(out) if out.ndim == 0 else out


def gaussian_step(T: float, shape, rng=None, scale: float = 1.0):
    """A random weight change with density ∝ exp(-w^2 / T^2): normal with std ``scale * T / sqrt(2)``."""
    rng = backend.rng() if rng is None else rng
    return rng.normal(0.0, scale * T / math.sqrt(2.0), size=shape)


def cauchy_step(T: float, shape, rng=None, scale: float = 1.0):
    """A Cauchy-distributed change ``rho * T * tan(u)`` with ``u ~ U(-pi/2, pi/2)`` (``rho = scale``).

    Half the draws have ``|x| < rho T`` (the median of ``|x|`` is ``rho T``), but
    ``P(|x| > 10 rho T) = 1 - 2 arctan(10) / pi ≈ 0.063``: the tails are fat.
    """
    rng = backend.rng() if rng is None else rng
    u = rng.uniform(-math.pi / 2, math.pi / 2, size=shape)
    return scale * T * np.tan(u)


# ------------------------------------------------------------------ the optimizers
class SimulatedAnnealing:
    """Random-perturbation training with the Boltzmann acceptance rule.

    Each ``step(closure)``:

    1. ``T = schedule(t)`` for ``t = 1, 2, ...`` (times ``T0``);
    2. add a random change (``step_law`` at temperature ``T``, times ``step_scale``)
       to every weight, or, with ``one_weight=True``, to one weight picked at random;
    3. evaluate the cost; keep the change if it fell, else keep it with
       probability ``exp(-c / (k T))`` and otherwise put the weights back.

    Parameters
    ----------
    params: parameters (objects with a ``.data`` array); no gradients are used
    T0: starting temperature; k: the Boltzmann-like constant
    schedule: ``"boltzmann"`` (T0 / log(1 + t)) or ``"cauchy"`` (T0 / (1 + t))
    step_law: ``"gaussian"`` or ``"cauchy"``; step_scale: rho, the size of a change per unit T
    one_weight: perturb a single weight per step instead of all of them
    rng: a ``numpy.random.Generator`` (default: the one ``nnkit.seed`` resets)

    After each step: ``T`` (the temperature used), ``cost`` (the cost now),
    ``accepted`` (bool), and the running counts ``n_accepted`` / ``n_uphill``
    (uphill changes that were kept).
    """

    def __init__(self, params, T0: float = 1.0, k: float = 1.0, schedule: str = "boltzmann",
                 step_law: str = "gaussian", step_scale: float = 1.0, one_weight: bool = False,
                 rng=None):
        if T0 <= 0 or k <= 0 or step_scale <= 0:
            raise ValueError(f"{type(self).__name__}: T0, k and step_scale must be > 0, "
                             f"got T0={T0}, k={k}, step_scale={step_scale}")
        if schedule not in SCHEDULES:
            raise ValueError(f"{type(self).__name__}: schedule must be one of {SCHEDULES}, got {schedule!r}")
        if step_law not in STEP_LAWS:
            raise ValueError(f"{type(self).__name__}: step_law must be one of {STEP_LAWS}, got {step_law!r}")
        self.params = _data_list(params)
        self.T0, self.k, self.schedule, self.step_law = float(T0), float(k), schedule, step_law
        self.step_scale, self.one_weight = float(step_scale), one_weight
        self.rng = rng
        self.t = 0
        self.T = None
        self.cost = None
        self.accepted = None
        self.n_accepted = 0
        self.n_uphill = 0

    # PyTorch-style no-op, so training loops may call it
    def zero_grad(self) -> None:
        """Nothing to clear: annealing uses no gradients."""

    def temperature(self, t: int) -> float:
        """The temperature at step ``t`` (``t >= 1``) under this optimizer's schedule."""
        if self.schedule == "boltzmann":
            return boltzmann_temperature(t, self.T0)
        return cauchy_temperature(t, self.T0)

    def _draw(self, T, shape):
        rng = backend.rng() if self.rng is None else self.rng
        law = gaussian_step if self.step_law == "gaussian" else cauchy_step
        return law(T, shape, rng, self.step_scale)

    def step(self, closure) -> float:
        """One proposal and its acceptance test; returns the cost after the step."""
        if not callable(closure):
            raise TypeError(f"{type(self).__name__}.step needs a closure that returns the cost, "
                            f"got {type(closure).__name__}")
        if self.cost is None:
            self.cost = _as_float(closure(), type(self).__name__)
        self.t += 1
        self.T = T = self.temperature(self.t)
        saved = [p.data.copy() for p in self.params]
        if self.one_weight:
            sizes = np.array([p.data.size for p in self.params])
            rng = backend.rng() if self.rng is None else self.rng
            flat_index = int(rng.integers(sizes.sum()))
            which = int(np.searchsorted(np.cumsum(sizes), flat_index, side="right"))
            offset = flat_index - int(sizes[:which].sum())
            p = self.params[which]
            p.data.reshape(-1)[offset] += p.data.dtype.type(self._draw(T, ()))
        else:
            for p in self.params:
                p.data += backend.to_device(self._draw(T, p.data.shape).astype(p.data.dtype))  # drawn on the host
        new_cost = _as_float(closure(), type(self).__name__)
        change = new_cost - self.cost
        rng = backend.rng() if self.rng is None else self.rng
        keep = change <= 0 or rng.random() < acceptance_probability(change, T, self.k)
        if keep:
            self.cost = new_cost
            self.n_accepted += 1
            self.n_uphill += int(change > 0)
        else:
            for p, old in zip(self.params, saved):
                p.data[...] = old
        self.accepted = bool(keep)
        return self.cost

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(T0={self.T0}, k={self.k}, schedule={self.schedule!r}, "
                f"step_law={self.step_law!r}, step_scale={self.step_scale})")


class CauchyTraining(SimulatedAnnealing):
    """Simulated annealing with Cauchy steps and the fast schedule T0 / (1 + t).

    The notes' Cauchy training; ``step_scale`` is their learning-rate
    coefficient rho in ``x_c = rho T tan(u)``.
    """

    def __init__(self, params, T0: float = 1.0, k: float = 1.0, step_scale: float = 1.0,
                 one_weight: bool = False, rng=None):
        super().__init__(params, T0=T0, k=k, schedule="cauchy", step_law="cauchy",
                         step_scale=step_scale, one_weight=one_weight, rng=rng)


# ------------------------------------------------------------------ gradient noise
def gradient_noise_variance(t, eta: float = 0.3, gamma: float = 0.55):
    """sigma_t^2 = eta / (1 + t)^gamma: the annealed variance of added gradient noise."""
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError(f"gradient_noise_variance: t must be >= 0, got {t}")
    out = eta / (1.0 + t) ** gamma
    return float(out) if out.ndim == 0 else out


def add_gradient_noise(params, t: int, eta: float = 0.3, gamma: float = 0.55, rng=None) -> float:
    """Add N(0, sigma_t^2) to every ``p.grad`` in place: ``g <- g + N(0, eta / (1 + t)^gamma)``.

    Call it between ``loss.backward()`` and ``optimizer.step()``; ``t`` is the
    step count.  Parameters without a gradient are skipped.  Returns sigma_t^2.
    Defaults ``eta = 0.3, gamma = 0.55`` are Neelakantan et al.'s.
    """
    var = gradient_noise_variance(t, eta, gamma)
    rng = backend.rng() if rng is None else rng
    std = math.sqrt(var)
    for p in params:
        g = getattr(p, "grad", None)
        if g is None:
            continue
        noise = backend.to_device(rng.normal(0.0, std, size=g.shape).astype(g.dtype))
        g += noise
    return var


# ------------------------------------------------------------------ helpers
def _as_float(value, who) -> float:
    if hasattr(value, "item"):
        value = value.item()
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{who}: the closure must return the cost as a number or scalar Tensor, "
                        f"got {type(value).__name__}") from err
    return out


def _data_list(params) -> list:
    params = list(params)
    if not params:
        raise ValueError("annealing optimizer got an empty parameter list")
    for i, p in enumerate(params):
        if not hasattr(p, "data"):
            raise TypeError(f"annealing optimizer: parameter {i} is a {type(p).__name__}, "
                            "expected an object with a .data array")
    return params
