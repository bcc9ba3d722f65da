"""Dropout: a layer that behaves differently in training and evaluation.

(Batch normalization, the other such layer, is in :mod:`nnkit.nn.normalization`.)
"""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import Tensor
from nnkit.nn.module import Module, as_input


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
