"""The 8x8 handwritten digits that ship with scikit-learn: a real data set that needs no network.

1,797 images of the digits 0-9, each 8x8 pixels with grey levels 0..16
(from the UCI optical-recognition set).  ``size=28`` enlarges them to the
MNIST layout (digit in a 20x20 box, centred in 28x28) for LeNet-style models.
"""
from __future__ import annotations

import numpy as np


def resize_bilinear(images, size: int):
    """Resize square images ``(N, h, h)`` to ``(N, size, size)`` by bilinear interpolation.

    Output pixel centres are mapped onto the input grid
    (``u = (i + 0.5) * h / size - 0.5``, clamped to the edges) and each value is
    the weighted mean of the four nearest input pixels.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"resize_bilinear: expected images of shape (N, h, h), got {images.shape}")
    h = images.shape[1]
    u = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    lo = np.floor(u).astype(int)
    hi = np.minimum(lo + 1, h - 1)
    frac = u - lo
    rows = images[:, lo, :] * (1 - frac)[None, :, None] + images[:, hi, :] * frac[None, :, None]
    return rows[:, :, lo] * (1 - frac) + rows[:, :, hi] * frac


def load_digits(size: int | None = None, flatten: bool = True, dtype=np.float32):
    """Return ``(X, y)``: the scikit-learn digits scaled to [0, 1], labels 0..9 as floats.

    - ``size=None``: ``X`` has shape (1797, 64), or (1797, 1, 8, 8) with ``flatten=False``.
    - ``size=28``: each image is enlarged to 20x20 and centred in a 28x28 frame like
      MNIST: shape (1797, 784), or (1797, 1, 28, 28) with ``flatten=False``.
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits  # noqa: PLC0415
    except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("nnkit.data.load_digits needs scikit-learn: pip install scikit-learn") from err
    bunch = _sk_digits()
    images = bunch.images / 16.0  # (1797, 8, 8) in [0, 1]
    if size is not None:
        if size < 8:
            raise ValueError(f"load_digits: size must be >= 8, got {size}")
        box = round(size * 20 / 28)
        inner = resize_bilinear(images, box)
        images = np.zeros((len(inner), size, size))
        off = (size - box) // 2
        images[:, off:off + box, off:off + box] = inner
    images = np.clip(images, 0.0, 1.0).astype(dtype)
    X = images.reshape(len(images), -1) if flatten else images[:, None, :, :]
    return X, bunch.target.astype(dtype)
