"""Pooling layers (``MaxPool2d``, ``AvgPool2d``) and ``Flatten``.

A pooling unit summarises a small region (a *pooling group*) of one feature
map; the groups are spaced ``stride`` apart, so each map shrinks by about that
factor (Lecture 9, §4; neural-nets notes, "Pooling layers"):

    max:      out[n, c, y, x] = max_{i,j}  x_pad[n, c, y*s + i, x*s + j]
    average:  out[n, c, y, x] = mean_{i,j} x_pad[n, c, y*s + i, x*s + j]

Backward: max-pooling routes each output's gradient to the input that won
(the max gate of the hacker's guide; the first one on ties), average pooling
spreads it evenly over the group.  The fast paths below loop over the kh*kw
offsets inside a group, each step working on whole arrays, with a faster path for
non-overlapping groups (see "tiles" below); ``*_naive`` versions loop over every
output entry and are kept for the tests.

Shapes: x (N, C, H, W) -> (N, C, Ho, Wo), Ho = floor((H + 2p - k) / s) + 1.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn._im2col import WORKSPACE, conv_output_size, over_batch, pad_into
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


# ------------------------------------------------- non-overlapping groups (tiles)
# The common case (stride = kernel size, no padding: LeNet's subsampling, 2x2 max-pooling)
# has a faster path.  The input is viewed as (N, C, Ho, kh, Wo, kw) by a reshape, and each
# reduction is a few element-wise operations on views of it: first across the kh rows of a
# group, on runs of Wo*kw contiguous numbers, then across the kw columns, on arrays that NumPy
# walks as one long strided run.  (``x6.sum(axis=(3, 5))`` computes the same thing several
# times slower: a reduction over short inner axes pays NumPy's per-row overhead everywhere.)

def _tiles(kernel, stride, pads):
    return kernel == stride and not any(pads)


def _as_tiles(a, kernel, out_hw):
    """View (N, C, Ho, kh, Wo, kw) of the part of ``a`` (N, C, H, W) that the groups cover.

    A view when ``a`` is stored in (N, C, H, W) order; otherwise the reshape copies.
    """
    (kh, kw), (Ho, Wo) = kernel, out_hw
    N, C = a.shape[:2]
    return a[:, :, :Ho * kh, :Wo * kw].reshape(N, C, Ho, kh, Wo, kw)


def _grad_tiles(x_shape, kernel, out_hw, dtype):
    """A gradient array of the input's shape and its (N, C, Ho, kh, Wo, kw) view (a view, no copy).

    Rows and columns that no group covers (H or W not a multiple of the kernel) are zeroed;
    every other entry is written by the caller.
    """
    (kh, kw), (Ho, Wo) = kernel, out_hw
    N, C, H, W = x_shape
    covered = Ho * kh == H and Wo * kw == W
    gx = backend.xp().empty(x_shape, dtype) if covered else backend.xp().zeros(x_shape, dtype)
    return gx, _as_tiles(gx, kernel, out_hw)


def _index_dtype(n):
    """The smallest integer type used here that holds 0 .. n-1."""
    return np.int8 if n <= 127 else np.int16 if n <= 32767 else np.int32


def _move(arg, wins, new):
    """arg = new where wins, else unchanged; in place.

    Written as arithmetic: ``copyto(..., where=)`` and ``where`` are many times slower in NumPy.
    """
    arg += wins * (new - arg)


def _max_tiles(x, kernel, out_hw, best, arg):
    """Max of each group into ``best`` and which entry won into ``arg`` (0 .. kh*kw-1, row by row;
    the first one on ties).  x (n, C, H, W); best, arg (n, C, Ho, Wo)."""
    xp = backend.xp()
    kh, kw = kernel
    x6 = _as_tiles(x, kernel, out_hw)
    # across the columns of each group's rows: rbest, rarg (n, C, Ho, kh, Wo)
    rbest, rarg = x6[..., 0].copy(), xp.zeros(x6.shape[:5], dtype=arg.dtype)
    for j in range(1, kw):
        wins = x6[..., j] > rbest                   # strict: the earlier column keeps a tie
        xp.maximum(rbest, x6[..., j], out=rbest)
        _move(rarg, wins, j)
    # then across the rows: best, arg (n, C, Ho, Wo)
    best[...] = rbest[:, :, :, 0]
    arg[...] = rarg[:, :, :, 0]
    for i in range(1, kh):
        wins = rbest[:, :, :, i] > best             # strict: the earlier row keeps a tie
        xp.maximum(best, rbest[:, :, :, i], out=best)
        _move(arg, wins, rarg[:, :, :, i] + i * kw)


def _avg_tiles(x, kernel, out_hw, total):
    """Mean of each group into ``total``.  x (n, C, H, W), total (n, C, Ho, Wo)."""
    kh, kw = kernel
    x6 = _as_tiles(x, kernel, out_hw)
    rows = x6[:, :, :, 0].copy()                     # (n, C, Ho, Wo, kw): sum over the kh rows
    for i in range(1, kh):
        rows += x6[:, :, :, i]
    total[...] = rows[..., 0]                        # (n, C, Ho, Wo): then over the kw columns
    for j in range(1, kw):
        total += rows[..., j]
    total *= 1.0 / (kh * kw)


def _spread_tiles(g, g6, kernel):
    """Average pooling's backward pass: every entry of a group gets g / (kh*kw).  g6 (n, C, Ho, kh, Wo, kw)."""
    kh, kw = kernel
    share = g * (1.0 / (kh * kw))
    rows = g6[:, :, :, 0]                           # (n, C, Ho, Wo, kw): fill one row of each group,
    for j in range(kw):
        rows[..., j] = share
    for i in range(1, kh):                          # then copy it to the others
        g6[:, :, :, i] = rows


