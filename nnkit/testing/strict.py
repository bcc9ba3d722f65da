"""A stand-in for a foreign array library, so that GPU-only bugs show up on every machine.

CuPy arrays live on the GPU and refuse to be mixed with NumPy arrays: an
implicit conversion (``numpy.asarray(gpu_array)``) raises ``TypeError``, and so
does an operation with one NumPy operand and one CuPy operand.  Library code
that quietly calls NumPy in a hot path therefore works on the CPU and breaks on
the GPU.  CI machines have no GPU, so this module imitates that behaviour on
top of NumPy:

- :class:`StrictArray` wraps a NumPy array.  ``numpy`` ufuncs and functions
  accept it and return StrictArrays (as they do for CuPy arrays), reductions
  return 0-d arrays instead of scalars, but a plain ``numpy.ndarray`` operand
  or an implicit conversion raises ``TypeError``.  ``.get()`` copies to NumPy.
- :data:`namespace` looks like the module ``cupy``: ``namespace.zeros``,
  ``namespace.exp``, ``namespace.add.at``, ``namespace.random.seed`` ...
  Its ``random`` draws a different stream from NumPy's for the same seed, as
  CuPy's does, so a test cannot pass by accident of shared random numbers.

Select it with ``nnkit.use("strict")`` in tests; it is slow and meant for nothing else.
"""
from __future__ import annotations

import numbers
import operator

import numpy

_ARRAY_NAME = "nnkit.testing.strict.StrictArray"


class MixedBackendError(TypeError):
    """An operation received arrays of two array libraries."""


def _mixing_error(where: str, other) -> MixedBackendError:
    return MixedBackendError(
        f"{where} got a {type(other).__module__}.{type(other).__name__} and a {_ARRAY_NAME} "
        "(the stand-in for cupy.ndarray); move data with nnkit.to_device(...) or nnkit.to_numpy(...)"
    )


def _unwrap(x, where: str):
    """The NumPy array inside ``x``; plain NumPy arrays are refused, like CuPy does."""
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, numpy.ndarray):
        raise _mixing_error(where, x)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(item, where) for item in x)
    return x


def _wrap(x):
    """Wrap NumPy results; NumPy scalars become 0-d arrays as CuPy returns them."""
    if isinstance(x, numpy.ndarray):
        return StrictArray(x)
    if isinstance(x, numpy.generic):
        return StrictArray(numpy.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(item) for item in x)
    if isinstance(x, list):
        return [_wrap(item) for item in x]
    return x


def _unwrap_index(index):
    """Indices may be StrictArrays, NumPy arrays, lists, slices or integers."""
    if isinstance(index, StrictArray):
        return index._a
    if isinstance(index, tuple):
        return tuple(_unwrap_index(i) for i in index)
    return index


class StrictArray:
    """A NumPy array that behaves like an array of another library (see the module docstring).

    Shapes, dtypes, methods and indexing are those of the wrapped NumPy array.
    """

    __slots__ = ("_a",)
    __array_priority__ = 100  # as CuPy: a Tensor (priority 1000) handles ``array * tensor``
    __hash__ = None

    def __init__(self, a):
        self._a = a

    # ------------------------------------------------------------ refusals
    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"Implicit conversion of a {_ARRAY_NAME} to a NumPy array is not allowed "
            "(as with CuPy); use .get() or nnkit.to_numpy(...) explicitly"
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"numpy.{ufunc.__name__}"
        for x in inputs:
            if not isinstance(x, (StrictArray, numpy.ndarray, numpy.generic, numbers.Number, bool, slice, tuple, list)):
                return NotImplemented  # e.g. a Tensor: let it handle the operation
        args = [_unwrap(x, where) for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o, where) for o in kwargs["out"])
        result = getattr(ufunc, method)(*args, **kwargs)
        if method == "at":
            return None
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        where = f"numpy.{func.__name__}"
        args = [_unwrap(a, where) for a in args]
        kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
        return _wrap(func(*args, **kwargs))

    # ------------------------------------------------------ array protocol
    def get(self):
        """A NumPy copy of the values (CuPy's device-to-host copy)."""
        return self._a.copy()

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ etc.: NumPy must not see the data
            raise AttributeError(name)
        value = getattr(self._a, name)  # shape, dtype, ndim, T, sum, reshape, astype ...
        if callable(value):
            where = f"ndarray.{name}"

            def method(*args, **kwargs):
                args = [_unwrap(a, where) for a in args]
                kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
                return _wrap(value(*args, **kwargs))

            return method
        return _wrap(value)

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def T(self):
        return StrictArray(self._a.T)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap_index(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap_index(index)] = _unwrap(value, "__setitem__")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return operator.index(self._a)

    def __repr__(self):
        return "strict." + repr(self._a)


