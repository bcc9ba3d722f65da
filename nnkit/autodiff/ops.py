"""Primitive operations, each with its vector-Jacobian product beside it.

For an operation ``y = f(x)`` and the gradient ``g = dL/dy`` arriving from
above, the VJP returns ``dL/dx = g^T (dy/dx)`` without ever forming the
Jacobian (Lecture 6, §3).  Every primitive below follows the same pattern:

    compute the output array
    def vjp(g): return one gradient per input
    return Tensor.from_op(out, inputs, vjp, name)

Elementwise operations broadcast like NumPy.  Their VJP must therefore sum
the gradient over the axes that broadcasting stretched (:func:`unbroadcast`).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff.tensor import _FOREIGN, Tensor, check_backend


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; plain numbers take the dtype of ``like`` (if given).

    Under a backend other than NumPy, an array of another library is refused
    (BackendMismatchError): operands are never moved behind the user's back.
    """
    if isinstance(x, Tensor):
        if _FOREIGN[0]:
            check_backend("an operation", [x.data])
        return x
    if _FOREIGN[0] and hasattr(x, "shape") and not isinstance(x, np.generic):  # numbers are fine
        check_backend("an operation", [x])
    dtype = None
    if like is not None and like.data.dtype.kind == "f" and np.ndim(x) == 0:
        dtype = like.data.dtype
    return Tensor(x, dtype=dtype)


def unbroadcast(g, shape: tuple):
    """Sum ``g`` down to ``shape``, undoing NumPy broadcasting.

    Broadcasting prepends axes and stretches axes of length 1; the gradient of
    a stretched input is the sum over the copies it was stretched into.
    """
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


# ------------------------------------------------------------------ arithmetic
def add(a, b) -> Tensor:
    """a + b (broadcasting)."""
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    out = a.data + b.data
    return Tensor.from_op(out, (a, b), lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)), "add")


def sub(a, b) -> Tensor:
    """a - b (broadcasting)."""
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    out = a.data - b.data
    return Tensor.from_op(out, (a, b), lambda g: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)), "sub")


def mul(a, b) -> Tensor:
    """a * b elementwise: d/da = b, d/db = a."""
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    out = a.data * b.data

    def vjp(g):
        ga = unbroadcast(g * b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * a.data, b.shape) if b.requires_grad else None
        return ga, gb

    return Tensor.from_op(out, (a, b), vjp, "mul")


def div(a, b) -> Tensor:
    """a / b elementwise: d/da = 1/b, d/db = -a/b^2."""
    a, b = as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)
    out = a.data / b.data

    def vjp(g):
        ga = unbroadcast(g / b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(-g * out / b.data, b.shape) if b.requires_grad else None
        return ga, gb

    return Tensor.from_op(out, (a, b), vjp, "div")


def neg(a) -> Tensor:
    """-a."""
    return Tensor.from_op(-a.data, (a,), lambda g: (-g,), "neg")


def power(a, p) -> Tensor:
    """a ** p.  With a constant p: d/da = p a^(p-1).  With a tensor p (a > 0): d/dp = a^p log a."""
    a = as_tensor(a)
    if isinstance(p, Tensor):
        out = a.data ** p.data

        def vjp(g):
            ga = unbroadcast(g * p.data * a.data ** (p.data - 1), a.shape) if a.requires_grad else None
            gp = unbroadcast(g * out * backend.xp().log(a.data), p.shape) if p.requires_grad else None
            return ga, gp

        return Tensor.from_op(out, (a, p), vjp, "pow")
    out = a.data ** p
    return Tensor.from_op(out, (a,), lambda g: (g * p * a.data ** (p - 1),), "pow")


def matmul(a, b) -> Tensor:
    """a @ b.  For 2-D arrays: dL/da = g b^T, dL/db = a^T g.

    Shapes: (..., n, k) @ (..., k, m) -> (..., n, m); 1-D operands are treated
    as a row (left) or a column (right) vector, as in NumPy.
    """
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: scalar operands are not allowed; use * instead")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({k_a} != {k_b})")
    out = a.data @ b.data

    def vjp(g):
        xp = backend.xp()
        A = a.data[None, :] if a.ndim == 1 else a.data
        B = b.data[:, None] if b.ndim == 1 else b.data
        # view g in the matrix form (..., n, m) that 1-D operands were promoted to
        G = g.reshape(np.broadcast_shapes(A.shape[:-2], B.shape[:-2]) + (A.shape[-2], B.shape[-1]))
        ga = gb = None
        if a.requires_grad:
            ga = G @ xp.swapaxes(B, -1, -2)
            ga = unbroadcast(ga, A.shape).reshape(a.shape)
        if b.requires_grad:
            gb = xp.swapaxes(A, -1, -2) @ G
            gb = unbroadcast(gb, B.shape).reshape(b.shape)
        return ga, gb

    return Tensor.from_op(out, (a, b), vjp, "matmul")


