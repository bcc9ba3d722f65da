"""The array namespace nnkit computes with.

NumPy is the default. CuPy runs the same code on a GPU: choose it with
``nnkit.use("cupy")`` or the environment variable ``NNKIT_BACKEND=cupy``.
Library code never imports NumPy for work that must also run on the GPU: it
asks for ``backend.xp()`` instead.

Data move only when asked: ``to_device(x)`` copies arrays (or a model's
parameters) to the backend in use, ``to_numpy(x)`` copies back.  Under a
backend other than NumPy, an operation that meets arrays of two libraries
raises :class:`BackendMismatchError` naming both.

``nnkit.use("strict")`` selects :mod:`nnkit.testing.strict`, a NumPy-based
stand-in that refuses NumPy arrays as CuPy does; the tests use it to catch
GPU-only bugs on machines without a GPU.
"""
from __future__ import annotations

import os
import random

import numpy

_STATE = {"name": "numpy", "xp": numpy, "dtype": "float32"}
# FOREIGN[0] is True when arrays are not NumPy's: the autodiff core then checks
# that every operand belongs to the backend (a list, so that importers share it).
FOREIGN = [False]


class BackendError(RuntimeError):
    """Raised when a backend is asked for that cannot be used here."""


class BackendMismatchError(TypeError):
    """An operation got arrays of two array libraries (e.g. NumPy and CuPy)."""


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
    if name == "strict":
        from nnkit.testing.strict import namespace  # noqa: PLC0415 - for tests only
        return namespace
    raise BackendError(f"unknown backend {name!r}: choose 'numpy' or 'cupy' (or 'strict' in tests)")


def use(name: str) -> None:
    """Select the array backend: ``"numpy"`` (default), ``"cupy"`` or, in tests, ``"strict"``.

    Arrays and models made before the switch stay where they are; move them
    with :func:`to_device`.
    """
    _STATE["xp"] = _load(name)
    _STATE["name"] = name
    FOREIGN[0] = name != "numpy"


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


def array_type():
    """The array class of the backend in use (``numpy.ndarray``, ``cupy.ndarray``, ...)."""
    return _STATE["xp"].ndarray


def type_name(a) -> str:
    """``numpy.ndarray``, ``cupy.ndarray``, ... (the library's public name, not its private module)."""
    t = a if isinstance(a, type) else type(a)
    module = t.__module__ if t.__module__.startswith("nnkit") else t.__module__.split(".")[0]
    return f"{module}.{t.__name__}"


def mismatch_error(where: str, a, b) -> BackendMismatchError:
    """The error for an operation ``where`` that got arrays ``a`` and ``b`` (or their types) of two libraries."""
    return BackendMismatchError(
        f"{where} got a {type_name(a)} and a {type_name(b)} while the backend is {_STATE['name']!r}; "
        "move data with nnkit.to_device(...) (or back with nnkit.to_numpy(...))"
    )


def to_numpy(a):
    """Return ``a`` as a NumPy array, copying it off the GPU if needed."""
    if hasattr(a, "data") and hasattr(a, "backward"):  # a Tensor
        a = a.data
    if hasattr(a, "get"):  # CuPy arrays copy to the host with .get()
        return a.get()
    return numpy.asarray(a)


def to_device(a):
    """Copy ``a`` to the backend in use (a no-op for what is already there).

    - an array, list or number: returns an array of the backend;
    - a Tensor (or Parameter): moves its values and gradient in place, returns it;
    - a model (anything with ``parameters()``): moves every parameter, gradient
      and buffer in place and returns the model.
    """
    if hasattr(a, "parameters") and callable(a.parameters):
        for p in a.parameters():
            to_device(p)
        for _full, owner, name in a.buffers() if hasattr(a, "buffers") else ():
            value = getattr(owner, name)
            if value is not None:
                object.__setattr__(owner, name, _move(value))
        return a
    if hasattr(a, "data") and hasattr(a, "backward"):  # a Tensor
        a.data = _move(a.data)
        if a.grad is not None:
            a.grad = _move(a.grad)
        return a
    return _move(a)


def _move(a):
    """``a`` as an array of the backend in use, through the host if it lives elsewhere."""
    xp = _STATE["xp"]
    if isinstance(a, xp.ndarray):
        return a
    if hasattr(a, "get") and not isinstance(a, (dict, numpy.ndarray)):  # another library's array
        a = a.get()
    return xp.asarray(a)


def seed(n: int) -> None:
    """Seed every random generator nnkit draws from (Python, NumPy, CuPy)."""
    random.seed(n)
    numpy.random.seed(n % 2**32)
    _STATE["rng"] = numpy.random.default_rng(n)
    if _STATE["name"] != "numpy":  # CuPy (or its stand-in) has its own generator
        _STATE["xp"].random.seed(n % 2**32)


def rng() -> numpy.random.Generator:
    """The shared NumPy generator, reset by :func:`seed`."""
    if "rng" not in _STATE:
        _STATE["rng"] = numpy.random.default_rng()
    return _STATE["rng"]


_env = os.environ.get("NNKIT_BACKEND")
if _env:
    use(_env)
