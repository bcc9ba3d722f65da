"""Activation functions, as functions on tensors and as modules.

The table (neural-nets notes, "Activation functions"; Lecture 3):

    step(x)      = 1 if x > 0 else 0         derivative 0 (almost everywhere)
    sign(x)      = +1, 0 or -1               derivative 0
    sigmoid(x)   = 1 / (1 + e^-x)            s (1 - s)
    tanh(x)                                   1 - tanh^2
    hardtanh(x)  = max(-1, min(1, x))         1 on (-1, 1), else 0
    ramp(x)      = hardtanh(x)  (the notes print min(-1, max(1, x)), which is always -1)
    relu(x)      = max(0, x)                  1 for x > 0
    leaky_relu   = x if x > 0 else a x        1 or a
    elu(x)       = x if x > 0 else a (e^x - 1)   1 or a e^x
    gelu(x)      = x Phi(x)                   Phi(x) + x phi(x)   (Phi, phi: the standard normal's cdf, pdf)
    softplus(x)  = log(1 + e^x)               sigmoid(x)
    gaussian(r)  = e^{-r^2}                   -2 r e^{-r^2}
    ricker(r)    = (1 - r^2) e^{-r^2 / 2}     (r^3 - 3 r) e^{-r^2 / 2}
"""
from __future__ import annotations

import math

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn.module import Module, Parameter, as_input, check_last_dim
from nnkit.nn import init


# ---------------------------------------------------------------- functions
def step(x: Tensor) -> Tensor:
    """Heaviside step 1[x > 0]: the perceptron's activation.  Its gradient is zero."""
    xp = backend.xp()
    return Tensor.from_op((x.data > 0).astype(x.dtype), (x,), lambda g: (xp.zeros_like(g),), "step")


def sign(x: Tensor) -> Tensor:
    """sign(x) in {-1, 0, 1}; gradient zero."""
    xp = backend.xp()
    return Tensor.from_op(xp.sign(x.data), (x,), lambda g: (xp.zeros_like(g),), "sign")


def hardtanh(x: Tensor) -> Tensor:
    """max(-1, min(1, x)), also called the ramp."""
    return ops.clip(x, -1.0, 1.0)


ramp = hardtanh


def leaky_relu(x: Tensor, slope: float = 0.01) -> Tensor:
    """x for x > 0, slope * x otherwise."""
    return ops.where(x.data > 0, x, x * slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: x for x > 0, alpha (e^x - 1) otherwise.

    Shapes: any -> the same.  Derivative: 1 for x > 0, alpha e^x otherwise.
    Negative inputs saturate smoothly at -alpha, which pushes mean activations
    towards zero (Clevert, Unterthiner & Hochreiter, 2016; not in the course's
    sources).
    """
    xp = backend.xp()
    positive = x.data > 0
    below = xp.minimum(x.data, 0)  # e^x only where x <= 0: no overflow for large x
    out = xp.where(positive, x.data, alpha * xp.expm1(below))
    return Tensor.from_op(out, (x,), lambda g: (g * xp.where(positive, 1, alpha * xp.exp(below)),), "elu")


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: x Phi(x), Phi the standard normal's cumulative distribution.

    Shapes: any -> the same.

    - ``approximate="none"`` (exact): Phi(x) = (1 + erf(x / sqrt 2)) / 2, and
      d/dx = Phi(x) + x phi(x) with phi(x) = e^{-x^2/2} / sqrt(2 pi).
    - ``approximate="tanh"``: Phi(x) ~ (1 + tanh(u)) / 2 with
      u = sqrt(2/pi) (x + 0.044715 x^3); d/dx = (1 + t) / 2 + x (1 - t^2) u'(x) / 2
      with t = tanh(u), u'(x) = sqrt(2/pi) (1 + 3 * 0.044715 x^2).  The two
      differ by less than 5e-4.

    Hendrycks & Gimpel (2016), "Gaussian Error Linear Units"; the names of the
    two forms follow PyTorch's ``GELU(approximate=...)``.  Not in the course's sources.
    """
    xp = backend.xp()
    z = x.data
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (z + 0.044715 * z ** 3)
        t = xp.tanh(u)
        out = 0.5 * z * (1 + t)
        slope = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
    elif approximate == "none":
        cdf = 0.5 * (1 + backend.special().erf(z / math.sqrt(2)))
        out = z * cdf
        slope = cdf + z * xp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Tensor.from_op(out, (x,), lambda g: (g * slope,), "gelu")


def gaussian_rbf(r: Tensor) -> Tensor:
    """phi(r) = e^{-r^2}: peak 1 at r = 0, phi(1) = 1/e."""
    return ops.exp(-(r * r))


def ricker(r: Tensor) -> Tensor:
    """The Ricker ("Mexican hat") wavelet (1 - r^2) e^{-r^2/2}: zeros at r = +-1."""
    r2 = r * r
    return (1 - r2) * ops.exp(r2 * -0.5)


sigmoid, tanh, relu, softplus = ops.sigmoid, ops.tanh, ops.relu, ops.softplus
softmax, log_softmax = ops.softmax, ops.log_softmax


# ------------------------------------------------------------------ modules
def _simple(name, fn, doc):
    def forward(self, x):
        return fn(as_input(x, self))

    return type(name, (Module,), {"forward": forward, "__doc__": doc})


Step = _simple("Step", step, "Module form of :func:`step`.")
Sign = _simple("Sign", sign, "Module form of :func:`sign`.")
Sigmoid = _simple("Sigmoid", ops.sigmoid, "sigma(x) = 1 / (1 + e^-x).")
Tanh = _simple("Tanh", ops.tanh, "tanh(x).")
HardTanh = _simple("HardTanh", hardtanh, "max(-1, min(1, x)).")
Ramp = HardTanh
ReLU = _simple("ReLU", ops.relu, "max(0, x).")
Softplus = _simple("Softplus", ops.softplus, "log(1 + e^x).")
GaussianRBF = _simple("GaussianRBF", gaussian_rbf, "e^{-x^2}.")
Ricker = _simple("Ricker", ricker, "(1 - x^2) e^{-x^2/2}.")


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu(as_input(x, self), self.negative_slope)


class ELU(Module):
    """Module form of :func:`elu`: x for x > 0, ``alpha * (e^x - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return elu(as_input(x, self), self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(Module):
    """Module form of :func:`gelu`: x Phi(x), exact (``approximate="none"``) or with tanh."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(as_input(x, self), self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class PReLU(Module):
    """Leaky ReLU whose slope ``a`` is learned (He et al., 2015)."""

    def __init__(self, init_slope: float = 0.25, dtype=None):
        super().__init__()
        self.slope = Parameter(backend.xp().full((1,), init_slope, dtype=dtype or backend.default_dtype()))

    def forward(self, x):
        x = as_input(x, self)
        return ops.where(x.data > 0, x, x * self.slope)


class RReLU(Module):
    """Randomized leaky ReLU (Xu et al., 2015).

    In training each entry draws its slope from U(lower, upper); in
    evaluation the slope is fixed at the mean (lower + upper) / 2.  The notes
    give no distribution; U(1/8, 1/3) is the paper's choice.
    """

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3):
        super().__init__()
        self.lower, self.upper = lower, upper

    def forward(self, x):
        x = as_input(x, self)
        if not self.training:
            return leaky_relu(x, (self.lower + self.upper) / 2)
        slopes = backend.to_device(backend.rng().uniform(self.lower, self.upper, size=x.shape).astype(x.dtype))
        return ops.where(x.data > 0, x, x * Tensor(slopes))


