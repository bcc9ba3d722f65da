"""The fast kernels of ``max_pool2d`` and ``avg_pool2d`` (same functions as ``nnkit.nn.pooling``).

- **Tiles.**  In the common case, stride = kernel size and no padding (LeNet's subsampling,
  2x2 max-pooling), the input is viewed as (N, C, Ho, kh, Wo, kw) by a reshape, and each
  reduction is a few element-wise operations on views of it: first across the kh rows of a
  window, on runs of Wo*kw contiguous numbers, then across the kw columns.  (A reduction such
  as ``x6.sum(axis=(3, 5))`` over short inner axes pays NumPy's per-row cost everywhere and
  is several times slower.)  Blocks of images run on the kernels' threads.
- **Arithmetic instead of masks.**  Which offset won is tracked by ``arg += wins * (k - arg)``;
  ``copyto(..., where=)`` and ``where`` are many times slower in NumPy.
- **No stacked windows.**  The general path keeps a running maximum (or sum) over the
  offsets instead of stacking kh*kw copies of the output.
- **Memory order kept.**  The gradient of a channels-last input is laid out channels-last.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor
from nnkit.kernels.state import STATE, register


def _offset(a, i, j, stride, out_hw):
    """The strided slice a[..., i + sh*y, j + sw*x] for every output (y, x): shape (N, C, Ho, Wo)."""
    (sh, sw), (Ho, Wo) = stride, out_hw
    return a[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]


def _padded(x, pads, fill):
    """x (N, C, H, W) inside a border of ``fill`` (a new array in x's memory order), or x itself."""
    if not any(pads):
        return x
    top, bottom, left, right = pads
    N, C, H, W = x.shape
    out = _empty_like_layout((N, C, H + top + bottom, W + left + right), x.dtype, x)
    out[...] = fill
    out[:, :, top:top + H, left:left + W] = x
    return out


def _empty_like_layout(shape, dtype, ref, zero=False):
    """A new (N, C, H, W) array stored in the memory order of ``ref`` (channels last or not)."""
    xp = backend.xp()
    make = xp.zeros if zero else xp.empty
    N, C, H, W = shape
    if C > 1 and ref.strides[1] < ref.strides[3]:  # ref is stored (N, H, W, C): keep that order
        return make((N, H, W, C), dtype).transpose(0, 3, 1, 2)
    return make(shape, dtype)


def _index_dtype(n):
    """The smallest integer type used here that holds 0 .. n-1."""
    return np.int8 if n <= 127 else np.int16 if n <= 32767 else np.int32


def _move(arg, wins, new):
    """arg = new where wins, else unchanged; in place, as arithmetic (see the module docstring)."""
    arg += wins * (new - arg)


# ------------------------------------------------------------------ tiles
def _tiles(geo):
    return geo.kernel == geo.stride and not any(geo.pads)


def _as_tiles(a, kernel, out_hw):
    """View (N, C, Ho, kh, Wo, kw) of the part of ``a`` (N, C, H, W) that the windows cover.

    A view when ``a`` is stored in (N, C, H, W) order; otherwise the reshape copies.
    """
    (kh, kw), (Ho, Wo) = kernel, out_hw
    N, C = a.shape[:2]
    return a[:, :, :Ho * kh, :Wo * kw].reshape(N, C, Ho, kh, Wo, kw)


def _grad_tiles(x_shape, kernel, out_hw, dtype):
    """A new gradient array of the input's shape and its (N, C, Ho, kh, Wo, kw) view.

    Rows and columns that no window covers are zeroed; the caller writes every other entry.
    """
    (kh, kw), (Ho, Wo) = kernel, out_hw
    N, C, H, W = x_shape
    xp = backend.xp()
    gx = xp.empty(x_shape, dtype) if (Ho * kh == H and Wo * kw == W) else xp.zeros(x_shape, dtype)
    return gx, _as_tiles(gx, kernel, out_hw)


def _max_tiles(x, kernel, out_hw, best, arg):
    """Max of each window into ``best``, which offset won into ``arg`` (0 .. kh*kw-1, row by row,
    the first on ties).  x (n, C, H, W); best, arg (n, C, Ho, Wo)."""
    xp = backend.xp()
    kh, kw = kernel
    x6 = _as_tiles(x, kernel, out_hw)
    # across the columns of each window's rows: rbest, rarg (n, C, Ho, kh, Wo)
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
    """Mean of each window into ``total``.  x (n, C, H, W), total (n, C, Ho, Wo)."""
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
    """Average pooling's backward pass: every entry of a window gets g / (kh*kw).  g6 (n, C, Ho, kh, Wo, kw)."""
    kh, kw = kernel
    share = g * (1.0 / (kh * kw))
    rows = g6[:, :, :, 0]                           # (n, C, Ho, Wo, kw): fill one row of each window,
    for j in range(kw):
        rows[..., j] = share
    for i in range(1, kh):                          # then copy it to the others
        g6[:, :, :, i] = rows


# -------------------------------------------------------------- the kernels
@register("max_pool2d")
def max_pool2d(x: Tensor, geo) -> Tensor:
    """``nnkit.nn.pooling.max_pool2d`` for a checked geometry: x (N, C, H, W) -> (N, C, Ho, Wo)."""
    xp = backend.xp()
    kernel, st, pads, out_hw = geo.kernel, geo.stride, geo.pads, geo.out_hw
    kh, kw = kernel
    shape = x.shape
    N, C = shape[:2]
    if _tiles(geo):
        best = xp.empty((N, C) + out_hw, dtype=x.dtype)
        arg = xp.empty((N, C) + out_hw, dtype=_index_dtype(kh * kw))
        STATE.map_blocks(lambda lo, hi: _max_tiles(x.data[lo:hi], kernel, out_hw, best[lo:hi], arg[lo:hi]),
                         N, x.size)

        def vjp(g):
            gx, g6 = _grad_tiles(shape, kernel, out_hw, g.dtype)

            def route(lo, hi):  # each input entry belongs to one window: a write, not an add
                for k in range(kh * kw):
                    xp.multiply(g[lo:hi], arg[lo:hi] == k, out=g6[lo:hi, :, :, k // kw, :, k % kw])

            STATE.map_blocks(route, N, gx.size)
            return (gx,)

        return Tensor.from_op(best, (x,), vjp, "max_pool2d")

    x_pad = _padded(x.data, pads, float("-inf"))
    best = _offset(x_pad, 0, 0, st, out_hw).copy(order="K")  # keeps the memory order
    arg = xp.zeros(best.shape, dtype=_index_dtype(kh * kw))   # which offset won, 0 .. kh*kw-1
    for k in range(1, kh * kw):
        v = _offset(x_pad, k // kw, k % kw, st, out_hw)
        wins = v > best                                   # strict: the first maximum keeps the gradient
        xp.maximum(best, v, out=best)
        _move(arg, wins, k)
    padded_shape, like = x_pad.shape, x.data
    del x_pad

    def vjp(g):
        acc = _empty_like_layout(padded_shape, g.dtype, like, zero=True)
        for k in range(kh * kw):
            target = _offset(acc, k // kw, k % kw, st, out_hw)
            target += g * (arg == k)
        return (acc[:, :, pads[0]:pads[0] + shape[2], pads[2]:pads[2] + shape[3]],)

    return Tensor.from_op(best, (x,), vjp, "max_pool2d")


@register("avg_pool2d")
def avg_pool2d(x: Tensor, geo) -> Tensor:
    """``nnkit.nn.pooling.avg_pool2d`` for a checked geometry (its divisor included)."""
    xp = backend.xp()
    kernel, st, pads, out_hw = geo.kernel, geo.stride, geo.pads, geo.out_hw
    kh, kw = kernel
    shape = x.shape
    N, C = shape[:2]
    if _tiles(geo):  # no padding: the divisor is kh*kw everywhere
        total = xp.empty((N, C) + out_hw, dtype=x.dtype)
        STATE.map_blocks(lambda lo, hi: _avg_tiles(x.data[lo:hi], kernel, out_hw, total[lo:hi]), N, x.size)

        def vjp_tiles(g):
            gx, g6 = _grad_tiles(shape, kernel, out_hw, g.dtype)
            STATE.map_blocks(lambda lo, hi: _spread_tiles(g[lo:hi], g6[lo:hi], kernel), N, gx.size)
            return (gx,)

        return Tensor.from_op(total, (x,), vjp_tiles, "avg_pool2d")

    scale = 1.0 / geo.divisor                              # a number, or an (Ho, Wo) array
    if not isinstance(scale, float):
        scale = scale.astype(x.dtype)
    x_pad = _padded(x.data, pads, 0.0)
    total = _offset(x_pad, 0, 0, st, out_hw).copy(order="K")
    for k in range(1, kh * kw):
        total += _offset(x_pad, k // kw, k % kw, st, out_hw)
    total *= scale
    padded_shape, like = x_pad.shape, x.data
    del x_pad

    def vjp(g):
        acc = _empty_like_layout(padded_shape, g.dtype, like, zero=True)
        share = g * scale
        for k in range(kh * kw):
            target = _offset(acc, k // kw, k % kw, st, out_hw)
            target += share
        return (acc[:, :, pads[0]:pads[0] + shape[2], pads[2]:pads[2] + shape[3]],)

    return Tensor.from_op(total, (x,), vjp, "avg_pool2d")
