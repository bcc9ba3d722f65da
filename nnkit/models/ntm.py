"""Neural Turing Machine memory and addressing, as pure functions (Graves, Wayne & Danihelka, 2014).

Neural-nets notes, "Neural Turing Machines", "Content-based addressing" and
"Location-based addressing".  The memory ``M`` has shape (N, W): N locations of width W.
A head's weighting ``w`` has shape (N,), is non-negative and sums to 1.

The addressing pipeline of one head at one time step:

    w_c = softmax(beta * cos(k, M[i]))                   content
    w_g = g * w_c + (1 - g) * w_prev                     interpolation
    w~[i] = sum_j w_g[j] * s[(i - j) mod N]              circular shift
    w[i] = w~[i]^gamma / sum_j w~[j]^gamma               sharpening
"""
from __future__ import annotations

import numpy as np


def _check_memory(M, who):
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"{who}: memory must have shape (N, W), got shape {M.shape}")
    return M


def _check_weighting(w, N, who):
    w = np.asarray(w, dtype=float)
    if w.shape != (N,):
        raise ValueError(f"{who}: weighting must have shape ({N},) for a memory of {N} locations, got {w.shape}")
    return w


def read(M, w):
    """r = sum_i w[i] M[i]: a blurry read.  M (N, W), w (N,) -> r (W,)."""
    M = _check_memory(M, "ntm.read")
    return _check_weighting(w, M.shape[0], "ntm.read") @ M


def _write_operands(M, w, v, name, what):
    """Check a write head's memory (N, W), weighting (N,) and ``what`` vector (W,)."""
    M = _check_memory(M, name)
    w = _check_weighting(w, M.shape[0], name)
    v = np.asarray(v, dtype=float)
    if v.shape != (M.shape[1],):
        raise ValueError(f"{name}: {what} vector must have shape ({M.shape[1]},), got {v.shape}")
    return M, w, v


def erase(M, w, e):
    """M~[i] = M[i] * (1 - w[i] e), elementwise.  M (N, W), w (N,), e (W,) in [0, 1] -> (N, W)."""
    M, w, e = _write_operands(M, w, e, "ntm.erase", "erase")
    return M * (1.0 - np.outer(w, e))


def add(M, w, a):
    """M[i] <- M[i] + w[i] a.  M (N, W), w (N,), a (W,) -> (N, W)."""
    M, w, a = _write_operands(M, w, a, "ntm.add", "add")
    return M + np.outer(w, a)


def write(M, w, e, a):
    """An NTM write: erase with e, then add a, both weighted by w."""
    return add(erase(M, w, e), w, a)


def cosine_similarity(k, M, eps=1e-12):
    """K(k, M[i]) = k . M[i] / (|k| |M[i]|) for every row.  k (W,), M (N, W) -> (N,)."""
    M = _check_memory(M, "ntm.cosine_similarity")
    k = np.asarray(k, dtype=float)
    if k.shape != (M.shape[1],):
        raise ValueError(f"ntm.cosine_similarity: key must have shape ({M.shape[1]},), got {k.shape}")
    return (M @ k) / (np.linalg.norm(M, axis=1) * np.linalg.norm(k) + eps)


def content_addressing(M, k, beta):
    """w_c[i] = exp(beta K(k, M[i])) / sum_j exp(beta K(k, M[j])), K the cosine similarity; beta >= 0."""
    if beta < 0:
        raise ValueError(f"ntm.content_addressing: key strength beta must be >= 0, got {beta}")
    z = beta * cosine_similarity(k, M)
    z = np.exp(z - z.max())
    return z / z.sum()


def interpolate(w_content, w_prev, g):
    """w_g = g w_c + (1 - g) w_prev, with the gate g in [0, 1]."""
    if not 0.0 <= g <= 1.0:
        raise ValueError(f"ntm.interpolate: gate g must lie in [0, 1], got {g}")
    return g * np.asarray(w_content, dtype=float) + (1.0 - g) * np.asarray(w_prev, dtype=float)


def shift(w, s, shifts=None):
    """Circular convolution w~[i] = sum_j w[j] s((i - j) mod N).

    ``s`` holds the probabilities of the allowed integer shifts ``shifts``
    (default: centred, e.g. -1, 0, +1 for three entries), so s = [0.1, 0.8, 0.1]
    moves 10 % of the focus one place back, 80 % stays, 10 % moves one place on.
    """
    w = np.asarray(w, dtype=float)
    s = np.asarray(s, dtype=float)
    if shifts is None:
        if len(s) % 2 == 0:
            raise ValueError(f"ntm.shift: give `shifts` for an even number ({len(s)}) of shift weights")
        half = len(s) // 2
        shifts = range(-half, half + 1)
    shifts = list(shifts)
    if len(shifts) != len(s):
        raise ValueError(f"ntm.shift: {len(s)} shift weights but {len(shifts)} shifts")
    return sum(p * np.roll(w, d) for p, d in zip(s, shifts))


def sharpen(w, gamma):
    """w[i] = w[i]^gamma / sum_j w[j]^gamma with gamma >= 1."""
    if gamma < 1:
        raise ValueError(f"ntm.sharpen: gamma must be >= 1, got {gamma}")
    p = np.asarray(w, dtype=float) ** gamma
    return p / p.sum()


def address(M, k, beta, g, w_prev, s, gamma, shifts=None):
    """The whole pipeline for one head; returns a dict with every stage (c, g, shifted, w)."""
    wc = content_addressing(M, k, beta)
    wg = interpolate(wc, w_prev, g)
    ws = shift(wg, s, shifts)
    return {"content": wc, "gated": wg, "shifted": ws, "w": sharpen(ws, gamma)}
