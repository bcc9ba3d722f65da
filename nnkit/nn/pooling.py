"""Pooling layers (``MaxPool2d``, ``AvgPool2d``) and ``Flatten``.

A pooling unit summarises a small region (a *pooling group*) of one feature
map; the groups are spaced ``stride`` apart, so each map shrinks by about that
factor (Lecture 9, §4; neural-nets notes, "Pooling layers"):

    max:      out[n, c, y, x] = max_{i,j}  x_pad[n, c, y*s + i, x*s + j]
    average:  out[n, c, y, x] = mean_{i,j} x_pad[n, c, y*s + i, x*s + j]

Backward: max-pooling routes each output's gradient to the input that won
(the max gate of the hacker's guide; the first one on ties), average pooling
spreads it evenly over the group.  The fast paths below loop over the kh*kw
offsets inside a group, each step working on whole arrays; ``*_naive``
versions loop over every output entry and are kept for the tests.

Shapes: x (N, C, H, W) -> (N, C, Ho, Wo), Ho = floor((H + 2p - k) / s) + 1.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn._im2col import WORKSPACE, conv_output_size, pad_into
from nnkit.nn.conv import _pair
from nnkit.nn.module import Module, ShapeError, as_input


def _geometry(x, kernel_size, stride, padding, who):
    if x.ndim != 4:
        raise ShapeError(f"{who}: expected input of shape (N, C, H, W), got shape {x.shape}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(kernel_size if stride is None else stride, "stride")
    ph, pw = _pair(padding, "padding")
    if ph * 2 > kh or pw * 2 > kw:
        raise ValueError(f"{who}: padding {padding} must be at most half the kernel size {kernel_size}")
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, 2 * ph), conv_output_size(W, kw, sw, 2 * pw)
    if Ho < 1 or Wo < 1:
        raise ShapeError(f"{who}: the {kh}x{kw} pooling group does not fit the input of shape {x.shape}")
    return (kh, kw), (sh, sw), (ph, ph, pw, pw), (Ho, Wo)


def _zeros_like_layout(tag, shape, dtype, ref):
    """A zeroed (N, C, H, W) scratch array with the memory order of ``ref`` (channels last or not)."""
    N, C, H, W = shape
    if C > 1 and ref.strides[1] < ref.strides[3]:  # ref is stored (N, H, W, C): keep that order
        return WORKSPACE.get(tag + ".nhwc", (N, H, W, C), dtype, zero=True).transpose(0, 3, 1, 2)
    return WORKSPACE.get(tag, shape, dtype, zero=True)


def _offset(a, i, j, stride, out_hw):
    """The strided slice a[..., i + s*y, j + s*x] for every output (y, x): shape (N, C, Ho, Wo)."""
    (sh, sw), (Ho, Wo) = stride, out_hw
    return a[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]


# ------------------------------------------------------------------ max pooling
def max_pool2d(x: Tensor, kernel_size=2, stride=None, padding=0) -> Tensor:
    """Max over each kh x kw group, groups ``stride`` apart (default: stride = kernel_size).

    x (N, C, H, W) -> (N, C, Ho, Wo).  Padding counts as -infinity.
    """
    xp = backend.xp()
    (kh, kw), st, pads, out_hw = _geometry(x, kernel_size, stride, padding, "max_pool2d")
    x_pad = pad_into(x.data, pads, "pool.pad", fill=-np.inf)
    best = _offset(x_pad, 0, 0, st, out_hw).copy(order="K")  # keep the memory order
    arg = xp.zeros(best.shape, dtype=np.int16)           # which offset won, 0 .. kh*kw-1
    for k in range(1, kh * kw):
        v = _offset(x_pad, k // kw, k % kw, st, out_hw)
        wins = v > best                                   # strict: the first maximum keeps the gradient
        xp.copyto(best, v, where=wins)
        arg[wins] = k
    shape, padded_shape, like = x.shape, x_pad.shape, x.data

    def vjp(g):
        acc = _zeros_like_layout("pool.dpad", padded_shape, g.dtype, like)
        for k in range(kh * kw):
            target = _offset(acc, k // kw, k % kw, st, out_hw)
            target += g * (arg == k)
        return (acc[:, :, pads[0]:pads[0] + shape[2], pads[2]:pads[2] + shape[3]],)

    return Tensor.from_op(best, (x,), vjp, "max_pool2d")


def avg_pool2d(x: Tensor, kernel_size=2, stride=None, padding=0) -> Tensor:
    """Mean over each kh x kw group (LeNet's "subsampling"); zero padding counts in the mean.

    x (N, C, H, W) -> (N, C, Ho, Wo).
    """
    (kh, kw), st, pads, out_hw = _geometry(x, kernel_size, stride, padding, "avg_pool2d")
    x_pad = pad_into(x.data, pads, "pool.pad")
    total = _offset(x_pad, 0, 0, st, out_hw).copy(order="K")
    for k in range(1, kh * kw):
        total += _offset(x_pad, k // kw, k % kw, st, out_hw)
    total *= 1.0 / (kh * kw)
    shape, padded_shape, like = x.shape, x_pad.shape, x.data

    def vjp(g):
        acc = _zeros_like_layout("pool.dpad", padded_shape, g.dtype, like)
        share = g * (1.0 / (kh * kw))
        for k in range(kh * kw):
            target = _offset(acc, k // kw, k % kw, st, out_hw)
            target += share
        return (acc[:, :, pads[0]:pads[0] + shape[2], pads[2]:pads[2] + shape[3]],)

    return Tensor.from_op(total, (x,), vjp, "avg_pool2d")


# ------------------------------------------------------------- naive references
def pool2d_naive(x: Tensor, kernel_size=2, stride=None, padding=0, mode: str = "max") -> Tensor:
    """Max or average pooling with a loop over every output entry (NumPy only; for tests)."""
    (kh, kw), (sh, sw), pads, (Ho, Wo) = _geometry(x, kernel_size, stride, padding, "pool2d_naive")
    xd = backend.to_numpy(x.data)
    N, C, H, W = xd.shape
    fill = -np.inf if mode == "max" else 0.0
    xp_ = np.full((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]), fill, dtype=xd.dtype)
    xp_[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W] = xd
    out = np.zeros((N, C, Ho, Wo), dtype=xd.dtype)
    where = {}
    for n in range(N):
        for c in range(C):
            for r in range(Ho):
                for q in range(Wo):
                    group = xp_[n, c, r * sh:r * sh + kh, q * sw:q * sw + kw]
                    if mode == "max":
                        a = int(np.argmax(group))  # first maximum, row by row
                        where[n, c, r, q] = (r * sh + a // kw, q * sw + a % kw)
                        out[n, c, r, q] = group.reshape(-1)[a]
                    else:
                        out[n, c, r, q] = group.mean()

    def vjp(g):
        g = backend.to_numpy(g)
        gx = np.zeros_like(xp_)
        for n in range(N):
            for c in range(C):
                for r in range(Ho):
                    for q in range(Wo):
                        if mode == "max":
                            gx[(n, c) + where[n, c, r, q]] += g[n, c, r, q]
                        else:
                            gx[n, c, r * sh:r * sh + kh, q * sw:q * sw + kw] += g[n, c, r, q] / (kh * kw)
        return (gx[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W],)

    return Tensor.from_op(backend.to_device(out), (x,), vjp, f"{mode}_pool2d_naive")


# ----------------------------------------------------------------------- modules
class MaxPool2d(Module):
    """Max-pooling over kh x kw groups: (N, C, H, W) -> (N, C, Ho, Wo).  Stride defaults to the size."""

    def __init__(self, kernel_size=2, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        x = as_input(x, self)
        try:
            return max_pool2d(x, self.kernel_size, self.stride, self.padding)
        except ShapeError as err:
            raise ShapeError(f"{self!r}: {err}") from None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """Average pooling (LeNet's subsampling): (N, C, H, W) -> (N, C, Ho, Wo)."""

    def forward(self, x):
        x = as_input(x, self)
        try:
            return avg_pool2d(x, self.kernel_size, self.stride, self.padding)
        except ShapeError as err:
            raise ShapeError(f"{self!r}: {err}") from None


class Flatten(Module):
    """Merge every axis from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W).  The VJP reshapes back."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        x = as_input(x, self)
        if x.ndim <= self.start_dim:
            raise ShapeError(f"{self!r} needs at least {self.start_dim + 1} axes, got shape {x.shape}")
        return ops.reshape(x, x.shape[:self.start_dim] + (-1,))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"