def _install_operators():
    binary = {
        "add": numpy.add, "sub": numpy.subtract, "mul": numpy.multiply, "truediv": numpy.true_divide,
        "floordiv": numpy.floor_divide, "mod": numpy.remainder, "pow": numpy.power, "matmul": numpy.matmul,
        "and": numpy.bitwise_and, "or": numpy.bitwise_or, "xor": numpy.bitwise_xor,
    }
    for name, uf in binary.items():
        def forward(self, other, uf=uf):
            if getattr(other, "__array_priority__", 0) > StrictArray.__array_priority__:
                return NotImplemented  # a Tensor on the right: its reflected method runs
            return uf(self, other)

        def reflected(self, other, uf=uf):
            return uf(other, self)

        def inplace(self, other, uf=uf):
            uf(self, other, out=(self,))
            return self

        setattr(StrictArray, f"__{name}__", forward)
        setattr(StrictArray, f"__r{name}__", reflected)
        setattr(StrictArray, f"__i{name}__", inplace)
    comparisons = {"lt": numpy.less, "le": numpy.less_equal, "gt": numpy.greater,
                   "ge": numpy.greater_equal, "eq": numpy.equal, "ne": numpy.not_equal}
    for name, uf in comparisons.items():
        def compare(self, other, uf=uf):
            if getattr(other, "__array_priority__", 0) > StrictArray.__array_priority__:
                return NotImplemented
            return uf(self, other)

        setattr(StrictArray, f"__{name}__", compare)
    StrictArray.__neg__ = lambda self: numpy.negative(self)
    StrictArray.__pos__ = lambda self: numpy.positive(self)
    StrictArray.__abs__ = lambda self: numpy.absolute(self)
    StrictArray.__invert__ = lambda self: numpy.invert(self)


_install_operators()


# ------------------------------------------------------------------ namespace
_FROM_HOST = {"asarray", "array", "asanyarray"}  # the functions that copy host data to the "device"


class _Ufunc:
    """``namespace.add`` etc.: a NumPy ufunc that refuses plain NumPy arrays."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def _call(self, method, args, kwargs):
        where = f"strict.{self.__name__}"
        args = [_unwrap(a, where) for a in args]
        kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
        return _wrap(getattr(self._uf, method)(*args, **kwargs))

    def __call__(self, *args, **kwargs):
        return self._call("__call__", args, kwargs)

    def at(self, a, index, b=None):
        """Unbuffered in-place ``a[index] (op)= b`` (``cupy.add.at`` / ``cupyx.scatter_add``)."""
        if not isinstance(a, StrictArray):
            raise _mixing_error(f"strict.{self.__name__}.at", a)
        args = (a._a, _unwrap_index(index)) + (() if b is None else (_unwrap(b, "at"),))
        self._uf.at(*args)

    def reduce(self, *args, **kwargs):
        return self._call("reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._call("accumulate", args, kwargs)

    def outer(self, *args, **kwargs):
        return self._call("outer", args, kwargs)


class _Namespace:
    """A module-like view of a NumPy module whose functions take and return StrictArrays."""

    def __init__(self, module, prefix: str):
        self._module = module
        self._prefix = prefix
        self._cache = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._cache:
            return self._cache[name]
        value = getattr(self._module, name)
        if isinstance(value, numpy.ufunc):
            wrapped = _Ufunc(value)
        elif isinstance(value, type) or not callable(value):
            wrapped = value  # dtypes (float32, ...), constants (pi, inf, newaxis)
            if type(value).__name__ == "module":
                wrapped = _Namespace(value, f"{self._prefix}.{name}")
        else:
            wrapped = self._function(value, name)
        self._cache[name] = wrapped
        return wrapped

    def _function(self, fn, name):
        where = f"{self._prefix}.{name}"
        from_host = name in _FROM_HOST

        def function(*args, **kwargs):
            if from_host:  # a copy, as a host-to-device transfer is: no memory shared with NumPy
                args = [a._a if isinstance(a, StrictArray) else numpy.array(a) for a in args[:1]] + list(args[1:])
            else:
                args = [_unwrap(a, where) for a in args]
            kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
            return _wrap(fn(*args, **kwargs))

        function.__name__ = name
        function.__doc__ = f"{where}: numpy.{name} on StrictArrays."
        return function


class _Random:
    """``namespace.random``: CuPy-style global random functions with their own stream."""

    _OFFSET = 0x5EED  # a different stream from numpy.random for the same seed, as with CuPy

    def __init__(self):
        self._state = numpy.random.RandomState()

    def seed(self, n=None):
        self._state = numpy.random.RandomState(None if n is None else (int(n) + self._OFFSET) % 2**32)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        fn = getattr(self._state, name)

        def draw(*args, **kwargs):
            return _wrap(fn(*[_unwrap(a, f"strict.random.{name}") for a in args], **kwargs))

        return draw


class _StrictModule(_Namespace):
    """The module-like object ``nnkit.use("strict")`` computes with."""

    ndarray = StrictArray

    def __init__(self):
        super().__init__(numpy, "strict")
        self.random = _Random()
        self.__name__ = "nnkit.testing.strict"

    @property
    def special(self):
        """``scipy.special`` on StrictArrays (``cupyx.scipy.special``)."""
        if "special" not in self._cache:
            import scipy.special  # noqa: PLC0415 - only the layers that need erf ask for it

            self._cache["special"] = _Namespace(scipy.special, "strict.special")
        return self._cache["special"]

    def asnumpy(self, a):
        """A NumPy copy (``cupy.asnumpy``)."""
        return a.get() if isinstance(a, StrictArray) else numpy.asarray(a)

    def __repr__(self):
        return "<array namespace nnkit.testing.strict (a stand-in for cupy)>"


namespace = _StrictModule()
