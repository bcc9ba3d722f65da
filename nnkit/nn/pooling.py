"""Pooling layers (``MaxPool2d``, ``AvgPool2d``) and ``Flatten``.

A pooling unit summarises a small region (a *pooling window*) of one feature map; the
windows are spaced ``stride`` apart, so each map shrinks by about that factor (Lecture 9,
§4; neural-nets notes, "Pooling layers"):

    max:      out[n, c, y, x] = max_{i,j}  x_pad[n, c, y*sh + i, x*sw + j]
    average:  out[n, c, y, x] = (sum_{i,j} x_pad[n, c, y*sh + i, x*sw + j]) / divisor[y, x]

Backward: max-pooling routes each output's gradient to the input that won (the max gate of
the hacker's guide; the first one, row by row, on ties); average pooling spreads it evenly,
g / divisor to every entry of the window.

Output size along one axis (input n, kernel k, stride s, padding p on both sides):

    floor mode (default):  n_out = floor((n + 2p - k) / s) + 1
    ceil_mode=True:        n_out = ceil((n + 2p - k) / s) + 1, less one if the last window
                           would start inside the right padding (start >= n + p)

With ceil_mode the last window may hang over the padded input; the overhang holds nothing
(-inf for max, and it is never counted in a mean).  The divisor of a mean, per axis, for a
window covering [start, start + k) with start = y*s - p:

    count_include_pad=True (default):  min(start + k, n + p) - start   (padding counts)
    count_include_pad=False:           min(start + k, n) - max(start, 0)   (only real inputs)

and divisor[y, x] is the product of the two axes' counts.  These are PyTorch's conventions.

:func:`max_pool2d` and :func:`avg_pool2d` below are the textbook implementations (a loop
over the kh*kw offsets inside a window); ``nnkit.kernels`` holds faster ones for the same
functions, chosen by ``nnkit.use(kernels=...)``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nnkit import backend, kernels
from nnkit.autodiff import Tensor, ops
from nnkit.nn.conv import _pair, pad, unpad, window
from nnkit.nn.module import Module, ShapeError, as_input


# ------------------------------------------------------------------ geometry
def pool_output_size(n: int, k: int, stride: int, padding: int = 0, ceil_mode: bool = False) -> int:
    """Number of windows along one axis (see the module docstring)."""
    span = n + 2 * padding - k
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    return out


def _counts(n, k, s, p, out, include_pad):
    """Divisor of each window along one axis (see the module docstring)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if not include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, n)
    return end - start


class PoolGeometry(NamedTuple):
    """kernel, stride: pairs (h, w); pads (top, bottom, left, right) include the ceil-mode overhang;
    divisor: None (max), a number, or an (Ho, Wo) array of the backend (average)."""
    kernel: tuple
    stride: tuple
    pads: tuple
    out_hw: tuple
    divisor: object = None


def pool_geometry(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=None,
                  who="pool2d") -> PoolGeometry:
    """Check a pooling's arguments against the input shape; ``count_include_pad=None`` for max-pooling."""
    if len(x_shape) != 4:
        raise ShapeError(f"{who}: expected input of shape (N, C, H, W), got shape {tuple(x_shape)}")
    (kh, kw), (ph, pw) = _pair(kernel_size, "kernel_size"), _pair(padding, "padding")
    sh, sw = _pair(kernel_size if stride is None else stride, "stride")
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"{who}: kernel_size and stride must be >= 1 and padding >= 0, "
                         f"got {kernel_size}, {stride}, {padding}")
    if ph * 2 > kh or pw * 2 > kw:
        raise ValueError(f"{who}: padding {padding} must be at most half the kernel size {kernel_size}")
    H, W = x_shape[2:]
    Ho, Wo = pool_output_size(H, kh, sh, ph, ceil_mode), pool_output_size(W, kw, sw, pw, ceil_mode)
    if Ho < 1 or Wo < 1:
        raise ShapeError(f"{who}: the {kh}x{kw} pooling window does not fit the input of shape {tuple(x_shape)}")
    # the overhang of the last window past the padded input (ceil_mode only)
    extra_h, extra_w = max(0, (Ho - 1) * sh + kh - H - 2 * ph), max(0, (Wo - 1) * sw + kw - W - 2 * pw)
    divisor = None
    if count_include_pad is not None:
        rows = _counts(H, kh, sh, ph, Ho, count_include_pad)
        cols = _counts(W, kw, sw, pw, Wo, count_include_pad)
        uniform = rows.min() == rows.max() == kh and cols.min() == cols.max() == kw
        divisor = float(kh * kw) if uniform else backend.to_device(np.outer(rows, cols).astype(np.float64))
    return PoolGeometry((kh, kw), (sh, sw), (ph, ph + extra_h, pw, pw + extra_w), (Ho, Wo), divisor)


