"""Gradient descent and its momentum variants.

Lecture 7, §2-§4.5 (gradient descent, SGD, momentum); neural-nets notes,
"Training algorithms" (momentum, Nesterov momentum).
"""
from __future__ import annotations

from nnkit import backend
from nnkit.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Plain (``momentum=0``), Lecture 7 eq. (2)/(7):

        w <- w - eta * g

    Momentum (Lecture 7 eqs. (8)-(9); notes "Momentum"), velocity ``v`` starts at 0:

        v <- mu * v - eta * g
        w <- w + v

    Nesterov (notes "Nesterov momentum"): the gradient is taken at the
    look-ahead point ``w + mu * v``.  Tracking the look-ahead point itself as
    the parameter (Sutskever et al., 2013) turns this into an update that only
    needs the gradient at the current parameters:

        v <- mu * v - eta * g
        w <- w + mu * v - eta * g

    ``mu = 0`` recovers plain gradient descent in all three forms.
    """

    defaults = {"momentum": 0.0, "nesterov": False}

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kw):
        if not 0.0 <= momentum < 1.0 + 1e-12:
            raise ValueError(f"SGD: momentum must lie in [0, 1], got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        super().__init__(params, lr, momentum=momentum, nesterov=nesterov, **kw)

    def _update(self, p, g, state):
        mu = self.hyper["momentum"]
        if mu == 0:
            p.data -= self.lr * g
            return
        if "velocity" not in state:
            state["velocity"] = backend.xp().zeros_like(p.data)
        v = state["velocity"]
        v *= mu
        v -= self.lr * g
        if self.hyper["nesterov"]:
            p.data += mu * v - self.lr * g
        else:
            p.data += v


class Momentum(SGD):
    """SGD with classical momentum, ``mu = 0.9`` by default (see :class:`SGD`)."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, **kw):
        super().__init__(params, lr, momentum=momentum, nesterov=False, **kw)


class Nesterov(SGD):
    """SGD with Nesterov momentum, ``mu = 0.9`` by default (see :class:`SGD`)."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, **kw):
        super().__init__(params, lr, momentum=momentum, nesterov=True, **kw)
