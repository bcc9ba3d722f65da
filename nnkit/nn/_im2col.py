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

``conv2d`` keeps one such matrix per image, cols (N, C*kh*kw, Ho*Wo)
(:func:`im2col_per_image`): the product ``W @ cols`` is then a batched matrix
product whose result is already laid out as (N, O, Ho, Wo), the order the
next layer and the caller expect, so no transpose of the output (forward) or
of its gradient (backward) is ever copied.

Large scratch arrays are taken from a :class:`Workspace` that hands an array
out again once nothing else refers to it; freeing and re-allocating megabytes
on every training step costs more time than the arithmetic on small layers.

On NumPy the per-image work is split over a few threads (:func:`over_batch`):
NumPy lets go of Python's global lock inside matrix products and copies, so two
threads really do run two halves of a batch at the same time.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

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


def _default_threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for var in ("NNKIT_THREADS", "OMP_NUM_THREADS"):  # the usual way to ask numerical code for fewer threads
        if os.environ.get(var, "").isdigit() and int(os.environ[var]) > 0:
            return min(cores, int(os.environ[var]))
    return min(cores, 4)


THREADS = [_default_threads()]   # change with set_threads(n)
WORK_PER_THREAD = 100_000        # array entries below which another thread is not worth its start-up
_POOL: list = [None, 0, 0]       # the thread pool, its size, and the process that started it


def set_threads(n: int) -> None:
    """Use up to ``n`` threads for the per-image work of convolutions (1: none)."""
    if int(n) < 1:
        raise ValueError(f"set_threads: n must be >= 1, got {n}")
    THREADS[0] = int(n)