# ------------------------------------------------------------------ max pooling
def max_pool2d(x: Tensor, kernel_size=2, stride=None, padding=0) -> Tensor:
    """Max over each kh x kw group, groups ``stride`` apart (default: stride = kernel_size).

    x (N, C, H, W) -> (N, C, Ho, Wo).  Padding counts as -infinity.  The forward pass keeps,
    for every output, which entry of its group won (``arg``); the backward pass sends g there.
    """
    xp = backend.xp()
    kernel, st, pads, out_hw = _geometry(x, kernel_size, stride, padding, "max_pool2d")
    kh, kw = kernel
    shape = x.shape
    if _tiles(kernel, st, pads):  # each block of images on its own thread (see over_batch)
        N, C = shape[:2]
        best = xp.empty((N, C) + out_hw, dtype=x.dtype)
        arg = xp.empty((N, C) + out_hw, dtype=_index_dtype(kh * kw))
        over_batch(lambda lo, hi: _max_tiles(x.data[lo:hi], kernel, out_hw, best[lo:hi], arg[lo:hi]), N, x.size)

        def vjp(g):
            gx, g6 = _grad_tiles(shape, kernel, out_hw, g.dtype)

            def route(lo, hi):  # each input entry belongs to one group: a write, not an add
                for k in range(kh * kw):
                    xp.multiply(g[lo:hi], arg[lo:hi] == k, out=g6[lo:hi, :, :, k // kw, :, k % kw])

            over_batch(route, N, gx.size)
            return (gx,)

        return Tensor.from_op(best, (x,), vjp, "max_pool2d")

    x_pad = pad_into(x.data, pads, "pool.pad", fill=-np.inf)
    best = _offset(x_pad, 0, 0, st, out_hw).copy(order="K")  # keep the memory order
    arg = xp.zeros(best.shape, dtype=_index_dtype(kh * kw))   # which offset won, 0 .. kh*kw-1
    for k in range(1, kh * kw):
        v = _offset(x_pad, k // kw, k % kw, st, out_hw)
        wins = v > best                                   # strict: the first maximum keeps the gradient
        xp.maximum(best, v, out=best)
        _move(arg, wins, k)
    padded_shape, like = x_pad.shape, x.data

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
    kernel, st, pads, out_hw = _geometry(x, kernel_size, stride, padding, "avg_pool2d")
    kh, kw = kernel
    shape = x.shape
    if _tiles(kernel, st, pads):  # each block of images on its own thread (see over_batch)
        N, C = shape[:2]
        total = backend.xp().empty((N, C) + out_hw, dtype=x.dtype)
        over_batch(lambda lo, hi: _avg_tiles(x.data[lo:hi], kernel, out_hw, total[lo:hi]), N, x.size)

        def vjp_tiles(g):
            gx, g6 = _grad_tiles(shape, kernel, out_hw, g.dtype)
            over_batch(lambda lo, hi: _spread_tiles(g[lo:hi], g6[lo:hi], kernel), N, gx.size)
            return (gx,)

        return Tensor.from_op(total, (x,), vjp_tiles, "avg_pool2d")

    x_pad = pad_into(x.data, pads, "pool.pad")
    total = _offset(x_pad, 0, 0, st, out_hw).copy(order="K")
    for k in range(1, kh * kw):
        total += _offset(x_pad, k // kw, k % kw, st, out_hw)
    total *= 1.0 / (kh * kw)
    padded_shape, like = x_pad.shape, x.data

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