class Softmax(Module):
    """softmax along ``axis``."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return ops.softmax(as_input(x, self), axis=self.axis)


class Maxout(Module):
    """max_k (x W_k^T + b_k): the maximum of ``pieces`` affine maps (Goodfellow et al., 2013).

    Shapes: x (N, in_features) -> (N, out_features).  With two pieces and one
    of them fixed at zero it is a ReLU.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, dtype=None):
        super().__init__()
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        dtype = dtype or backend.default_dtype()
        self.weight = Parameter(init.xavier_uniform((pieces * out_features, in_features), dtype=dtype))
        self.bias = Parameter(backend.xp().zeros(pieces * out_features, dtype=dtype))

    def forward(self, x):
        x = as_input(x, self)
        check_last_dim(x, self.in_features, self)
        z = x @ self.weight.T + self.bias
        z = z.reshape(*x.shape[:-1], self.pieces, self.out_features)
        return z.max(axis=-2)

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}, pieces={self.pieces}"


class RBFLayer(Module):
    """f(x)_j = sum_i a_ji phi(||b_i * (x - c_i)||) with centres c, scales b, coefficients a.

    Shapes: x (N, D) -> (N, out_features); centres (K, D).
    (Neural-nets notes, "Radial basis function networks".)
    """

    def __init__(self, in_features: int, n_centres: int, out_features: int = 1, phi=gaussian_rbf, dtype=None):
        super().__init__()
        dtype = dtype or backend.default_dtype()
        xp, rng = backend.xp(), backend.rng()
        self.in_features, self.phi = in_features, phi
        self.centres = Parameter(xp.asarray(rng.normal(size=(n_centres, in_features)).astype(dtype)))
        self.scales = Parameter(xp.ones((n_centres, 1), dtype=dtype))
        self.out = Parameter(init.xavier_uniform((out_features, n_centres), dtype=dtype))

    def forward(self, x):
        x = as_input(x, self)
        check_last_dim(x, self.in_features, self)
        diff = (x.reshape(x.shape[0], 1, self.in_features) - self.centres) * self.scales  # (N, K, D)
        r = ops.sqrt((diff * diff).sum(axis=-1) + 1e-12)
        return self.phi(r) @ self.out.T
