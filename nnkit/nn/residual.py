"""Residual blocks: y = x + F(x) (He, Zhang, Ren & Sun, 2016; Lecture 14, §4).

The block adds its input to a small network's output.  Backprop through it gives

    dL/dx = dL/dy (I + dF/dx)                       (Lecture 14, eq. (11))

so the gradient always has the identity path, however small dF/dx is, and a
stack of many blocks neither explodes nor vanishes as a plain stack does.
With F's last layer at zero the block is exactly the identity.
"""
from __future__ import annotations

from nnkit.autodiff import Tensor
from nnkit.nn.activations import ReLU
from nnkit.nn.linear import Linear
from nnkit.nn.module import Module, Sequential, ShapeError


def _name(layer) -> str:
    """A one-line name for error messages, e.g. ``AdditiveAttention(query_size=3, ...)``."""
    return f"{type(layer).__name__}({layer.extra_repr()})"


class ResidualBlock(Module):
    """y = x + F(x), by default F(x) = W2 phi(W1 x + b1) + b2 (Lecture 14, eq. (9)).

    Shapes: x (..., dim) -> y (..., dim).  ``hidden`` is the width of F's hidden
    layer (dim by default); ``activation`` a module (ReLU by default);
    ``residual`` any module mapping (..., dim) to (..., dim) replaces F;
    ``zero_init=True`` starts W2 and b2 at zero, so the block starts as the identity.
    """

    def __init__(self, dim: int, hidden: int | None = None, activation: Module | None = None,
                 residual: Module | None = None, zero_init: bool = False, dtype=None):
        super().__init__()
        self.dim = int(dim)
        if residual is None:
            hidden = hidden or dim
            last = Linear(hidden, dim, dtype=dtype)
            if zero_init:
                last.weight.data[...] = 0
            residual = Sequential(Linear(dim, hidden, init_fn="he", dtype=dtype), activation or ReLU(), last)
        self.residual = residual

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ShapeError(f"{_name(self)} expects input of shape (..., {self.dim}), got shape {x.shape}")
        fx = self.residual(x)
        if fx.shape != x.shape:
            raise ShapeError(f"{_name(self)}: the residual branch must keep the shape; input {x.shape}, F(x) {fx.shape}")
        return x + fx

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
