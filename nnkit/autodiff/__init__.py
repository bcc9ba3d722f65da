"""Reverse-mode automatic differentiation on arrays.

``Tensor`` records the operations applied to it on a tape (``tape``);
``backward()`` runs the vector-Jacobian products in reverse.  ``tensor`` holds
the class and the primitives behind its operators, ``ops`` every primitive.
"""
from nnkit.autodiff.tape import is_grad_enabled, no_grad
from nnkit.autodiff.tensor import Tensor
from nnkit.autodiff import ops
from nnkit.autodiff.ops import (
    abs, add, as_tensor, clip, concatenate, cos, div, exp, log, log_softmax, logsumexp,
    linear, matmul, max, maximum, mean, min, minimum, mul, neg, power, relu, reshape, sigmoid,
    sin, softmax, softplus, sqrt, stack, sub, sum, tanh, transpose, unbroadcast, where,
)
from nnkit.autodiff.functional import grad, value_and_grad


def tensor(data, requires_grad=False, dtype=None) -> Tensor:
    """Create a Tensor (shorthand for ``Tensor(...)``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


__all__ = [
    "Tensor", "tensor", "no_grad", "is_grad_enabled", "grad", "value_and_grad", "ops",
    "abs", "add", "as_tensor", "clip", "concatenate", "cos", "div", "exp", "log", "log_softmax",
    "linear", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "neg", "power",
    "relu", "reshape", "sigmoid", "sin", "softmax", "softplus", "sqrt", "stack", "sub", "sum",
    "tanh", "transpose", "unbroadcast", "where",
]
