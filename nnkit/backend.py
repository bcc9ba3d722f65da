"""The array namespace nnkit computes with.

NumPy is the default. CuPy can be chosen for the heavy paths (convolution,
pooling, recurrent layers) with ``nnkit.use("cupy")`` or the environment
variable ``NNKIT_BACKEND=cupy``.  Library code never imports NumPy for work
that must also run on the GPU: it asks for ``backend.xp()`` instead.
"""
from __future__ import annotations

import os
import random

import numpy

_STATE = {"name": "numpy", "xp": numpy, "dtype": "float32"}


class BackendError(RuntimeError):
    """Raised when a backend is asked for that cannot be used here."""


def _load(name: str):
    if name == "numpy":
        return numpy
    if name == "cupy":
        try:
            import cupy  # noqa: PLC0415 - optional dependency
        except ImportError as err:
            raise BackendError(
                "nnkit.use('cupy') needs CuPy, which is not installed. "
                "Install it with: pip install 'nnkit[gpu]'"
            ) from err
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # CUDA driver missing or broken
            raise BackendError(f"CuPy is installed but no GPU can be used: {err}") from err
        if count == 0:
            raise BackendError("CuPy is installed but this machine has no GPU.")
        return cupy
    raise BackendError(f"unknown backend {name!r}: choose 'numpy' or 'cupy'")


def use(name: str) -> None:
    """Select the array backend: ``"numpy"`` (default) or ``"cupy"``."""
    _STATE["xp"] = _load(name)
    _STATE["name"] = name


def name() -> str:
    """The name of the backend in use."""
    return _STATE["name"]


def xp():
    """The array module in use (``numpy`` or ``cupy``)."""
    return _STATE["xp"]


def default_dtype() -> str:
    """The floating-point type new parameters get (``"float32"`` unless changed)."""
    return _STATE["dtype"]


def set_default_dtype(dtype: str) -> None:
    """Choose ``"float32"`` (fast) or ``"float64"`` (for gradient checks) for new parameters."""
    dtype = numpy.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"default dtype must be float32 or float64, got {dtype}")
    _STATE["dtype"] = dtype


def to_numpy(a):
    """Return ``a`` as a NumPy array, copying it off the GPU if needed."""
    if hasattr(a, "data") and hasattr(a, "backward"):  # a Tensor
        a = a.data
    if hasattr(a, "get"):  # CuPy arrays copy to the host with .get()
        return a.get()
    return numpy.asarray(a)


def to_device(a):
    """Return ``a`` as an array of the backend in use."""
    return _STATE["xp"].asarray(a)


def seed(n: int) -> None:
    """Seed every random generator nnkit draws from (Python, NumPy, CuPy)."""
    random.seed(n)
    numpy.random.seed(n % 2**32)
    _STATE["rng"] = numpy.random.default_rng(n)
    if _STATE["name"] == "cupy":
        _STATE["xp"].random.seed(n % 2**32)


def rng() -> numpy.random.Generator:
    """The shared NumPy generator, reset by :func:`seed`."""
    if "rng" not in _STATE:
        _STATE["rng"] = numpy.random.default_rng()
    return _STATE["rng"]


_env = os.environ.get("NNKIT_BACKEND")
if _env:
    use(_env)
