"""The ``Tensor``: an array that remembers how it was computed.

Every operation on tensors that require gradients records a node on an
implicit tape: the output, its parent tensors, and a *vector-Jacobian product*
(VJP) that maps the gradient of the output to one gradient per parent.
``backward()`` walks that graph from the output to the leaves in reverse
topological order, applying each VJP once (Lecture 6, "Automatic
differentiation"; Lecture 4, "Backpropagation").

The walk is iterative, so a chain of a hundred thousand operations needs no
Python recursion.  Gradients *accumulate* in ``.grad`` across calls to
``backward()`` until ``zero_grad()`` clears them, as in PyTorch: this is what
lets a parameter used in several places, or several losses, add up its
gradient contributions.
"""
from __future__ import annotations

import contextlib
import numpy as np

from nnkit import backend

_GRAD_ENABLED = [True]
_FOREIGN = backend.FOREIGN  # [True] while the backend is not NumPy: operands are then checked


def check_backend(where: str, arrays) -> None:
    """Raise BackendMismatchError if an array in ``arrays`` is not of the backend in use.

    Runs only under a backend other than NumPy, so the NumPy path pays nothing.
    """
    kind = backend.array_type()
    for a in arrays:
        if not isinstance(a, kind):
            raise backend.mismatch_error(where, a, kind)


@contextlib.contextmanager
def no_grad():
    """Within this block, operations record nothing on the tape.

    Use it for evaluation and for in-place parameter updates.
    """
    _GRAD_ENABLED.append(False)
    try:
        yield
    finally:
        _GRAD_ENABLED.pop()


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return _GRAD_ENABLED[-1]


def _as_array(data, dtype=None):
    xp = backend.xp()
    if isinstance(data, Tensor):
        data = data.data
    # integers stay integers (labels, indices); floats keep their precision
    return xp.asarray(data, dtype=dtype)


class Tensor:
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

    # ----------------------------------------------------------- graph building
    @classmethod
    def from_op(cls, data, parents, vjp, name: str) -> "Tensor":
        """Wrap the result ``data`` of a primitive.

        ``vjp(g)`` must return one gradient (array or None) per parent, each of
        that parent's shape.  Nothing is recorded when no parent requires a
        gradient or inside :func:`no_grad`.
        """
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out.name = None
        out._op = name
        out._retain = False
        needs = False
        if _GRAD_ENABLED[-1]:
            for p in parents:  # a plain loop: this runs for every operation
                if p.requires_grad:
                    needs = True
                    break
        if _FOREIGN[0]:  # not NumPy: every operand and the result must be the backend's arrays
            check_backend(f"{name}()", [data] + [p.data for p in parents if isinstance(p, Tensor)])
        out.requires_grad = needs
        out._parents = tuple(parents) if needs else ()
        out._vjp = vjp if needs else None
        return out

    # ------------------------------------------------------------ backprop
    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires it.

        ``grad`` defaults to 1 for a scalar; for a non-scalar output pass the
        upstream gradient (same shape as ``self``).
        """
        xp = backend.xp()
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require a gradient: "
                "no input of this computation has requires_grad=True (or it ran under no_grad())."
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without an argument needs a scalar output, got shape {self.shape}; "
                    "pass the upstream gradient, or reduce with .sum() or .mean() first."
                )
            grad = xp.ones_like(self.data)
        else:
            grad = xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(): gradient shape {grad.shape} does not match tensor shape {self.shape}")

        order = self._topological_order()
        grads = {id(self): grad}
        for node in order:  # from the output towards the leaves
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._vjp is None:  # a leaf: accumulate (a copy, so no two leaves share one array)
                node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            if node._retain:
                node.grad = g if node.grad is None else node.grad + g
            for parent, pg in zip(node._parents, node._vjp(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                previous = grads.get(key)
                grads[key] = pg if previous is None else previous + pg

    def _topological_order(self) -> list:
        """Nodes reachable from ``self``, each before every node it was computed from.

        An iterative depth-first search (no recursion limit): a node is appended
        once all of its parents have been appended, then the list is reversed.
        """
        order, visited = [], {id(self)}
        stack = [(self, iter(self._parents))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent.requires_grad and id(parent) not in visited:
                    visited.add(id(parent))
                    stack.append((parent, iter(parent._parents)))
                    break
            else:  # every parent is done
                stack.pop()
                order.append(node)
        order.reverse()
        return order

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def retain_grad(self) -> "Tensor":
        """Keep the gradient of this intermediate tensor after ``backward()``."""
        self._retain = True
        return self

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

    def astype(self, dtype) -> "Tensor":
        from nnkit.autodiff import ops
        return ops.astype(self, dtype)

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
        if _FOREIGN[0] and not isinstance(self.data, np.ndarray):  # as CuPy: no silent copy to the host
            raise TypeError(
                f"implicit conversion of a Tensor on the {backend.name()!r} backend to a NumPy array; "
                "call .numpy() or nnkit.to_numpy(...) to copy it to the host"
            )
        arr = backend.to_numpy(self.data)
        return arr if dtype is None else arr.astype(dtype)
