"""Learning-rate schedules: small objects that set ``optimizer.lr`` on each ``step()``.

Call ``scheduler.step()`` once per epoch (or per iteration, as you choose);
after ``t`` calls the optimizer's rate is ``lr_at(t)``, where ``eta_0`` is the
rate the optimizer had when the scheduler was made.

Lecture 7, §4.6 (exponential decay, started late in training); neural-nets
notes, "Learning rates" (the 1/t schedule).
"""
from __future__ import annotations

import math


class LRScheduler:
    """Base class: ``lr_at(t)`` gives the rate after ``t`` calls of :meth:`step`."""

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__} needs an optimizer with an .lr, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.t = 0
        self.optimizer.lr = self.lr_at(0)

    def lr_at(self, t: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def lr(self) -> float:
        """The rate in use now."""
        return self.optimizer.lr

    def step(self) -> float:
        """Advance one step and return the new rate."""
        self.t += 1
        self.optimizer.lr = self.lr_at(self.t)
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"t": self.t, "base_lr": self.base_lr}

    def load_state_dict(self, sd: dict) -> None:
        self.t, self.base_lr = sd["t"], sd["base_lr"]
        self.optimizer.lr = self.lr_at(self.t)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` steps: ``eta_t = eta_0 * gamma^floor(t / step_size)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialLR(LRScheduler):
    """Exponential decay, Lecture 7 eq. (10): ``eta_t = eta_0 * exp(-(t - start) / tau)`` for ``t > start``.

    Give either ``gamma`` (the factor per step, ``gamma = exp(-1/tau)``) or the
    time constant ``tau`` (after ``tau`` steps the rate has fallen to ``eta_0 / e``).
    ``start`` delays the decay: the lecture advises decaying only late in training.
    """

    def __init__(self, optimizer, gamma: float | None = None, tau: float | None = None,
                 start: int = 0):
        if (gamma is None) == (tau is None):
            raise ValueError("ExponentialLR: give exactly one of gamma and tau")
        self.gamma = float(gamma) if gamma is not None else math.exp(-1.0 / tau)
        self.start = int(start)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** max(0, t - self.start)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from ``eta_0`` down to ``eta_min`` over ``T_max`` steps (Loshchilov & Hutter, 2017).

    ``eta_t = eta_min + (eta_0 - eta_min) * (1 + cos(pi * t / T_max)) / 2`` for
    ``t <= T_max``, and ``eta_min`` afterwards.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 - PyTorch's name
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, t):
        t = min(t, self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class InverseTimeLR(LRScheduler):
    """The 1/t schedule: ``eta_t = eta_0 / (1 + decay * t)``.

    The notes write it ``eta_0 / (1 + eta_0 * lambda * t)``: pass ``decay = eta_0 * lambda``.
    Its sum diverges while the sum of its squares converges, the classic
    condition for SGD to converge (Robbins & Monro, 1951).
    """

    def __init__(self, optimizer, decay: float):
        if decay < 0:
            raise ValueError(f"InverseTimeLR: decay must be >= 0, got {decay}")
        self.decay = float(decay)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr / (1 + self.decay * t)


class LinearWarmup(LRScheduler):
    """Ramp the rate up linearly over ``warmup_steps``, then hand over to ``then`` (or stay at ``eta_0``).

    ``eta_t = eta_0 * (t + 1) / warmup_steps`` for ``t < warmup_steps``; afterwards
    ``then.lr_at(t - warmup_steps)`` if a scheduler ``then`` is given, else ``eta_0``.
    Build ``then`` on the same optimizer *before* the warmup.
    """

    def __init__(self, optimizer, warmup_steps: int, then: LRScheduler | None = None):
        if warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 1, got {warmup_steps}")
        if then is not None and then.optimizer is not optimizer:
            raise ValueError("LinearWarmup: `then` must drive the same optimizer")
        self.warmup_steps, self.then = int(warmup_steps), then
        super().__init__(optimizer)

    def lr_at(self, t):
        if t < self.warmup_steps:
            return self.base_lr * (t + 1) / self.warmup_steps
        if self.then is not None:
            return self.then.lr_at(t - self.warmup_steps)
        return self.base_lr
