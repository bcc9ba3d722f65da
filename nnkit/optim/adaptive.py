"""Optimizers with a separate, adaptive step size for every weight.

Neural-nets notes, "Training algorithms" (Adagrad, Adadelta, RMSprop, Adam)
and "Resilient propagation" (Rprop); Lecture 7, §4.8 (Adam is named there);
AdamW adds the decoupled weight decay of Loshchilov & Hutter (2019).
All state arrays start at zero and have the parameter's shape; ``*`` and the
square root act elementwise.
"""
from __future__ import annotations

from nnkit import backend
from nnkit.optim.optimizer import Optimizer


def _zeros(state, key, like):
    if key not in state:
        state[key] = backend.xp().zeros_like(like)
    return state[key]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): divide by the root of all past squared gradients.

        G <- G + g^2
        w <- w - eta * g / sqrt(G + eps)

    The sum only grows, so the effective step shrinks towards zero as
    training goes on.  (Notes, "Adagrad".)

    Differs from PyTorch on purpose: eps sits inside the square root, as the
    notes write it; ``torch.optim.Adagrad`` adds it outside, ``sqrt(G) + eps``
    (the two differ only while G is about eps).
    """

    defaults = {"eps": 1e-8}

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-8, **kw):
        super().__init__(params, lr, eps=eps, **kw)

    def _update(self, p, g, state):
        G = _zeros(state, "sum_sq", p.data)
        G += g * g
        p.data -= self.lr * g / backend.xp().sqrt(G + self.hyper["eps"])


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012): Adagrad with a decaying average instead of a sum.

        E[g^2] <- alpha * E[g^2] + (1 - alpha) * g^2
        w      <- w - eta * g / sqrt(E[g^2] + eps)

    With ``momentum > 0`` the scaled step feeds a velocity, ``v <- mu v - eta g / rms``,
    ``w <- w + v``.  Defaults ``alpha = 0.9, eta = 0.001`` follow the notes ("Adadelta",
    "Rmsprop").

    Differs from PyTorch on purpose, to follow the notes: the default ``alpha``
    is 0.9 (``torch.optim.RMSprop``: 0.99), and eps sits inside the square root
    (PyTorch: ``sqrt(E[g^2]) + eps``).  Pass ``alpha=0.99`` for PyTorch's default;
    the eps placement matters only while E[g^2] is about eps.
    """

    defaults = {"alpha": 0.9, "eps": 1e-8, "momentum": 0.0}

    def __init__(self, params, lr: float = 0.001, alpha: float = 0.9, eps: float = 1e-8,
                 momentum: float = 0.0, **kw):
        super().__init__(params, lr, alpha=alpha, eps=eps, momentum=momentum, **kw)

    def _update(self, p, g, state):
        a, mu = self.hyper["alpha"], self.hyper["momentum"]
        avg = _zeros(state, "mean_sq", p.data)
        avg *= a
        avg += (1 - a) * g * g
        step = self.lr * g / backend.xp().sqrt(avg + self.hyper["eps"])
        if mu:
            v = _zeros(state, "velocity", p.data)
            v *= mu
            v -= step
            p.data += v
        else:
            p.data -= step


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012): a step in the units of the weights, no hand-set rate needed.

        E[g^2]_t  = rho * E[g^2]_{t-1}  + (1 - rho) * g_t^2
        dw_t      = - sqrt(E[dw^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t
        E[dw^2]_t = rho * E[dw^2]_{t-1} + (1 - rho) * dw_t^2
        w         <- w + eta * dw_t

    The numerator uses the running average up to ``t-1``: the notes' version
    with ``RMS[dw]_t`` would need ``dw_t`` to compute itself.  ``eta`` (default 1)
    is only an overall scale, as in PyTorch.
    """

    defaults = {"rho": 0.9, "eps": 1e-6}

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, **kw):
        super().__init__(params, lr, rho=rho, eps=eps, **kw)

    def _update(self, p, g, state):
        xp = backend.xp()
        rho, eps = self.hyper["rho"], self.hyper["eps"]
        eg2 = _zeros(state, "mean_sq_grad", p.data)
        edw2 = _zeros(state, "mean_sq_delta", p.data)
        eg2 *= rho
        eg2 += (1 - rho) * g * g
        delta = -xp.sqrt(edw2 + eps) / xp.sqrt(eg2 + eps) * g
        edw2 *= rho
        edw2 += (1 - rho) * delta * delta
        p.data += self.lr * delta


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on the gradient, RMSprop on its square, bias-corrected.

        m <- beta1 * m + (1 - beta1) * g            v <- beta2 * v + (1 - beta2) * g^2
        m_hat = m / (1 - beta1^t)                   v_hat = v / (1 - beta2^t)
        w <- w - eta * m_hat / (sqrt(v_hat) + eps)

    ``t`` counts this parameter's updates from 1.  The notes put eps inside the
    root, ``sqrt(v_hat + eps)``; pass ``eps_inside=True`` for that form (the
    two differ only when ``v_hat`` is about ``eps``).
    """

    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "eps_inside": False}

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 eps_inside: bool = False, **kw):
        super().__init__(params, lr, betas=tuple(betas), eps=eps, eps_inside=eps_inside, **kw)

    def _update(self, p, g, state):
        xp = backend.xp()
        b1, b2 = self.hyper["betas"]
        eps = self.hyper["eps"]
        m = _zeros(state, "m", p.data)
        v = _zeros(state, "v", p.data)
        state["t"] = t = state.get("t", 0) + 1
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        denom = xp.sqrt(v_hat + eps) if self.hyper["eps_inside"] else xp.sqrt(v_hat) + eps
        p.data -= self.lr * m_hat / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization").

        w <- w - eta * lambda * w                        (shrink the weights)
        w <- w - eta * m_hat / (sqrt(v_hat) + eps)       (Adam on the loss gradient alone)

    ``lambda`` is ``weight_decay`` (default 0.01, as in PyTorch).  ``Adam(...,
    weight_decay=lambda)`` instead adds ``lambda * w`` to the gradient, so the
    penalty is divided by ``sqrt(v_hat)`` like the rest of the gradient: weights
    with large gradients are barely decayed.  Here every weight shrinks by the
    same factor ``1 - eta * lambda`` per step, as weight decay does in plain SGD
    (Lecture 12, §4.3).  Both shrinking and the Adam step use the weights from
    before the step, so their order does not matter.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, eps_inside: bool = False, **kw):
        super().__init__(params, lr, betas=betas, eps=eps, eps_inside=eps_inside, weight_decay=weight_decay, **kw)

    def _update(self, p, g, state):
        if self.weight_decay:
            p.data *= 1 - self.lr * self.weight_decay
        super()._update(p, g, state)


