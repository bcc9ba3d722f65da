"""The tape: the graph of operations that ``backward()`` walks in reverse.

Every operation on tensors that require gradients records a node: the output,
its parent nodes, and a *vector-Jacobian product* (VJP) that maps the gradient
of the output to one gradient per parent.  ``backward()`` walks that graph
from the output to the leaves in reverse topological order, applying each VJP
once (Lecture 6, "Automatic differentiation"; Lecture 4, "Backpropagation").

The walk is iterative, so a chain of a hundred thousand operations needs no
Python recursion.  Gradients *accumulate* in ``.grad`` across calls to
``backward()`` until ``zero_grad()`` clears them, as in PyTorch: this is what
lets a parameter used in several places, or several losses, add up its
gradient contributions.

:class:`Node` holds the graph; :class:`nnkit.autodiff.Tensor` is the Node a
user sees, with shapes, operators and methods.
"""
from __future__ import annotations

import contextlib
import threading

from nnkit import backend


class GradMode(threading.local):
    """Whether operations record on the tape: ``enabled`` is False inside :func:`no_grad`.

    One flag per thread, as in PyTorch: a thread starts with recording on, and
    ``no_grad()`` in one thread does not stop another from recording.
    """

    enabled = True


_grad_mode = GradMode()


@contextlib.contextmanager
def no_grad():
    """Within this block, operations record nothing on the tape.

    Use it for evaluation and for in-place parameter updates.  Blocks nest:
    leaving one restores the setting that held before it.
    """
    previous = _grad_mode.enabled
    _grad_mode.enabled = False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return _grad_mode.enabled


class Node:
    """One entry of the tape.

    Attributes
    ----------
    data : ndarray, the value
    grad : ndarray or None, d(output)/d(this) after ``backward()``, same shape as ``data``
    requires_grad : bool, whether ``backward()`` computes a gradient for this node
    name : str or None, a label for drawings of the graph
    _op : str or None, the name of the primitive that made it (None for a leaf)
    _parents : tuple of Nodes, the primitive's inputs (empty when nothing needs a gradient)
    _vjp : the function mapping this node's gradient to one gradient per parent
    _retain : bool, keep ``.grad`` of this intermediate node (:meth:`retain_grad`)

    Subclasses set these in ``__init__`` (a leaf); primitives make nodes with :meth:`from_op`.
    """

    # ----------------------------------------------------------- graph building
    @classmethod
    def from_op(cls, data, parents, vjp, name: str) -> "Node":
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
        if _grad_mode.enabled:
            for p in parents:  # a plain loop: this runs for every operation
                if p.requires_grad:
                    needs = True
                    break
        if backend.is_foreign():  # not NumPy: every operand and the result must be the backend's arrays
            backend.check_arrays(f"{name}()", [data] + [p.data for p in parents if isinstance(p, Node)])
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
                    f"backward() without an argument needs a scalar output, got shape {tuple(self.data.shape)}; "
                    "pass the upstream gradient, or reduce with .sum() or .mean() first."
                )
            grad = xp.ones_like(self.data)
        else:
            grad = xp.asarray(grad.data if isinstance(grad, Node) else grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(
                    f"backward(): gradient shape {grad.shape} does not match tensor shape {tuple(self.data.shape)}"
                )

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

    def retain_grad(self) -> "Node":
        """Keep the gradient of this intermediate tensor after ``backward()``."""
        self._retain = True
        return self
