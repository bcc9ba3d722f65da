"""Label-preserving image transformations for data augmentation.

Lecture 12, §4.5: enlarge a training set with transformed copies of its images
(small shifts, mirror images) where the transformation keeps the label. Images
are host (NumPy) arrays of shape (N, H, W) or (N, C, H, W).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend


def _images(name, images):
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{name}: expected images of shape (N, H, W) or (N, C, H, W), got {images.shape}")
    return images


def pad(images, border: int):
    """Surround every image with ``border`` rows and columns of zeros.

    (N, [C,] H, W) -> (N, [C,] H + 2 border, W + 2 border).
    """
    images = _images("pad", images)
    if int(border) != border or border < 0:
        raise ValueError(f"pad: border must be a non-negative integer, got {border}")
    widths = [(0, 0)] * (images.ndim - 2) + [(border, border), (border, border)]
    return np.pad(images, widths)


def shift(images, rows, cols):
    """Move image n by ``rows[n]`` pixels down and ``cols[n]`` pixels right.

    out[n, ..., y, x] = images[n, ..., y - rows[n], x - cols[n]], and 0 where that
    pixel lies outside the image (nothing wraps around). Shapes are kept.
    """
    images = _images("shift", images)
    rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
    n = len(images)
    if rows.shape != (n,) or cols.shape != (n,):
        raise ValueError(f"shift: need one row and one column offset per image ({n}), "
                         f"got shapes {rows.shape} and {cols.shape}")
    k = int(max(np.abs(rows).max(initial=0), np.abs(cols).max(initial=0)))
    H, W = images.shape[-2:]
    padded = pad(images, k).reshape(n, -1, H + 2 * k, W + 2 * k)
    r = np.arange(H)[None, :] + k - rows[:, None]          # (N, H): source row in the padded image
    c = np.arange(W)[None, :] + k - cols[:, None]          # (N, W)
    out = padded[np.arange(n)[:, None, None, None], np.arange(padded.shape[1])[None, :, None, None],
                 r[:, None, :, None], c[:, None, None, :]]
    return out.reshape(images.shape)


def random_shift(images, max_shift: int, seed=None):
    """Shift each image by its own random offsets, uniform in [-max_shift, max_shift] on each axis.

    ``seed``: None (nnkit's generator), an int, or a ``numpy.random.Generator``.
    Returns an array of the input's shape; see :func:`shift`.
    """
    images = _images("random_shift", images)
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"random_shift: max_shift must be a non-negative integer, got {max_shift}")
    rng = seed if isinstance(seed, np.random.Generator) else (
        backend.rng() if seed is None else np.random.default_rng(seed))
    rows, cols = rng.integers(-max_shift, max_shift + 1, size=(2, len(images)))
    return shift(images, rows, cols)


def hflip(images):
    """Mirror every image left to right: out[..., y, x] = images[..., y, W - 1 - x]."""
    return _images("hflip", images)[..., ::-1].copy()
