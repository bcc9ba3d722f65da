"""The fully connected (affine) layer."""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import ops
from nnkit.nn import init
from nnkit.nn.module import Module, Parameter, as_input, check_last_dim


class Linear(Module):
    """y = x W^T + b.

    Shapes: x (..., in_features) -> y (..., out_features);
    weight (out_features, in_features), bias (out_features,), as in PyTorch.
    (Lecture 3, "Multilayer perceptrons"; hacker's guide ch. 2, "a 2-layer net".)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init_fn="xavier", dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = dtype or backend.default_dtype()
        make = init.get(init_fn) if isinstance(init_fn, str) else init_fn
        self.weight = Parameter(make((out_features, in_features), dtype=dtype))
        self.bias = Parameter(backend.xp().zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x):
        x = as_input(x, self, self.weight.dtype)
        check_last_dim(x, self.in_features, self)
        if x.dtype != self.weight.dtype and x._vjp is None and not x.requires_grad:
            x = x.astype(self.weight.dtype)  # raw data takes the layer's precision
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
