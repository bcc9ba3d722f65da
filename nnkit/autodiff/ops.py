"""Every autodiff primitive, each with its vector-Jacobian product beside it.

The primitives behind Tensor's operators and methods (``add`` for ``a + b``,
``sum`` for ``a.sum()``, ...) are defined in :mod:`nnkit.autodiff.tensor`,
next to the class, and gathered here; this module adds the ones that no
operator uses.  Each follows the pattern described there: compute the output,
define ``vjp(g)`` returning one gradient per input, and wrap both with
``Tensor.from_op`` (Lecture 6, §3).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff.tensor import (  # noqa: F401 - the primitives behind Tensor's operators
    Tensor, abs, add, as_tensor, astype, clip, div, exp, getitem, log, log_softmax, logsumexp, matmul, max,
    mean, min, mul, neg, power, relu, reshape, sigmoid, sigmoid_array, softmax, softplus, sqrt, sub,
    sum, tanh, transpose, unbroadcast,
)

__all__ = [
    "abs", "add", "as_tensor", "astype", "clip", "concatenate", "cos", "div", "exp", "getitem",
    "linear", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min",
    "minimum", "mul", "neg", "power", "relu", "reshape", "sigmoid", "sigmoid_array", "sin",
    "softmax", "softplus", "sqrt", "stack", "sub", "sum", "tanh", "transpose", "unbroadcast",
    "where",
]


def linear(x, weight, bias=None) -> Tensor:
    """The affine map x W^T + b as one fused primitive.

    Shapes: x (..., in), weight (out, in), bias (out,) -> (..., out).
    VJP: dL/dx = g W, dL/dW = g^T x (summed over leading axes), dL/db = sum of g.
    One node instead of three (transpose, matmul, add) keeps small networks fast.
    """
    if backend.is_foreign():
        backend.check_arrays("linear()", [t.data for t in (x, weight, bias) if t is not None])
    out = x.data @ weight.data.T
    if bias is not None:
        out += bias.data

    def vjp(g):
        g2 = g.reshape(-1, g.shape[-1])
        x2 = x.data.reshape(-1, x.shape[-1])
        gx = (g @ weight.data) if x.requires_grad else None
        gw = (g2.T @ x2) if weight.requires_grad else None
        gb = g2.sum(axis=0) if bias is not None and bias.requires_grad else None
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, vjp, "linear")


# ------------------------------------------------------------ elementwise maps
def sin(a) -> Tensor:
    """sin(a); d/da = cos(a)."""
    xp = backend.xp()
    return Tensor.from_op(xp.sin(a.data), (a,), lambda g: (g * xp.cos(a.data),), "sin")


def cos(a) -> Tensor:
    """cos(a); d/da = -sin(a)."""
    xp = backend.xp()
    return Tensor.from_op(xp.cos(a.data), (a,), lambda g: (-g * xp.sin(a.data),), "cos")


# --------------------------------------------------------- joining and choosing
def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis; the VJP splits the gradient back."""
    xp = backend.xp()
    tensors = [as_tensor(t) for t in tensors]
    out = xp.concatenate([t.data for t in tensors], axis=axis)
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def vjp(g):
        return tuple(xp.split(g, [int(b) for b in bounds], axis=axis))

    return Tensor.from_op(out, tuple(tensors), vjp, "concatenate")


def stack(tensors, axis=0) -> Tensor:
    """Join tensors along a new axis."""
    xp = backend.xp()
    tensors = [as_tensor(t) for t in tensors]
    out = xp.stack([t.data for t in tensors], axis=axis)

    def vjp(g):
        return tuple(xp.take(g, i, axis=axis) for i in range(len(tensors)))

    return Tensor.from_op(out, tuple(tensors), vjp, "stack")


def where(condition, a, b) -> Tensor:
    """a where condition holds, else b; each side's gradient is masked."""
    xp = backend.xp()
    cond = condition.data if isinstance(condition, Tensor) else xp.asarray(condition)
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    out = xp.where(cond, a.data, b.data)

    def vjp(g):
        return unbroadcast(g * cond, a.shape), unbroadcast(g * ~cond, b.shape)

    return Tensor.from_op(out, (a, b), vjp, "where")


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b); the gradient goes to the larger (to a on ties)."""
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    return where(a.data >= b.data, a, b)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b); the gradient goes to the smaller (to a on ties)."""
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    return where(a.data <= b.data, a, b)