class Rprop(Optimizer):
    """Resilient propagation (Riedmiller & Braun, 1993): only the sign of the gradient is used.

    Every weight keeps its own step size ``delta`` (starting at ``lr``):

        s = g_t * g_{t-1}
        delta <- min(delta * eta_plus, delta_max)   where s > 0   (same sign: speed up)
        delta <- max(delta * eta_minus, delta_min)  where s < 0   (sign flipped: we jumped
                                                                  over a minimum, slow down)
        w <- w - sign(g_t) * delta                  (no move where s < 0)

    Where the sign flipped the stored gradient is set to 0, so the next step
    counts as a fresh start (the "Rprop-" variant PyTorch uses).  Meant for
    full-batch training: minibatch noise flips signs at random.  Notes,
    "Resilient propagation"; ``eta_minus < 1 < eta_plus``.
    """

    defaults = {"etas": (0.5, 1.2), "step_sizes": (1e-6, 50.0)}

    def __init__(self, params, lr: float = 0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), **kw):
        eta_minus, eta_plus = etas
        if not 0 < eta_minus < 1 < eta_plus:
            raise ValueError(f"Rprop: need 0 < eta_minus < 1 < eta_plus, got etas={etas}")
        super().__init__(params, lr, etas=tuple(etas), step_sizes=tuple(step_sizes), **kw)

    def _update(self, p, g, state):
        xp = backend.xp()
        eta_minus, eta_plus = self.hyper["etas"]
        lo, hi = self.hyper["step_sizes"]
        if "step" not in state:
            state["step"] = xp.full_like(p.data, self.lr)
            state["prev_grad"] = xp.zeros_like(p.data)
        delta, prev = state["step"], state["prev_grad"]
        s = g * prev
        grow, shrink = s > 0, s < 0
        delta[grow] = xp.minimum(delta[grow] * eta_plus, hi)
        delta[shrink] = xp.maximum(delta[shrink] * eta_minus, lo)
        g = xp.where(shrink, 0, g)
        p.data -= xp.sign(g) * delta
        prev[...] = g
