"""The machinery under convolution and pooling: padding, sliding windows, im2col and col2im.

A convolution slides a small kernel over an image and takes a dot product at
every position.  Written with Python loops over the pixels it is correct but
very slow.  The fast way (Lecture 10, §4: "even convolutions are implemented as
matrix products beneath the hood") is **im2col**: copy every window of the
input into one column of a matrix, so that the whole layer becomes ONE matrix
product

    cols[(c, i, j), (n, y, x)] = x_pad[n, c, y*s + i*d, x*s + j*d]
    out[o, (n, y, x)]          = sum_(c,i,j) W[o, (c, i, j)] cols[(c, i, j), (n, y, x)]

The windows are read through a *strided view* (``as_strided``): a 6-D array
that shares memory with the padded input and costs nothing to build; the only
copy is the one into ``cols``.  **col2im** is the adjoint: it adds every
column back onto the window it came from, which is what the backward pass
needs.  Its loop runs over the kh*kw kernel offsets, never over pixels.

Large scratch arrays are taken from a :class:`Workspace` that hands an array
out again once nothing else refers to it; freeing and re-allocating megabytes
on every training step costs more time than the arithmetic on small layers.
"""
from __future__ import annotations

import sys

from nnkit import backend


def as_strided(a, shape, strides):
    """A view of ``a`` with the given shape and byte strides (NumPy or CuPy).

    This is the one place where the array module's stride tricks are used.
    """
    xp = backend.xp()
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def conv_output_size(n: int, k: int, stride: int = 1, pad_total: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis.

        n_out = floor((n + pad_total - dilation*(k - 1) - 1) / stride) + 1

    ``pad_total`` counts both sides (2p for symmetric padding p).  With stride 1,
    no dilation and no padding this is the notes' "input - filter + 1".
    """
    return (n + pad_total - dilation * (k - 1) - 1) // stride + 1


class Workspace:
    """Scratch arrays that are reused once no one else holds them.

    ``get(tag, shape, dtype)`` returns an array of that shape, reusing one made
    earlier when Python's reference count shows that only this workspace still
    refers to it (a view of an array counts as a reference to it).  An array
    that a computation graph still needs for its backward pass is therefore
    never handed out twice.  Contents are undefined unless ``zero=True``.
    """

    def __init__(self, slots: int = 3, max_keys: int = 64):
        self.slots, self.max_keys = slots, max_keys
        self._pool: dict = {}

    def get(self, tag: str, shape, dtype, zero: bool = False):
        xp = backend.xp()
        key = (tag, tuple(shape), str(dtype), backend.name())
        arrays = self._pool.get(key)
        if arrays is None:
            if len(self._pool) >= self.max_keys:  # forget the oldest shapes
                self._pool.pop(next(iter(self._pool)))
            arrays = self._pool[key] = []
        for i in range(len(arrays)):
            # references: the list, and getrefcount's own argument
            if sys.getrefcount(arrays[i]) <= 2:
                out = arrays[i]
                if zero:
                    out.fill(0)
                return out
        out = xp.zeros(shape, dtype) if zero else xp.empty(shape, dtype)
        if len(arrays) < self.slots:
            arrays.append(out)
        return out

    def clear(self) -> None:
        self._pool.clear()


WORKSPACE = Workspace()


def pad_into(x, pads, tag: str, fill=0.0):
    """Copy ``x`` (N, C, H, W) into a padded array (N, C, H+top+bottom, W+left+right).

    ``pads = (top, bottom, left, right)``.  The border holds ``fill``; with no
    padding ``x`` itself is returned.
    """
    top, bottom, left, right = pads
    if not any(pads):
        return x
    N, C, H, W = x.shape
    out = WORKSPACE.get(tag, (N, C, H + top + bottom, W + left + right), x.dtype)
    # write the border every time: a reused array may have held other values
    out[:, :, :top] = fill
    out[:, :, H + top:] = fill
    out[:, :, :, :left] = fill
    out[:, :, :, W + left:] = fill
    out[:, :, top:top + H, left:left + W] = x
    return out


def windows(x_pad, kh: int, kw: int, stride: int, dilation: int, out_hw):
    """Strided view (C, kh, kw, N, Ho, Wo) of every window of ``x_pad`` (N, C, Hp, Wp).

    ``view[c, i, j, n, y, x] = x_pad[n, c, y*stride + i*dilation, x*stride + j*dilation]``.
    No data is copied.
    """
    N, C, _, _ = x_pad.shape
    Ho, Wo = out_hw
    sN, sC, sH, sW = x_pad.strides
    return as_strided(x_pad, (C, kh, kw, N, Ho, Wo),
                      (sC, sH * dilation, sW * dilation, sN, sH * stride, sW * stride))


def im2col(x_pad, kh: int, kw: int, stride: int, dilation: int, out_hw, tag: str = "cols"):
    """The window matrix ``cols`` of shape (C*kh*kw, N*Ho*Wo) (see the module docstring)."""
    xp = backend.xp()
    N, C, _, _ = x_pad.shape
    Ho, Wo = out_hw
    cols = WORKSPACE.get(tag, (C * kh * kw, N * Ho * Wo), x_pad.dtype)
    xp.copyto(cols.reshape(C, kh, kw, N, Ho, Wo), windows(x_pad, kh, kw, stride, dilation, out_hw))
    return cols


def col2im(cols, padded_shape, kh: int, kw: int, stride: int, dilation: int, out_hw, tag: str = "dpad"):
    """Adjoint of :func:`im2col`: add each column back onto its window.

    cols (C*kh*kw, N*Ho*Wo) -> array of ``padded_shape`` (N, C, Hp, Wp), returned as an
    (N, C, Hp, Wp) view of a (C, N, Hp, Wp) array (the order the columns come in).
    """
    N, C, Hp, Wp = padded_shape
    Ho, Wo = out_hw
    acc = WORKSPACE.get(tag, (C, N, Hp, Wp), cols.dtype, zero=True)
    c6 = cols.reshape(C, kh, kw, N, Ho, Wo)
    for i in range(kh):  # a loop over kernel offsets, not over pixels
        r = i * dilation
        for j in range(kw):
            q = j * dilation
            acc[:, :, r:r + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride] += c6[:, i, j]
    return acc.transpose(1, 0, 2, 3)
