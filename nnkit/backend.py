"""The array namespace nnkit computes with.

NumPy is the default. CuPy runs the same code on a GPU: choose it with
``nnkit.use("cupy")`` or the environment variable ``NNKIT_BACKEND=cupy``.
Library code never imports NumPy for work that must also run on the GPU: it
asks for ``backend.xp()`` instead.

Data move only when asked: ``to_device(x)`` copies arrays (or a model's
parameters) to the backend in use, ``to_numpy(x)`` copies back.  Under a
backend other than NumPy, an operation that meets arrays of two libraries
raises :class:`BackendMismatchError` naming both.

Backends are array namespaces registered by name (:func:`register`).  NumPy
and CuPy are built in; :mod:`nnkit.testing` registers ``"strict"``, a
NumPy-based stand-in that refuses NumPy arrays as CuPy does, so that tests
catch GPU-only bugs on machines without a GPU::

    import nnkit.testing      # registers "strict"
    nnkit.use("strict")
"""
from __future__ import annotations

import os
import random

import numpy


class BackendError(RuntimeError):
    """Raised when a backend is asked for that cannot be used here."""


class BackendMismatchError(TypeError):
    """An operation got arrays of two array libraries (e.g. NumPy and CuPy)."""


class BackendState:
    """Which backend is in use: one object, read through the functions below.

    name     the backend's registered name
    xp       its array namespace (a module such as ``numpy``, or a module-like object)
    foreign  True when arrays are not NumPy's: the autodiff core then checks that
             every operand belongs to the backend (NumPy pays nothing)
    dtype    the floating-point type of new parameters
    rng      the shared NumPy generator (:func:`rng`), reset by :func:`seed`
    """

    def __init__(self):
        self.name = "numpy"
        self.xp = numpy
        self.foreign = False
        self.dtype = "float32"
        self.rng = None


_state = BackendState()


def _load_cupy():
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


# name -> a function returning the array namespace (called when the backend is chosen)
_REGISTRY = {"numpy": lambda: numpy, "cupy": _load_cupy}
# names that a package registers when it is imported, for the error message and for
# NNKIT_BACKEND, which is read before that package can be imported
_REGISTERED_BY = {"strict": "nnkit.testing"}


def register(name: str, load) -> None:
    """Make ``nnkit.use(name)`` select the array namespace that ``load()`` returns.

    The namespace must look like ``numpy``/``cupy`` (``zeros``, ``exp``,
    ``add.at``, ``random.seed``, ``ndarray`` ...).  If ``NNKIT_BACKEND`` names
    this backend, it is selected now.
    """
    _REGISTRY[name] = load
    if os.environ.get("NNKIT_BACKEND") == name and _state.name != name:
        use(name)


def available() -> list:
    """The names :func:`use` accepts now."""
    return sorted(_REGISTRY)


def use(name: str) -> None:
    """Select the array backend: ``"numpy"`` (default), ``"cupy"``, or a registered one.

    Arrays and models made before the switch stay where they are; move them
    with :func:`to_device`.
    """
    if name not in _REGISTRY:
        hint = f" (run `import {_REGISTERED_BY[name]}` first, which registers it)" if name in _REGISTERED_BY else ""
        raise BackendError(f"unknown backend {name!r}{hint}; registered: {', '.join(available())}")
    _state.xp = _REGISTRY[name]()
    _state.name = name
    _state.foreign = name != "numpy"


def is_foreign() -> bool:
    """True when the backend's arrays are not NumPy's (operands are then checked)."""
    return _state.foreign


def name() -> str:
    """The name of the backend in use."""
    return _state.name


def xp():
    """The array module in use (``numpy`` or ``cupy``)."""
    return _state.xp


def special():
    """SciPy-style special functions (``erf``, ...) for the backend's arrays.

    ``scipy.special`` for NumPy, ``cupyx.scipy.special`` for CuPy; another
    registered namespace offers its own as ``namespace.special``.
    """
    if _state.name == "numpy":
        import scipy.special  # noqa: PLC0415 - loaded by the few layers that need it

        return scipy.special
    if _state.name == "cupy":
        import cupyx.scipy.special  # noqa: PLC0415 - optional dependency

        return cupyx.scipy.special
    return _state.xp.special


def default_dtype() -> str:
    """The floating-point type new parameters get (``"float32"`` unless changed)."""
    return _state.dtype


def set_default_dtype(dtype: str) -> None:
    """Choose ``"float32"`` (fast) or ``"float64"`` (for gradient checks) for new parameters."""
    dtype = numpy.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"default dtype must be float32 or float64, got {dtype}")
    _state.dtype = dtype


def array_type():
    """The array class of the backend in use (``numpy.ndarray``, ``cupy.ndarray``, ...)."""
    return _state.xp.ndarray


def type_name(a) -> str:
    """``numpy.ndarray``, ``cupy.ndarray``, ... (the library's public name, not its private module)."""
    t = a if isinstance(a, type) else type(a)
    module = t.__module__ if t.__module__.startswith("nnkit") else t.__module__.split(".")[0]
    return f"{module}.{t.__name__}"


def mismatch_error(where: str, a, b) -> BackendMismatchError:
    """The error for an operation ``where`` that got arrays ``a`` and ``b`` (or their types) of two libraries."""
    return BackendMismatchError(
        f"{where} got a {type_name(a)} and a {type_name(b)} while the backend is {_state.name!r}; "
        "move data with nnkit.to_device(...) (or back with nnkit.to_numpy(...))"
    )


def check_arrays(where: str, arrays) -> None:
    """Raise :class:`BackendMismatchError` if an array in ``arrays`` is not of the backend in use.

    The autodiff core calls it only under a foreign backend (:func:`is_foreign`).
    """
    kind = _state.xp.ndarray
    for a in arrays:
        if not isinstance(a, kind):
            raise mismatch_error(where, a, kind)


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
    xp = _state.xp
    if isinstance(a, xp.ndarray):
        return a
    if hasattr(a, "get") and not isinstance(a, (dict, numpy.ndarray)):  # another library's array
        a = a.get()
    return xp.asarray(a)


def seed(n: int) -> None:
    """Seed every random generator nnkit draws from (Python, NumPy, CuPy)."""
    random.seed(n)
    numpy.random.seed(n % 2**32)
    _state.rng = numpy.random.default_rng(n)
    if _state.foreign:  # CuPy (or its stand-in) has its own generator
        _state.xp.random.seed(n % 2**32)


def rng() -> numpy.random.Generator:
    """The shared NumPy generator, reset by :func:`seed`."""
    if _state.rng is None:
        _state.rng = numpy.random.default_rng()
    return _state.rng


_env = os.environ.get("NNKIT_BACKEND")
if _env and _env not in _REGISTERED_BY:  # those are selected when they register
    use(_env)
