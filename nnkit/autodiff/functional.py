"""Functional gradients in the style of the lecture notes' Autograd.

``grad(f)`` is a new function that returns df/dx instead of f(x):

    >>> df = grad(lambda x: (x ** 2).sum())
    >>> df(np.array([1.0, 2.0]))
    array([2., 4.])

(Lecture 6, "Automatic differentiation", §4.)
"""
from __future__ import annotations

from nnkit.autodiff.tensor import Tensor


def value_and_grad(f, argnums=0):
    """Return a function computing ``(f(*args), df/d args[argnums])``.

    ``f`` must return a scalar Tensor.  ``argnums`` is an int or a tuple of
    ints; the gradients are plain arrays of the arguments' shapes.
    """
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    def wrapped(*args, **kwargs):
        args = list(args)
        watched = []
        for i in nums:
            data = args[i].data if isinstance(args[i], Tensor) else args[i]
            t = Tensor(data, requires_grad=True)
            if t.data.dtype.kind != "f":
                t = Tensor(t.data.astype(float), requires_grad=True)
            args[i] = t
            watched.append(t)
        out = f(*args, **kwargs)
        if not isinstance(out, Tensor) or out.size != 1:
            shape = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"grad(f): f must return a scalar Tensor, got {shape}")
        out.backward()
        grads = [t.grad if t.grad is not None else t.data * 0 for t in watched]
        return out.item(), (grads[0] if single else tuple(grads))

    return wrapped


def grad(f, argnums=0):
    """Return a function computing the gradient of scalar ``f`` w.r.t. ``args[argnums]``."""
    vg = value_and_grad(f, argnums)
    return lambda *args, **kwargs: vg(*args, **kwargs)[1]
