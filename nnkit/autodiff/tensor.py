"""The ``Tensor``, an array that remembers how it was computed, and its primitives.

A Tensor is a :class:`~nnkit.autodiff.tape.Node` of the tape (``.backward()``,
``.grad``) with the conveniences of an array: ``.shape``, ``.dtype``, indexing,
Python's operators (``a + b``, ``a @ b``, ``a ** 2``) and methods such as
``a.sum()`` or ``a.reshape(...)``.  Each operator and method calls one of the
primitives defined after the class.

For an operation ``y = f(x)`` and the gradient ``g = dL/dy`` arriving from
above, a primitive's VJP returns ``dL/dx = g^T (dy/dx)`` without ever forming
the Jacobian (Lecture 6, §3).  Every primitive follows the same pattern:

    compute the output array
    def vjp(g): return one gradient per input
    return Tensor.from_op(out, inputs, vjp, name)

Elementwise operations broadcast like NumPy.  Their VJP must therefore sum
the gradient over the axes that broadcasting stretched (:func:`unbroadcast`).
:mod:`nnkit.autodiff.ops` gathers these primitives with the ones no operator
uses (``linear``, ``concatenate``, ``where``, ...).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff.tape import Node


def _as_array(data, dtype=None):
    xp = backend.xp()
    if isinstance(data, Tensor):
        data = data.data
    # integers stay integers (labels, indices); floats keep their precision
    return xp.asarray(data, dtype=dtype)


class Tensor(Node):
    """An n-dimensional array with an optional gradient.

    Parameters
    ----------
    data : array_like
        The values.  Lists and scalars become arrays of the backend in use.
    requires_grad : bool
        If True, ``backward()`` fills ``.grad`` with d(output)/d(this).

    Attributes
    ----------
    data : ndarray
    grad : ndarray or None, same shape as ``data``
    """

    __array_priority__ = 1000  # so that ``ndarray * Tensor`` calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._parents: tuple = ()
        self._vjp = None
        self._op = None
        self._retain = False

    # ---------------------------------------------------------- conveniences
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def numpy(self):
        """The values as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def detach(self) -> "Tensor":
        """The same values, cut off from the graph."""
        return Tensor(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(backend.to_numpy(self.data), precision=4, separator=", ", threshold=20)
        return f"Tensor({body}{extra})"

    def __hash__(self):  # tensors are used as dictionary keys by identity
        return id(self)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __array__(self, dtype=None, copy=None):
        if backend.is_foreign() and not isinstance(self.data, np.ndarray):  # as CuPy: no silent copy to the host
            raise TypeError(
                f"implicit conversion of a Tensor on the {backend.name()!r} backend to a NumPy array; "
                "call .numpy() or nnkit.to_numpy(...) to copy it to the host"
            )
        arr = backend.to_numpy(self.data)
        return arr if dtype is None else arr.astype(dtype)

    # --------------------------------------------- operators: each calls a primitive below
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __neg__(self):
        return neg(self)

    def __pow__(self, exponent):
        return power(self, exponent)

    def __rpow__(self, base):
        return power(as_tensor(base, self), self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __getitem__(self, index):
        return getitem(self, index)

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, other):
        return self.data < as_tensor(other).data

    def __le__(self, other):
        return self.data <= as_tensor(other).data

    def __gt__(self, other):
        return self.data > as_tensor(other).data

    def __ge__(self, other):
        return self.data >= as_tensor(other).data

    # ------------------------------- methods: the primitive of the same name, below
    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def sqrt(self):
        return sqrt(self)

    def abs(self):
        return abs(self)

    def tanh(self):
        return tanh(self)

    def sigmoid(self):
        return sigmoid(self)

    def relu(self):
        return relu(self)

    def softplus(self):
        return softplus(self)

    def clip(self, lo=None, hi=None):
        return clip(self, lo, hi)

    def astype(self, dtype):
        return astype(self, dtype)

    def sum(self, axis=None, keepdims=False):
        return sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return min(self, axis, keepdims)

    def logsumexp(self, axis=-1, keepdims=False):
        return logsumexp(self, axis, keepdims)

    def softmax(self, axis=-1):
        return softmax(self, axis)

    def log_softmax(self, axis=-1):
        return log_softmax(self, axis)

    def reshape(self, *shape):
        return reshape(self, *shape)

    def transpose(self, *axes):
        """``t.transpose()`` reverses the axes; ``t.transpose(1, 0, 2)`` or ``t.transpose((1, 0, 2))`` permutes them."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return transpose(self, tuple(axes) or None)

    @property
    def T(self):
        return transpose(self)


# ================================================================== primitives
# The functions behind Tensor's operators and methods; nnkit.autodiff.ops adds the rest.
def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; plain numbers take the dtype of ``like`` (if given).

    Under a backend other than NumPy, an array of another library is refused
    (BackendMismatchError): operands are never moved behind the user's back.
    """
    if isinstance(x, Tensor):
        if backend.is_foreign():
            backend.check_arrays("an operation", [x.data])
        return x
    if backend.is_foreign() and hasattr(x, "shape") and not isinstance(x, np.generic):  # numbers are fine
        backend.check_arrays("an operation", [x])
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
