"""Compare a learner's result with an expected one and explain the difference.

The message names the place (``result[1]``), the shapes, the largest error and where it is,
and a hint for the usual mistakes.  It never prints an expected value.  Shared by the grader
(which compares in its own process) and by ``nnkit.check``.
"""
from __future__ import annotations

import numpy as np


def _index(flat: int, shape) -> str:
    if not shape:
        return ""
    return " at index " + str(tuple(int(i) for i in np.unravel_index(flat, shape)))


def shape_hint(actual_shape, expected_shape) -> str:
    """Name the usual cause of a shape mismatch."""
    a, e = tuple(actual_shape), tuple(expected_shape)
    if len(a) == 2 and a == e[::-1]:
        return "it looks transposed (a weight matrix used as W instead of W.T, or the reverse?)"
    if tuple(n for n in a if n != 1) == tuple(n for n in e if n != 1):
        return "only size-1 axes differ: check keepdims= or a reshape"
    if not a and e:
        return "you returned a single number: did a sum/mean lose its axis= argument?"
    if int(np.prod(a)) == int(np.prod(e)):
        return "same number of entries, different layout: check the axis order"
    if len(a) == len(e) and any(x != y for x, y in zip(a, e)):
        return "check which axis you summed or averaged over"
    return ""


def _factor_hint(a: np.ndarray, e: np.ndarray) -> str:
    mask = np.abs(e) > 1e-12
    if not mask.any():
        return ""
    ratio = a[mask] / e[mask]
    c = float(np.median(ratio))
    if not np.isfinite(c) or not np.allclose(ratio, c, rtol=1e-4, atol=1e-9) or np.isclose(c, 1.0):
        return ""
    if np.isclose(c, -1.0):
        return "every entry has the wrong sign"
    if np.isclose(c, 0.5) or np.isclose(c, 2.0):
        return f"every entry is off by the same factor ({c:.3g}): a missing or extra 1/2?"
    for n in sorted(set(e.shape) | set(a.shape)):
        if n > 1 and (np.isclose(c, n, rtol=1e-3) or np.isclose(c, 1.0 / n, rtol=1e-3)):
            return (f"every entry is off by the same factor ({c:.3g}, i.e. {n} or 1/{n}): "
                    "a missing or extra 1/N average over the batch?")
    return f"every entry is off by the same factor ({c:.3g})"


def compare_arrays(actual, expected, rtol=1e-6, atol=1e-9, exact=False, where="result") -> str | None:
    """None when ``actual`` matches ``expected``; otherwise a message for the learner."""
    e = np.asarray(expected)
    if actual is None:
        return f"{where}: you returned None (a missing `return`?)"
    try:
        a = np.asarray(actual)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        return f"{where}: expected numbers, got a {type(actual).__name__}"
    if a.dtype.kind not in "biuf":
        return f"{where}: expected numbers, got {type(actual).__name__} of dtype {a.dtype}"
    if a.shape != e.shape:
        hint = shape_hint(a.shape, e.shape)
        return (f"{where}: wrong shape: expected {e.shape}, got {a.shape}"
                + (f" — {hint}" if hint else ""))
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    bad_a = ~np.isfinite(a64) & np.isfinite(e64)
    if bad_a.any():
        kinds = "nan" if np.isnan(a64[bad_a]).all() else "inf/nan"
        return (f"{where}: {int(bad_a.sum())} of {a.size} entries are {kinds}"
                f"{_index(int(np.argmax(bad_a.ravel())), a.shape)} — an overflow? exp() of a large "
                "number is inf; use a numerically stable form (e.g. subtract the max first)")
    if exact:
        same = (a64 == e64) | (np.isnan(a64) & np.isnan(e64))
        if same.all():
            return None
        first = int(np.argmin(same.ravel()))
        return f"{where}: {int((~same).sum())} of {a.size} entries differ (first{_index(first, a.shape)})"
    both_nan = np.isnan(a64) & np.isnan(e64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(both_nan | (a64 == e64), 0.0, np.abs(a64 - e64))
        err = np.where(np.isnan(err), np.inf, err)
        over = err - (atol + rtol * np.abs(np.where(np.isfinite(e64), e64, 0.0)))
    bad = over > 0
    if not bad.any():
        return None
    worst = int(np.argmax(np.where(bad, err, -1.0).ravel()))
    message = (f"{where}: wrong values: {int(bad.sum())} of {a.size} entries differ, "
               f"largest error {float(err.ravel()[worst]):.3g}{_index(worst, a.shape)}")
    if not np.any(a64) and np.any(e64):
        hint = "your result is all zeros: is a term (e.g. the bias gradient) never computed?"
    else:
        hint = _factor_hint(a64, e64) if np.isfinite(e64).all() else ""
    return message + (f" — {hint}" if hint else "")


def compare(actual, expected, rtol=1e-6, atol=1e-9, exact=False, where="result") -> str | None:
    """Like ``compare_arrays`` but walks tuples, lists, dicts, strings and None."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            return (f"{where}: expected a {type(expected).__name__} of {len(expected)} items, "
                    f"got a {type(actual).__name__}")
        if len(actual) != len(expected):
            return f"{where}: expected {len(expected)} items, got {len(actual)}"
        for i, (x, y) in enumerate(zip(actual, expected)):
            message = compare(x, y, rtol, atol, exact, f"{where}[{i}]")
            if message:
                return message
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected a dict, got a {type(actual).__name__}"
        if set(actual) != set(expected):
            return f"{where}: expected keys {sorted(expected)}, got {sorted(actual)}"
        for key in expected:
            message = compare(actual[key], expected[key], rtol, atol, exact, f"{where}[{key!r}]")
            if message:
                return message
        return None
    if isinstance(expected, str) or expected is None:
        if actual == expected:
            return None
        return f"{where}: wrong {'text' if isinstance(expected, str) else 'value'}"
    return compare_arrays(actual, expected, rtol, atol, exact, where)
