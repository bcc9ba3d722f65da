"""Gradient clipping, applied between ``loss.backward()`` and ``optimizer.step()``.

Lecture 14, §3.1 and the neural-nets notes, "Unstable gradients": exploding
gradients in recurrent nets are tamed by shrinking the gradient before the step.
"""
from __future__ import annotations

import math

from nnkit import backend


def _grads(params):
    return [p for p in params if getattr(p, "grad", None) is not None]


def clip_grad_norm_(params, max_norm: float) -> float:
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    ``||g|| = sqrt(sum_p sum_i g_{p,i}^2)``; if ``||g|| > c``: ``g <- c * g / ||g||``.
    The direction of the full gradient is kept.  Returns the norm *before* clipping.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be > 0, got {max_norm}")
    xp = backend.xp()
    params = _grads(params)
    total = math.sqrt(sum(float(xp.sum(p.grad * p.grad)) for p in params))
    if total > max_norm:
        scale = max_norm / total
        for p in params:
            p.grad *= scale
    return total


def clip_grad_value_(params, clip_value: float) -> None:
    """Clip every gradient component to ``[-c, c]``: ``g_i <- max(-c, min(c, g_i))``.

    Unlike norm clipping this can change the gradient's direction.
    """
    if clip_value <= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be > 0, got {clip_value}")
    xp = backend.xp()
    for p in _grads(params):
        xp.clip(p.grad, -clip_value, clip_value, out=p.grad)