def _windows(a, geo):
    """Every kernel offset's strided slice of ``a``, each (N, C, Ho, Wo), offsets row by row."""
    kh, kw = geo.kernel
    return [window(a, i, j, geo.stride, 1, geo.out_hw) for i in range(kh) for j in range(kw)]


# ------------------------------------------------------------ the primitives
def max_pool2d(x: Tensor, kernel_size=2, stride=None, padding=0, ceil_mode: bool = False) -> Tensor:
    """Max over each kh x kw window, windows ``stride`` apart (default: stride = kernel_size).

    x (N, C, H, W) -> (N, C, Ho, Wo); padding counts as -infinity.  The forward pass keeps,
    for every output, which offset k = i*kw + j of its window won (``arg``); the backward pass
    sends the output's gradient there and nowhere else.
    """
    geo = pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, None, "max_pool2d")
    fast = kernels.implementation("max_pool2d")
    if fast is not None:
        return fast(x, geo)
    xp = backend.xp()
    x_pad = pad(x.data, geo.pads, fill=float("-inf"))
    windows = xp.stack(_windows(x_pad, geo))        # (kh*kw, N, C, Ho, Wo)
    arg = windows.argmax(axis=0)                    # the first maximum of each window
    out = windows.max(axis=0)

    def vjp(g):
        gx_pad = xp.zeros(x_pad.shape, dtype=g.dtype)
        for k, target in enumerate(_windows(gx_pad, geo)):
            target += g * (arg == k)                # the winner of each window gets g
        return (unpad(gx_pad, geo.pads),)

    return Tensor.from_op(out, (x,), vjp, "max_pool2d")


def avg_pool2d(x: Tensor, kernel_size=2, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each kh x kw window (LeNet's "subsampling"), windows ``stride`` apart.

    x (N, C, H, W) -> (N, C, Ho, Wo).  The divisor is kh*kw unless the window meets the
    padding or the ceil-mode overhang: see the module docstring.
    """
    geo = pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, "avg_pool2d")
    fast = kernels.implementation("avg_pool2d")
    if fast is not None:
        return fast(x, geo)
    xp = backend.xp()
    x_pad = pad(x.data, geo.pads)
    total = sum(_windows(x_pad, geo))               # (N, C, Ho, Wo)
    out = total / geo.divisor

    def vjp(g):
        share = g / geo.divisor                     # every entry of a window gets an equal share
        gx_pad = xp.zeros(x_pad.shape, dtype=g.dtype)
        for target in _windows(gx_pad, geo):
            target += share
        return (unpad(gx_pad, geo.pads),)

    return Tensor.from_op(out.astype(x.dtype, copy=False), (x,), vjp, "avg_pool2d")


# ----------------------------------------------------------------------- modules
class MaxPool2d(Module):
    """Max-pooling over kh x kw windows: (N, C, H, W) -> (N, C, Ho, Wo).  Stride defaults to the size."""

    def __init__(self, kernel_size=2, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, bool(ceil_mode)

    def forward(self, x):
        x = as_input(x, self)
        try:
            return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        except ShapeError as err:
            raise ShapeError(f"{self!r}: {err}") from None

    def output_shape(self, input_shape):
        """(C, H, W) of one example -> (C, Ho, Wo)."""
        geo = pool_geometry((1, *input_shape), self.kernel_size, self.stride, self.padding, self.ceil_mode)
        return (input_shape[0], *geo.out_hw)

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"
        return s + (", ceil_mode=True" if self.ceil_mode else "")


class AvgPool2d(MaxPool2d):
    """Average pooling (LeNet's subsampling): (N, C, H, W) -> (N, C, Ho, Wo).

    ``count_include_pad``: whether zero padding counts in the mean (see the module docstring).
    """

    def __init__(self, kernel_size=2, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        x = as_input(x, self)
        try:
            return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        except ShapeError as err:
            raise ShapeError(f"{self!r}: {err}") from None

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")


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
