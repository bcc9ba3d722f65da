"""Weight initializers.

Each returns a new array; ``fan_in`` and ``fan_out`` are the numbers of
inputs and outputs of a unit.  The variance rules keep the scale of
activations (Glorot: forward and backward) roughly constant through depth.
"""
from __future__ import annotations

import math

from nnkit import backend


def _fans(shape):
    """(fan_in, fan_out) of a weight of ``shape``: (out, in) for Linear, (out, in, *kernel) for conv."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _dtype(dtype):
    return dtype or backend.default_dtype()


def _normal(shape, std, dtype):
    return backend.to_device(backend.rng().normal(0.0, std, size=shape).astype(_dtype(dtype)))


def _uniform(shape, limit, dtype):
    return backend.to_device(backend.rng().uniform(-limit, limit, size=shape).astype(_dtype(dtype)))


def xavier_uniform(shape, gain=1.0, dtype=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(shape)
    return _uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def xavier_normal(shape, gain=1.0, dtype=None):
    """N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return _normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def he_normal(shape, dtype=None):
    """N(0, 2 / fan_in): keeps the variance through ReLU layers (He et al., 2015)."""
    fan_in, _ = _fans(shape)
    return _normal(shape, math.sqrt(2.0 / fan_in), dtype)


def he_uniform(shape, dtype=None):
    """U(-a, a) with a = sqrt(6 / fan_in)."""
    fan_in, _ = _fans(shape)
    return _uniform(shape, math.sqrt(6.0 / fan_in), dtype)


def lecun_normal(shape, dtype=None):
    """N(0, 1 / fan_in)  (LeCun et al., 1998)."""
    fan_in, _ = _fans(shape)
    return _normal(shape, math.sqrt(1.0 / fan_in), dtype)


def orthogonal(shape, gain=1.0, dtype=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix."""
    import numpy as np

    rows, cols = shape[0], math.prod(shape[1:])
    a = backend.rng().normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # makes the result uniformly distributed
    if rows < cols:
        q = q.T
    return backend.to_device((gain * q[:rows, :cols]).reshape(shape).astype(_dtype(dtype)))


def identity(shape, gain=1.0, dtype=None):
    """gain * I (for recurrent weights: Le, Jaitly & Hinton's IRNN)."""
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"identity init needs a square matrix, got shape {shape}")
    return backend.xp().eye(shape[0], dtype=_dtype(dtype)) * gain


def zeros(shape, dtype=None):
    return backend.xp().zeros(shape, dtype=_dtype(dtype))


INITIALIZERS = {
    "xavier": xavier_uniform, "xavier_uniform": xavier_uniform, "glorot": xavier_uniform,
    "xavier_normal": xavier_normal, "he": he_normal, "he_normal": he_normal, "he_uniform": he_uniform,
    "lecun": lecun_normal, "lecun_normal": lecun_normal, "orthogonal": orthogonal, "identity": identity, "zeros": zeros,
}


def get(name):
    """Look an initializer up by name."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown initializer {name!r}; choose from {sorted(INITIALIZERS)}") from None
