"""Layers that behave differently in training and evaluation."""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn.module import Module, Parameter, ShapeError, as_input


class Dropout(Module):
    """Inverted dropout (Srivastava et al., 2014).

    In training each unit is kept with probability 1 - p and the kept ones
    are scaled by 1 / (1 - p), so the expected activation is unchanged and
    evaluation needs no rescaling: ``eval()`` makes it the identity.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        x = as_input(x, self)
        if not self.training or self.p == 0:
            return x
        keep = backend.rng().random(x.shape) >= self.p
        mask = backend.to_device((keep / (1 - self.p)).astype(x.dtype))
        return x * Tensor(mask)

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm1d(Module):
    """Batch normalization over the batch axis (Ioffe & Szegedy, 2015).

    y = gamma * (x - mean) / sqrt(var + eps) + beta, with the batch's mean and
    (biased) variance in training, and running averages in evaluation.
    Shapes: x (N, C) -> (N, C).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=None):
        super().__init__()
        xp = backend.xp()
        dtype = dtype or backend.default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(xp.ones(num_features, dtype=dtype))
        self.bias = Parameter(xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", xp.ones(num_features, dtype=dtype))

    def forward(self, x):
        x = as_input(x, self)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ShapeError(f"{self!r} expects input of shape (N, {self.num_features}), got shape {x.shape}")
        if self.training:
            if x.shape[0] < 2:
                raise ShapeError(f"{self!r} needs at least 2 examples per batch in training, got shape {x.shape}")
            mean = x.mean(axis=0)
            centred = x - mean
            var = (centred * centred).mean(axis=0)
            n = x.shape[0]
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean.data
            self.running_var = (1 - m) * self.running_var + m * var.data * n / (n - 1)
            x_hat = centred / ops.sqrt(var + self.eps)
        else:
            x_hat = (x - Tensor(self.running_mean)) / Tensor(backend.xp().sqrt(self.running_var + self.eps))
        return x_hat * self.weight + self.bias

    def extra_repr(self):
        return f"{self.num_features}"