def linear(x, weight, bias=None) -> Tensor:
    """The affine map x W^T + b as one fused primitive.

    Shapes: x (..., in), weight (out, in), bias (out,) -> (..., out).
    VJP: dL/dx = g W, dL/dW = g^T x (summed over leading axes), dL/db = sum of g.
    One node instead of three (transpose, matmul, add) keeps small networks fast.
    """
    if _FOREIGN[0]:
        check_backend("linear()", [t.data for t in (x, weight, bias) if t is not None])
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
def exp(a) -> Tensor:
    """e^a; its derivative is itself."""
    out = backend.xp().exp(a.data)
    return Tensor.from_op(out, (a,), lambda g: (g * out,), "exp")


def log(a) -> Tensor:
    """Natural log; d/da = 1/a."""
    out = backend.xp().log(a.data)
    return Tensor.from_op(out, (a,), lambda g: (g / a.data,), "log")


def sqrt(a) -> Tensor:
    """sqrt(a); d/da = 1 / (2 sqrt(a))."""
    out = backend.xp().sqrt(a.data)
    return Tensor.from_op(out, (a,), lambda g: (g / (2 * out),), "sqrt")


def abs(a) -> Tensor:  # noqa: A001 - the field's name
    """|a|; d/da = sign(a) (0 at 0)."""
    xp = backend.xp()
    return Tensor.from_op(xp.abs(a.data), (a,), lambda g: (g * xp.sign(a.data),), "abs")


def sin(a) -> Tensor:
    """sin(a); d/da = cos(a)."""
    xp = backend.xp()
    return Tensor.from_op(xp.sin(a.data), (a,), lambda g: (g * xp.cos(a.data),), "sin")


def cos(a) -> Tensor:
    """cos(a); d/da = -sin(a)."""
    xp = backend.xp()
    return Tensor.from_op(xp.cos(a.data), (a,), lambda g: (-g * xp.sin(a.data),), "cos")


def tanh(a) -> Tensor:
    """tanh(a); d/da = 1 - tanh(a)^2."""
    out = backend.xp().tanh(a.data)
    return Tensor.from_op(out, (a,), lambda g: (g * (1 - out * out),), "tanh")


def sigmoid_array(x):
    """The logistic function 1 / (1 + e^-x), computed without overflow."""
    xp = backend.xp()
    e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(a) -> Tensor:
    """sigma(a) = 1 / (1 + e^-a); d/da = sigma(a) (1 - sigma(a))."""
    out = sigmoid_array(a.data)
    return Tensor.from_op(out, (a,), lambda g: (g * out * (1 - out),), "sigmoid")


def relu(a) -> Tensor:
    """max(0, a); d/da = 1 where a > 0, else 0."""
    mask = a.data > 0
    return Tensor.from_op(a.data * mask, (a,), lambda g: (g * mask,), "relu")


def softplus(a) -> Tensor:
    """log(1 + e^a), computed stably; d/da = sigma(a)."""
    xp = backend.xp()
    out = xp.maximum(a.data, 0) + xp.log1p(xp.exp(-xp.abs(a.data)))
    return Tensor.from_op(out, (a,), lambda g: (g * sigmoid_array(a.data),), "softplus")


def clip(a, lo=None, hi=None) -> Tensor:
    """a limited to [lo, hi]; the gradient passes only where a was inside."""
    xp = backend.xp()
    out = xp.clip(a.data, lo, hi)
    inside = xp.ones_like(a.data, dtype=bool)
    if lo is not None:
        inside &= a.data >= lo
    if hi is not None:
        inside &= a.data <= hi
    return Tensor.from_op(out, (a,), lambda g: (g * inside,), "clip")


def astype(a, dtype) -> Tensor:
    """The same values in another floating-point precision."""
    old = a.data.dtype
    return Tensor.from_op(a.data.astype(dtype), (a,), lambda g: (g.astype(old),), "astype")


# ------------------------------------------------------------------ reductions
def _norm_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(ax % ndim for ax in axis)


def _expand(g, shape, axes, keepdims):
    """Give a reduced gradient back the reduced axes so that it broadcasts to ``shape``."""
    if not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return backend.xp().broadcast_to(g, shape)


def sum(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes by default); each input gets the output's gradient."""
    axes = _norm_axis(axis, a.ndim)
    out = a.data.sum(axis=axes, keepdims=keepdims)
    return Tensor.from_op(out, (a,), lambda g: (_expand(g, a.shape, axes, keepdims),), "sum")


def mean(a, axis=None, keepdims=False) -> Tensor:
    """Mean over ``axis``; each input gets 1/n of the output's gradient."""
    axes = _norm_axis(axis, a.ndim)
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    out = a.data.mean(axis=axes, keepdims=keepdims)
    return Tensor.from_op(out, (a,), lambda g: (_expand(g, a.shape, axes, keepdims) / n,), "mean")


