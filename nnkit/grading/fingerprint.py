"""Fingerprints: compare a result with a stored one without storing the result itself.

A fingerprint keeps the *structure* of a value in clear (types, shapes, lengths) and replaces
its numbers by a hash of a rounded copy.  Rounding is made tolerance-robust: each number ``x``
is divided by a quantum ``q`` and shifted by 0 or 1/2 (the shift is stored, one bit per number)
so that ``x / q + shift`` lies in the middle half of an integer cell.  A candidate ``a`` with
``|a - x| < q / 4`` falls into the same cell, so its hash matches; ``|a - x| >= 3q / 4`` never
does.  With ``q = 4 (atol + rtol * s)``, where ``s`` is the value's scale (the power of two above
its largest entry), the match is ``np.allclose``-like.

Exact values (integers, booleans, strings, or ``exact=True``) are hashed as they are.

    fp = make(value, rtol=1e-6, atol=1e-9, salt="warmup/sigmoid/large")
    matches(candidate, fp)              -> bool
    structure_message(candidate, fp)    -> why the structure differs, or None
"""
from __future__ import annotations

import ast
import hashlib
import math

import numpy as np

_INT_KINDS = "biu"


def _leaves(value, path="result"):
    """Flatten ``value`` into (structure tokens, numeric leaves); raises TypeError on the unknown."""
    tokens, leaves = [], []

    def walk(v, where):
        if isinstance(v, dict):
            tokens.append(f"dict{sorted(v)!r}")
            for key in sorted(v):
                walk(v[key], f"{where}[{key!r}]")
        elif isinstance(v, (tuple, list)):
            tokens.append(f"{type(v).__name__}{len(v)}")
            for i, item in enumerate(v):
                walk(item, f"{where}[{i}]")
        elif v is None or isinstance(v, str):
            tokens.append(f"exact{v!r}")
        else:
            try:
                a = np.asarray(v)
            except Exception as err:  # noqa: BLE001 - any unconvertible object
                raise TypeError(f"{where}: a {type(v).__name__} cannot be fingerprinted") from err
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{where}: an array of dtype {a.dtype} cannot be fingerprinted")
            tokens.append(f"num{a.shape}")
            leaves.append((where, a))

    walk(value, path)
    return tokens, leaves


def _scale_exponent(x: np.ndarray) -> int:
    finite = np.abs(x[np.isfinite(x)])
    top = float(finite.max()) if finite.size else 0.0
    return int(math.ceil(math.log2(top))) if top > 0 else -1074


def make(value, *, rtol=1e-6, atol=1e-9, exact=False, salt="") -> dict:
    """The fingerprint of ``value``: a small JSON-ready dict."""
    tokens, leaves = _leaves(value)
    numbers = [a.ravel() for _, a in leaves]
    flat = np.concatenate([n.astype(np.float64) for n in numbers]) if numbers else np.zeros(0)
    exact = bool(exact) or all(a.dtype.kind in _INT_KINDS for _, a in leaves)
    fp = {"structure": tokens, "exact": exact}
    if exact:
        fp["hash"] = _hash(salt, tokens, [repr(float(x)) for x in flat])
        return fp
    e = _scale_exponent(flat)
    q = 4.0 * (atol + rtol * 2.0 ** e)
    shifts = _shifts(flat, q)
    fp.update(scale=e, rtol=rtol, atol=atol, shifts=_pack(shifts),
              hash=_hash(salt, tokens, _cells(flat, q, shifts)))
    return fp


def matches(value, fp: dict, salt="") -> bool:
    """Does ``value`` have the fingerprint ``fp`` (within the fingerprint's tolerance)?"""
    try:
        tokens, leaves = _leaves(value)
    except TypeError:
        return False
    if tokens != list(fp["structure"]):
        return False
    numbers = [a.ravel().astype(np.float64) for _, a in leaves]
    flat = np.concatenate(numbers) if numbers else np.zeros(0)
    if fp["exact"]:
        return _hash(salt, tokens, [repr(float(x)) for x in flat]) == fp["hash"]
    q = 4.0 * (fp["atol"] + fp["rtol"] * 2.0 ** fp["scale"])
    shifts = _unpack(fp["shifts"], flat.size)
    if shifts is None:
        return False
    return _hash(salt, tokens, _cells(flat, q, shifts)) == fp["hash"]


def structure_message(value, fp: dict) -> str | None:
    """Explain how ``value``'s structure (types, lengths, shapes) differs from ``fp``'s."""
    from nnkit.grading.compare import shape_hint

    try:
        tokens, _ = _leaves(value)
    except TypeError as err:
        return str(err)
    expected = list(fp["structure"])
    if tokens == expected:
        return None
    for got, want in zip(tokens, expected):
        if got != want:
            if got.startswith("num") and want.startswith("num"):
                a, e = ast.literal_eval(got[3:]), ast.literal_eval(want[3:])
                hint = shape_hint(a, e)
                return f"wrong shape: expected {e}, got {a}" + (f" — {hint}" if hint else "")
            return f"wrong kind of result: expected {_describe(want)}, got {_describe(got)}"
    return "the result has a different number of parts than expected"


def _describe(token: str) -> str:
    if token.startswith("num"):
        return f"numbers of shape {token[3:]}"
    if token.startswith("exact"):
        return "a string or None"
    if token.startswith("dict"):
        return "a dict"
    for kind in ("tuple", "list"):
        if token.startswith(kind):
            return f"a {kind} of {token[len(kind):]} items"
    return token


def _shifts(flat: np.ndarray, q: float) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        frac = np.mod(flat / q, 1.0)
    # shift by 1/2 when x/q sits in the outer quarters of its cell
    return ((frac < 0.25) | (frac >= 0.75)).astype(np.uint8)


def _cells(flat: np.ndarray, q: float, shifts: np.ndarray) -> list:
    out = []
    with np.errstate(invalid="ignore", over="ignore"):
        cells = np.floor(flat / q + 0.5 * shifts)
    for x, c in zip(flat, cells):
        out.append(repr(float(x)) if not np.isfinite(x) or not np.isfinite(c) else str(int(c)))
    return out


def _pack(bits: np.ndarray) -> str:
    return np.packbits(bits).tobytes().hex() if bits.size else ""


def _unpack(text: str, n: int):
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8)) if text else np.zeros(0, np.uint8)
    if bits.size < n or bits.size >= n + 8:
        return None
    return bits[:n]


def _hash(salt: str, tokens, items) -> str:
    h = hashlib.sha256()
    h.update(salt.encode())
    h.update(b"\0" + repr(tokens).encode())
    for item in items:
        h.update(b"\0" + item.encode())
    return h.hexdigest()[:24]