def over_batch(part, n: int, work: int):
    """``[part(lo, hi) for each block]`` over blocks [lo, hi) that cover range(n), on several threads.

    ``work`` is the number of array entries the whole batch touches; each thread gets at least
    WORK_PER_THREAD of them, since handing a block to another thread costs tens of microseconds.
    Only on NumPy: on a GPU the work is already parallel.  ``part`` must write only to its own
    images; results come back in block order, so sums over them are deterministic for a given
    number of threads.
    """
    threads = min(THREADS[0], n, max(1, work // WORK_PER_THREAD))
    if threads <= 1 or backend.name() != "numpy":
        return [part(0, n)]
    # (re)start the pool when it is too small, or when this is a forked child process, which
    # inherits the pool object but not its threads (work handed to it would never run)
    if _POOL[1] < threads - 1 or _POOL[2] != os.getpid():
        if _POOL[0] is not None and _POOL[2] == os.getpid():
            _POOL[0].shutdown(wait=False)
        _POOL[:] = [ThreadPoolExecutor(threads - 1, thread_name_prefix="nnkit"), threads - 1, os.getpid()]
    bounds = [n * t // threads for t in range(threads + 1)]
    others = [_POOL[0].submit(part, bounds[t], bounds[t + 1]) for t in range(1, threads)]
    first = part(bounds[0], bounds[1])                     # this thread takes the first block
    return [first] + [f.result() for f in others]


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
    return image_windows(x_pad, kh, kw, stride, dilation, out_hw).transpose(1, 2, 3, 0, 4, 5)


def image_windows(x_pad, kh: int, kw: int, stride: int, dilation: int, out_hw):
    """The same windows, image first: a strided view (N, C, kh, kw, Ho, Wo), no copy.

    ``view[n, c, i, j, y, x] = x_pad[n, c, y*stride + i*dilation, x*stride + j*dilation]``.
    """
    N, C, _, _ = x_pad.shape
    Ho, Wo = out_hw
    sN, sC, sH, sW = x_pad.strides
    return as_strided(x_pad, (N, C, kh, kw, Ho, Wo),
                      (sN, sC, sH * dilation, sW * dilation, sH * stride, sW * stride))


def im2col(x_pad, kh: int, kw: int, stride: int, dilation: int, out_hw, tag: str = "cols"):
    """The window matrix ``cols`` of shape (C*kh*kw, N*Ho*Wo) (see the module docstring).

    This is the textbook layout: one column per output position of the whole batch.
    ``conv2d`` uses :func:`im2col_per_image` instead, whose products come out in (N, O, Ho, Wo) order.
    """
    xp = backend.xp()
    N, C, _, _ = x_pad.shape
    Ho, Wo = out_hw
    cols = WORKSPACE.get(tag, (C * kh * kw, N * Ho * Wo), x_pad.dtype)
    xp.copyto(cols.reshape(C, kh, kw, N, Ho, Wo), windows(x_pad, kh, kw, stride, dilation, out_hw))
    return cols


def row_length(n: int, itemsize: int) -> int:
    """Room for a matrix row of ``n`` numbers: n, or a little more when n*itemsize is a multiple of 1 KiB.

    Rows 1, 2, 4 ... KiB apart fall into the same few cache sets, and a matrix product that
    walks down a column of such a matrix keeps evicting its own data: measured here, a
    (32 x 28) @ (28 x 1024) product per image ran 25% faster with rows 1024 + 16 numbers apart.
    """
    return n + 64 // itemsize if (n * itemsize) % 1024 == 0 else n


def im2col_per_image(x_pad, kh: int, kw: int, stride: int, dilation: int, out_hw, cols, ones_row: bool = False):
    """Fill ``cols`` (N, C*kh*kw [+ 1], Ho*Wo) with one window matrix per image of x_pad (N, C, Hp, Wp).

        cols[n, (c, i, j), (y, x)] = x_pad[n, c, y*s + i*d, x*s + j*d]

    ``W (O, C*kh*kw) @ cols`` is then a batched product whose result (N, O, Ho*Wo) is already
    the convolution's (N, O, Ho, Wo) output: no transpose.  With ``ones_row`` the last row
    is set to ones, so that a bias stored as an extra weight column is added by the same
    product (and, in the backward pass, dL/db comes out of the weight-gradient product).
    The windows are copied in one ``copyto`` from the strided view of :func:`image_windows`.
    Each row of ``cols`` must be contiguous (rows may be further apart: see :func:`row_length`).
    """
    xp = backend.xp()
    N, C, _, _ = x_pad.shape
    Ho, Wo = out_hw
    K = C * kh * kw
    # every row of cols is contiguous, so this reshape is a view, not a copy
    xp.copyto(cols[:, :K].reshape(N, C, kh, kw, Ho, Wo), image_windows(x_pad, kh, kw, stride, dilation, out_hw))
    if ones_row:
        cols[:, K] = 1  # written every time: a reused buffer may hold anything
    return cols


def col2im(dcols, padded_shape, kh: int, kw: int, stride: int, dilation: int, out_hw, tag: str = "dpad"):
    """Adjoint of :func:`im2col_per_image`: add each window's column back onto the window.

    dcols (N, C*kh*kw, Ho*Wo) -> array of ``padded_shape`` (N, C, Hp, Wp).  The loop runs over
    the kh*kw kernel offsets (each step one strided add of an (N, C, Ho, Wo) block), never over
    pixels.  The result is a scratch array from :data:`WORKSPACE`.
    """
    N, C, Hp, Wp = padded_shape
    Ho, Wo = out_hw
    acc = WORKSPACE.get(tag, (N, C, Hp, Wp), dcols.dtype, zero=True)
    c6 = dcols.reshape(N, C, kh, kw, Ho, Wo)
    for i in range(kh):
        r = i * dilation
        for j in range(kw):
            q = j * dilation
            acc[:, :, r:r + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride] += c6[:, :, i, j]
    return acc


def col2im_rows(acc, dcols, padded_shape, kh: int, kw: int, dilation: int):
    """col2im for stride 1, where every kernel offset is ONE shift of each flattened image.

    For stride 1 an output position (y, x) and a kernel offset (i, j) meet at padded pixel
    (y + i*d, x + j*d), whose index in the image flattened row by row is
    (y*Wp + x) + (i*d*Wp + j*d).  So if the gradient columns are laid out like the padded image,

        dcols (n, kh, kw, C, Hp*Wp):  dcols[m, i, j, c, y*Wp + x],  zero wherever y >= Ho or x >= Wo,

    the contribution of offset (i, j) is ``dcols[:, i, j]`` added to the flattened image
    gradients shifted by i*d*Wp + j*d: kh*kw adds of n rows of C*Hp*Wp numbers, instead of
    kh*kw*n*C*Ho rows of Wo (NumPy pays per row, not per number).  The zero entries spill
    over into the next row or channel and add nothing.

    ``acc`` (n, C*Hp*Wp + tail), zeroed, tail >= (kh-1)*d*Wp + (kw-1)*d, receives the sums;
    the tail of each image takes its spill.  ``padded_shape`` is (N, C, Hp, Wp).
    """
    _, C, Hp, Wp = padded_shape
    n, span = dcols.shape[0], C * Hp * Wp
    for i in range(kh):
        for j in range(kw):
            shift = i * dilation * Wp + j * dilation
            acc[:, shift:shift + span] += dcols[:, i, j].reshape(n, span)
    return acc