def _extremum(a, axis, keepdims, pick):
    axes = _norm_axis(axis, a.ndim)
    out = pick(a.data, axis=axes, keepdims=True)

    def vjp(g):
        # the gradient goes to the winning entries; ties share it equally
        mask = (a.data == out).astype(a.data.dtype)
        count = mask.sum(axis=axes, keepdims=True)
        return (_expand(g, a.shape, axes, keepdims) * (mask / count),)

    result = out if keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return Tensor.from_op(result, (a,), vjp, pick.__name__)


def max(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``: a switch that routes the gradient to the largest entry."""
    return _extremum(a, axis, keepdims, backend.xp().max)


def min(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``."""
    return _extremum(a, axis, keepdims, backend.xp().min)


def logsumexp(a, axis=-1, keepdims=False) -> Tensor:
    """log sum_i e^{a_i}, shifted by the maximum so that nothing overflows.

    Its gradient is the softmax of ``a``.
    """
    xp = backend.xp()
    axes = _norm_axis(axis, a.ndim)
    m = a.data.max(axis=axes, keepdims=True)
    s = xp.log(xp.exp(a.data - m).sum(axis=axes, keepdims=True)) + m
    out = s if keepdims else s.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return Tensor.from_op(out, (a,), lambda g: (_expand(g, a.shape, axes, keepdims) * xp.exp(a.data - s),), "logsumexp")


def softmax(a, axis=-1) -> Tensor:
    """softmax(a)_i = e^{a_i} / sum_j e^{a_j}, stable.

    VJP: dL/da = y * (g - sum(g * y)), with y the softmax output.
    """
    xp = backend.xp()
    e = xp.exp(a.data - a.data.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return Tensor.from_op(y, (a,), lambda g: (y * (g - (g * y).sum(axis=axis, keepdims=True)),), "softmax")


def log_softmax(a, axis=-1) -> Tensor:
    """log softmax(a) = a - logsumexp(a), stable.

    VJP: dL/da = g - softmax(a) * sum(g).
    """
    xp = backend.xp()
    shifted = a.data - a.data.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return Tensor.from_op(out, (a,), lambda g: (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),), "log_softmax")


# ----------------------------------------------------------- shape operations
def reshape(a, *shape) -> Tensor:
    """The same values in a new shape (one entry may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = a.data.reshape(shape)
    except ValueError as err:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} into {shape}") from err
    return Tensor.from_op(out, (a,), lambda g: (g.reshape(a.shape),), "reshape")


def transpose(a, axes=None) -> Tensor:
    """Permute the axes (reverse them by default); the VJP applies the inverse permutation."""
    xp = backend.xp()
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    inverse = tuple(int(i) for i in np.argsort(axes))
    return Tensor.from_op(xp.transpose(a.data, axes), (a,), lambda g: (xp.transpose(g, inverse),), "transpose")


def getitem(a, index) -> Tensor:
    """a[index] for any NumPy index; the VJP scatters the gradient back, adding repeats."""
    xp = backend.xp()
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    out = a.data[index]

    def vjp(g):
        full = xp.zeros_like(a.data)
        xp.add.at(full, index, g)  # add.at adds repeated indices instead of overwriting
        return (full,)

    return Tensor.from_op(out, (a,), vjp, "getitem")


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


# ----------------------------------------------- operators and methods on Tensor
def _install_methods():
    T = Tensor
    T.__add__ = lambda self, other: add(self, other)
    T.__radd__ = lambda self, other: add(other, self)
    T.__sub__ = lambda self, other: sub(self, other)
    T.__rsub__ = lambda self, other: sub(other, self)
    T.__mul__ = lambda self, other: mul(self, other)
    T.__rmul__ = lambda self, other: mul(other, self)
    T.__truediv__ = lambda self, other: div(self, other)
    T.__rtruediv__ = lambda self, other: div(other, self)
    T.__neg__ = neg
    T.__pow__ = power
    T.__rpow__ = lambda self, other: power(as_tensor(other, self), self)
    T.__matmul__ = lambda self, other: matmul(self, other)
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__getitem__ = getitem
    # comparisons give plain boolean arrays: they have no gradient
    T.__lt__ = lambda self, other: self.data < as_tensor(other).data
    T.__le__ = lambda self, other: self.data <= as_tensor(other).data
    T.__gt__ = lambda self, other: self.data > as_tensor(other).data
    T.__ge__ = lambda self, other: self.data >= as_tensor(other).data
    T.exp, T.log, T.sqrt, T.abs = exp, log, sqrt, abs
    T.tanh, T.sigmoid, T.relu, T.softplus = tanh, sigmoid, relu, softplus
    T.sum, T.mean, T.max, T.min = sum, mean, max, min
    T.reshape, T.clip = reshape, clip
    T.transpose = lambda self, *axes: transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None))
    T.T = property(lambda self: transpose(self))
    T.softmax, T.log_softmax, T.logsumexp = softmax, log_softmax, logsumexp


_install_methods()
