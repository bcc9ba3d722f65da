"""Batch normalization (Ioffe & Szegedy, 2015; neural-nets notes, "Batch Normalization";
Lecture 7 names it among the remedies for badly conditioned curvature).

For every channel c, over the batch and any positions (time steps, pixels):

    mean_c = average of x[:, c, ...]          var_c = average of (x[:, c, ...] - mean_c)^2
    y[:, c, ...] = gamma_c * (x[:, c, ...] - mean_c) / sqrt(var_c + eps) + beta_c

In training the batch's own mean and (biased) variance are used, and running
averages are kept for evaluation:

    running_mean <- (1 - momentum) * running_mean + momentum * mean_c
    running_var  <- (1 - momentum) * running_var  + momentum * var_c * n / (n - 1)

with n the number of values averaged per channel (the unbiased variance, as in
PyTorch).  ``eval()`` normalizes with the running averages instead.  The layer
is built from autodiff primitives, so its gradient (which flows through the
batch mean and variance as well) is the chain rule applied to the lines above.
"""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn.module import Module, Parameter, ShapeError, as_input


class _BatchNorm(Module):
    """Batch normalization over every axis but the channel axis 1; subclasses name the input ranks."""

    ranks: tuple = ()  # the numbers of dimensions the layer accepts
    layout: str = ""  # how the error message spells the accepted shapes

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=None):
        super().__init__()
        xp = backend.xp()
        dtype = dtype or backend.default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(xp.ones(num_features, dtype=dtype))  # gamma
        self.bias = Parameter(xp.zeros(num_features, dtype=dtype))  # beta
        self.register_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", xp.ones(num_features, dtype=dtype))

    def forward(self, x):
        x = as_input(x, self)
        C = self.num_features
        if x.ndim not in self.ranks or x.shape[1] != C:
            raise ShapeError(f"{self!r} expects input of shape {self.layout.format(C=C)}, got shape {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))  # all but the channels
        per_channel = (1, C) + (1,) * (x.ndim - 2)  # gamma, beta and statistics broadcast in this shape
        if self.training:
            n = x.size // C
            if n < 2:
                raise ShapeError(f"{self!r} needs more than one value per channel in training, got shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean.data.reshape(C)
            self.running_var = (1 - m) * self.running_var + m * var.data.reshape(C) * (n / (n - 1))
            x_hat = centred / ops.sqrt(var + self.eps)
        else:
            xp = backend.xp()
            mean = Tensor(self.running_mean.reshape(per_channel))
            x_hat = (x - mean) / Tensor(xp.sqrt(self.running_var.reshape(per_channel) + self.eps))
        return x_hat * self.weight.reshape(per_channel) + self.bias.reshape(per_channel)

    def extra_repr(self):
        return f"{self.num_features}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of features (N, C) or of sequences (N, C, L).

    Shapes: x (N, C) -> (N, C), statistics over the N examples; or
    x (N, C, L) -> (N, C, L), statistics over the N * L positions of each channel
    (after a ``Conv1d``).  Parameters ``weight`` (gamma) and ``bias`` (beta) of shape (C,).
    """

    ranks = (2, 3)
    layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of images (N, C, H, W), one mean and variance per channel.

    Shapes: x (N, C, H, W) -> (N, C, H, W); statistics over the N * H * W
    pixels of each channel (after a ``Conv2d``).  Parameters ``weight`` (gamma)
    and ``bias`` (beta) of shape (C,).
    """

    ranks = (4,)
    layout = "(N, {C}, H, W)"
