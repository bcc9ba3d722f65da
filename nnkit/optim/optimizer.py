"""The optimizer base class and the penalties every optimizer can apply.

An optimizer holds a list of parameters (anything with a ``.data`` array and a
``.grad`` array or ``None``) and changes ``p.data`` in place on each
``step()``.  Parameters whose ``.grad`` is ``None`` are skipped.

Penalties (neural-nets notes, "Regularization"; Lecture 7 recap) enter through
the gradient the update rule sees:

    g = dJ/dw + weight_decay * w + l1 * sign(w)          (L2, L1, elastic net)

and the max-norm constraint is a projection applied after the update:

    w_j <- w_j * min(1, c / ||w_j||)     for each unit's incoming weights w_j
"""
from __future__ import annotations

from nnkit import backend


def _params_list(params) -> list:
    """Turn a generator of parameters (``model.parameters()``) into a list."""
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    for i, p in enumerate(params):
        if not hasattr(p, "data") or not hasattr(p, "grad"):
            raise TypeError(
                f"optimizer parameter {i} is a {type(p).__name__}, expected an object "
                "with .data and .grad (a Parameter or Tensor)"
            )
    return params


def max_norm_(params, max_norm: float, axis=-1) -> None:
    """Project weight arrays so every unit's incoming weight vector has norm <= ``max_norm``.

    ``w_j <- w_j * min(1, c / ||w_j||)``; the norm is taken over ``axis``.  A
    ``Linear`` weight has shape ``(out_features, in_features)``, so the incoming
    weights of unit ``j`` are row ``j`` and the default ``axis=-1`` is right;
    use ``axis=0`` for a ``(in, out)`` layout.  Parameters with fewer than two
    dimensions (biases) are left alone.  Neural-nets notes, "Max norm
    constraints"; Srivastava et al. (2014).
    """
    xp = backend.xp()
    for p in params:
        w = p.data
        if w.ndim < 2:
            continue
        norms = xp.sqrt((w * w).sum(axis=axis, keepdims=True))
        scale = xp.minimum(1.0, max_norm / xp.maximum(norms, 1e-12))
        w *= scale.astype(w.dtype)


class Optimizer:
    """Base class: keeps the parameters, the learning rate and per-parameter state.

    Subclasses implement ``_update(p, g, state)`` that changes ``p.data`` in
    place, where ``g`` is the penalised gradient.

    Parameters
    ----------
    params: iterable of parameters (``model.parameters()``)
    lr: learning rate (step size) eta
    weight_decay: L2 strength lambda_2 (adds ``lambda_2 * w`` to the gradient)
    l1: L1 strength lambda_1 (adds ``lambda_1 * sign(w)``); both together is the elastic net
    max_norm: if given, project each weight array after the step (see :func:`max_norm_`)
    max_norm_axis: axis of the incoming weights for ``max_norm`` (default -1: rows, as in ``Linear``)
    """

    defaults: dict = {}
    # False: weight_decay enters the gradient (L2).  True: the subclass shrinks the
    # weights itself, apart from the gradient (AdamW's decoupled weight decay).
    decoupled_weight_decay = False

    def __init__(self, params, lr: float, weight_decay: float = 0.0, l1: float = 0.0,
                 max_norm: float | None = None, max_norm_axis=-1, **hyper):
        if lr is None or lr < 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be >= 0, got {lr}")
        if weight_decay < 0 or l1 < 0:
            raise ValueError(f"{type(self).__name__}: penalty strengths must be >= 0, "
                             f"got weight_decay={weight_decay}, l1={l1}")
        if max_norm is not None and max_norm <= 0:
            raise ValueError(f"{type(self).__name__}: max_norm must be > 0, got {max_norm}")
        self.params = _params_list(params)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.l1 = float(l1)
        self.max_norm = max_norm
        self.max_norm_axis = max_norm_axis
        self.hyper = {**self.defaults, **hyper}
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown options {sorted(unknown)}; "
                            f"it accepts {sorted(self.defaults)}")
        self.state: list[dict] = [{} for _ in self.params]
        self.steps = 0

    # -- the public API ---------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget the accumulated gradients (set every ``p.grad`` to ``None``)."""
        for p in self.params:
            if hasattr(p, "zero_grad"):
                p.zero_grad()
            else:
                p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = self._penalised_grad(p)
            self._update(p, g, state)
        if self.max_norm is not None:
            max_norm_(self.params, self.max_norm, axis=self.max_norm_axis)
        self.steps += 1

    def state_dict(self) -> dict:
        """Hyperparameters, step count and copies of the per-parameter state arrays."""
        return {
            "type": type(self).__name__,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "l1": self.l1,
            "max_norm": self.max_norm,
            "hyper": dict(self.hyper),
            "steps": self.steps,
            "state": [{k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}
                      for s in self.state],
        }

    def load_state_dict(self, sd: dict) -> None:
        """Restore what :meth:`state_dict` returned (for the same parameter list)."""
        if sd["type"] != type(self).__name__:
            raise ValueError(f"state_dict is for {sd['type']}, not {type(self).__name__}")
        if len(sd["state"]) != len(self.params):
            raise ValueError(f"state_dict has state for {len(sd['state'])} parameters, "
                             f"this optimizer has {len(self.params)}")
        self.lr, self.weight_decay, self.l1 = sd["lr"], sd["weight_decay"], sd["l1"]
        self.max_norm, self.hyper, self.steps = sd["max_norm"], dict(sd["hyper"]), sd["steps"]
        self.state = [{k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}
                      for s in sd["state"]]

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(lr={self.lr}{', ' if opts else ''}{opts})"

    # -- for subclasses -------------------------------------------------------------
    def _penalised_grad(self, p):
        g = p.grad
        if g.shape != p.data.shape:
            raise ValueError(f"{type(self).__name__}: gradient shape {g.shape} does not match "
                             f"parameter shape {p.data.shape}")
        if self.weight_decay and not self.decoupled_weight_decay:
            g = g + self.weight_decay * p.data
        if self.l1:
            g = g + self.l1 * backend.xp().sign(p.data)
        return g

    def _update(self, p, g, state: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
