"""Attention: a weighted average of input states, the weights chosen by the query.

Neural-nets notes, "Attention mechanisms" (which give no formulas); Lecture 13,
§4.2 (machine translation).  For a query q (the decoder's state) and S keys
k_1..k_S with values v_1..v_S (the encoder's states):

    e_j = score(q, k_j)                    one number per input position
    alpha = softmax(e)                     alpha_j >= 0, sum_j alpha_j = 1
    context = sum_j alpha_j v_j            a convex combination of the values

Two scores:

- dot product (Luong et al., 2015):  e_j = q . k_j / sqrt(d) (``scale=True``)
- additive (Bahdanau, Cho & Bengio, 2015):  e_j = w^T tanh(W_q q + W_k k_j + b)

Shapes (batch first): query (B, d_q) or (B, T, d_q) for T queries at once;
keys (B, S, d_k); values (B, S, d_v) (the keys if omitted); mask (B, S) of
booleans, False where a position is padding.
Returns (context (B, d_v) or (B, T, d_v), weights (B, S) or (B, T, S)).
"""
from __future__ import annotations

import math

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn.linear import Linear
from nnkit.nn.module import Module, Parameter, ShapeError


def _name(layer) -> str:
    """A one-line name for error messages, e.g. ``AdditiveAttention(query_size=3, ...)``."""
    return f"{type(layer).__name__}({layer.extra_repr()})"


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _prepare(layer, query, keys, values):
    query, keys = _as_tensor(query), _as_tensor(keys)
    values = keys if values is None else _as_tensor(values)
    if keys.ndim != 3:
        raise ShapeError(f"{_name(layer)}: keys must have shape (batch, source length, features), got {keys.shape}")
    if values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
        raise ShapeError(f"{_name(layer)}: values must have shape ({keys.shape[0]}, {keys.shape[1]}, d_v) "
                         f"like the keys {keys.shape}, got {values.shape}")
    if query.ndim not in (2, 3) or query.shape[0] != keys.shape[0]:
        raise ShapeError(f"{_name(layer)}: query must have shape ({keys.shape[0]}, d) or ({keys.shape[0]}, T, d), "
                         f"got {query.shape} for keys {keys.shape}")
    single = query.ndim == 2
    if single:
        query = ops.reshape(query, query.shape[0], 1, query.shape[1])
    return query, keys, values, single


def attend(scores: Tensor, values: Tensor, mask=None, single=False):
    """softmax over the source axis, then the weighted sum of the values.

    scores (B, T, S), values (B, S, d_v) -> context (B, T, d_v), weights (B, T, S).
    """
    if mask is not None:
        xp = backend.xp()
        m = xp.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
        if m.shape != (scores.shape[0], scores.shape[2]):
            raise ShapeError(f"attention mask must have shape {(scores.shape[0], scores.shape[2])}, got {m.shape}")
        scores = scores + xp.where(m[:, None, :], 0.0, -1e9).astype(scores.dtype)
    weights = ops.softmax(scores, axis=-1)
    context = ops.matmul(weights, values)
    if single:
        B, _, S = weights.shape
        return ops.reshape(context, B, values.shape[2]), ops.reshape(weights, B, S)
    return context, weights


class DotProductAttention(Module):
    """e_j = q . k_j (/ sqrt(d) when ``scale``); no parameters.  Needs d_q = d_k."""

    def __init__(self, scale: bool = True):
        super().__init__()
        self.scale = scale

    def forward(self, query, keys, values=None, mask=None):
        query, keys, values, single = _prepare(self, query, keys, values)
        if query.shape[2] != keys.shape[2]:
            raise ShapeError(f"{_name(self)}: query and keys need the same width, got query {query.shape} "
                             f"and keys {keys.shape}")
        scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))         # (B, T, S)
        if self.scale:
            scores = scores * (1.0 / math.sqrt(keys.shape[2]))
        return attend(scores, values, mask, single)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class AdditiveAttention(Module):
    """Bahdanau's score e_j = w^T tanh(W_q q + W_k k_j + b).

    Parameters: W_q (hidden, d_q), W_k (hidden, d_k) with bias b, w (hidden,).
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int, dtype=None):
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_proj = Linear(query_size, hidden_size, bias=False, dtype=dtype)
        self.key_proj = Linear(key_size, hidden_size, dtype=dtype)
        dtype = dtype or backend.default_dtype()
        w = backend.rng().uniform(-1, 1, hidden_size) / math.sqrt(hidden_size)
        self.v = Parameter(backend.to_device(w.astype(dtype)))

    def project_keys(self, keys) -> Tensor:
        """W_k k_j + b for every position: (B, S, d_k) -> (B, S, hidden).  Compute once per sequence."""
        return self.key_proj(_as_tensor(keys))

    def forward(self, query, keys, values=None, mask=None, projected_keys=None):
        query, keys, values, single = _prepare(self, query, keys, values)
        if query.shape[2] != self.query_size or keys.shape[2] != self.key_size:
            raise ShapeError(f"{_name(self)}: expects query (..., {self.query_size}) and keys (B, S, {self.key_size}), "
                             f"got {query.shape} and {keys.shape}")
        pk = self.project_keys(keys) if projected_keys is None else projected_keys    # (B, S, h)
        pq = self.query_proj(query)                                                     # (B, T, h)
        B, T, h = pq.shape
        S = pk.shape[1]
        hidden = ops.tanh(ops.reshape(pq, B, T, 1, h) + ops.reshape(pk, B, 1, S, h))  # (B, T, S, h)
        scores = ops.matmul(hidden, self.v)                                             # (B, T, S)
        return attend(scores, values, mask, single)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, hidden_size={self.hidden_size}"
