"""Plain-data codec between a kernel and the grader: only JSON crosses the boundary.

Values: None, bool, int, float (nan/inf included), str, NumPy arrays and scalars of numeric
or bool dtype, and tuples, lists and str-keyed dicts of those.  Anything else is refused with
a message naming its type.  This module imports only ``json`` and ``numpy``: the grader
runs its source in a learner's kernel before any learner code.
"""
from json import dumps as _json_dumps
from json import loads as _json_loads

from numpy import array as _array
from numpy import asarray as _asarray
from numpy import dtype as _dtype
from numpy import generic as _generic
from numpy import ndarray as _ndarray

# Names are bound at import: a learner who later patches numpy or json does not change them.

MAX_DEPTH = 40
MAX_ITEMS = 20_000_000


def encode(value, _depth=0):
    """Return a JSON-ready form of ``value`` (raises TypeError for what cannot travel)."""
    if _depth > MAX_DEPTH:
        raise TypeError("result is nested too deeply to send back")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if isinstance(value, (bool, float)) or abs(value) < 2**63 else float(value)
    if isinstance(value, _generic) and not isinstance(value, _ndarray):
        value = _asarray(value)
    if not isinstance(value, _ndarray):
        if hasattr(value, "backward") and hasattr(value, "data"):  # a Tensor: send its data
            value = value.data
        if hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):  # CuPy
            value = value.get()
        if hasattr(value, "__array__") and not isinstance(value, (list, tuple, dict)):
            value = _asarray(value)
    if isinstance(value, _ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"an array of dtype {value.dtype} cannot be graded (numbers only)")
        if value.size > MAX_ITEMS:
            raise TypeError(f"an array of {value.size} numbers is too large to send back")
        return {"__array__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with str keys can be sent back")
        return {"__dict__": [[k, encode(v, _depth + 1)] for k, v in value.items()]}
    raise TypeError(f"a {type(value).__name__} cannot be graded: return numbers, arrays, "
                    "strings, or tuples/lists/dicts of those")


def decode(data, _depth=0):
    """Inverse of ``encode``; rejects anything it would not have produced."""
    if _depth > MAX_DEPTH:
        raise ValueError("data nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, _depth + 1) for v in data]
    if isinstance(data, dict):
        if set(data) == {"__array__", "dtype", "shape"}:
            dtype = _dtype(data["dtype"])
            shape = tuple(int(n) for n in data["shape"])
            if dtype.kind not in "biuf" or any(n < 0 for n in shape):
                raise ValueError("bad array in result")
            size = 1
            for n in shape:
                size *= n
            if size > MAX_ITEMS:
                raise ValueError("array in result too large")
            array = _array(data["__array__"], dtype=dtype)
            if array.shape != shape:
                raise ValueError("array in result does not match its shape")
            return array
        if set(data) == {"__tuple__"} and isinstance(data["__tuple__"], list):
            return tuple(decode(v, _depth + 1) for v in data["__tuple__"])
        if set(data) == {"__dict__"} and isinstance(data["__dict__"], list):
            return {str(k): decode(v, _depth + 1) for k, v in data["__dict__"]}
    raise ValueError(f"unexpected {type(data).__name__} in result data")


def dumps(value) -> str:
    return _json_dumps(encode(value), allow_nan=True)


def loads(text: str):
    return decode(_json_loads(text))


def describe(value) -> str:
    """A short description that shows type and shape, never values."""
    if isinstance(value, _ndarray):
        return f"array of shape {value.shape}, dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe(v) for v in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"{type(value).__name__} of {len(value)} ({inner}{more})"
    if isinstance(value, dict):
        return f"dict with keys {sorted(value)[:6]}"
    return type(value).__name__
