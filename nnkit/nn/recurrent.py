"""Recurrent layers: ``RNN``, ``LSTM`` (with peephole and coupled-gate variants), ``GRU``,
and the ``Bidirectional`` wrapper.

Lecture 13 (RNNs, backprop through time), Lecture 14 (LSTM) and the
neural-nets notes, "Recurrent Neural Networks" (LSTMs, GRUs, peephole
connections, update gates, BI-RNNs).

**Convention: batch first.**  Sequences are (B, T, F): batch, time, features.
Row vectors throughout, as in ``Linear``: a step computes
``x_t W_ih^T + h_{t-1} W_hh^T + b`` with ``w_ih`` of shape (G, I) and
``w_hh`` of shape (G, H), where G is H times the number of gates.

Two ways to run each layer, which give the same numbers:

- ``fused=True`` (default): one primitive for the whole sequence with
  hand-written backprop through time (``nnkit.nn._rnn_kernels``);
- ``fused=False``: a Python loop over the one-step cells below
  (``rnn_cell``, ``lstm_cell``, ``gru_cell``), made of ordinary autodiff ops.
  It is the readable definition, and the tests check the fused kernels against it.
"""
from __future__ import annotations

import math

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn import init
from nnkit.nn import _rnn_kernels as K
from nnkit.nn.module import Module, Parameter, ShapeError


# ------------------------------------------------------------ one-step cells
def rnn_cell(x_t, h, w_ih, w_hh, b=None, nonlinearity="tanh"):
    """One step of a vanilla RNN: h' = phi(x_t W_ih^T + h W_hh^T + b).

    Shapes: x_t (B, I), h (B, H), w_ih (H, I), w_hh (H, H), b (H,) -> (B, H).
    (Lecture 13, eqs. (3)-(4); notes: OUT_t = f(OUT_{t-1} W_r + X_t W_x).)
    """
    a = ops.linear(x_t, w_ih, b) + ops.matmul(h, ops.transpose(w_hh))
    if nonlinearity == "tanh":
        return ops.tanh(a)
    if nonlinearity == "relu":
        return ops.relu(a)
    return a


def lstm_cell(x_t, h, c, w_ih, w_hh, b=None, peephole=None, coupled=False, gates=None):
    """One LSTM step; returns (h', c').  Gate order (i, f, o, g), or (f, o, g) when coupled.

        [i; f; o] = sigmoid(a_ifo),  g = tanh(a_g),   a = x_t W_ih^T + h W_hh^T + b
        c' = f * c + i * g                  (coupled: i = 1 - f)
        h' = o * tanh(c')
    With ``peephole`` (rows p_i, p_f, p_o; no p_i when coupled): a_i += p_i c,
    a_f += p_f c, a_o += p_o c'.  ``gates``, a dict such as {"f": 1.0, "i": 0.0},
    overrides gate values, to try out the gate table of Lecture 14, §3.4.

    Shapes: x_t (B, I), h and c (B, H), w_ih (G, I), w_hh (G, H) -> (B, H), (B, H).
    """
    H = h.shape[-1]
    a = ops.linear(x_t, w_ih, b) + ops.matmul(h, ops.transpose(w_hh))
    names = ("f", "o", "g") if coupled else ("i", "f", "o", "g")
    pre = {n: a[:, k * H:(k + 1) * H] for k, n in enumerate(names)}
    if peephole is not None:
        if not coupled:
            pre["i"] = pre["i"] + peephole[0] * c
        pre["f"] = pre["f"] + peephole[-2] * c
    gates = dict(gates or {})
    f = gates.get("f", None)
    f = ops.sigmoid(pre["f"]) if f is None else f
    i = gates.get("i", None)
    if i is None:
        i = (1 - f) if coupled else ops.sigmoid(pre["i"])
    g = gates.get("g", None)
    g = ops.tanh(pre["g"]) if g is None else g
    c_new = f * c + i * g
    o = gates.get("o", None)
    if o is None:
        o = ops.sigmoid(pre["o"] + peephole[-1] * c_new if peephole is not None else pre["o"])
    return o * ops.tanh(c_new), c_new


def gru_cell(x_t, h, w_ih, w_hh, b=None, gates=None):
    """One GRU step in the notes' convention: h' = (1 - z) * h + z * n.

        [z; r] = sigmoid(x_t W_ih[:2H]^T + h W_hh[:2H]^T + b[:2H])
        n      = tanh(x_t W_ih[2H:]^T + (r * h) W_hh[2H:]^T + b[2H:])
    So z = 0 keeps h, and z = 1, r = 1 is the vanilla tanh RNN.  ``gates``
    ({"z": .., "r": ..}) overrides gate values.
    Shapes: x_t (B, I), h (B, H), w_ih (3H, I), w_hh (3H, H) -> (B, H).
    """
    H = h.shape[-1]
    ax = ops.linear(x_t, w_ih, b)
    ah = ops.matmul(h, ops.transpose(w_hh[:2 * H]))
    gates = dict(gates or {})
    z = gates.get("z", None)
    z = ops.sigmoid(ax[:, :H] + ah[:, :H]) if z is None else z
    r = gates.get("r", None)
    r = ops.sigmoid(ax[:, H:2 * H] + ah[:, H:]) if r is None else r
    n = ops.tanh(ax[:, 2 * H:] + ops.matmul(r * h, ops.transpose(w_hh[2 * H:])))
    return (1 - z) * h + z * n


# -------------------------------------------------------------------- layers
class _Recurrent(Module):
    """Shared parts: parameters, input checks, the initial state."""

    n_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, fused: bool = True,
                 recurrent_init="orthogonal", dtype=None):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be >= 1, "
                             f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size, self.fused = int(input_size), int(hidden_size), fused
        dtype = dtype or backend.default_dtype()
        G, H = self.n_gates * hidden_size, hidden_size
        bound = 1.0 / math.sqrt(H)
        rng = backend.rng()
        self.weight_ih = Parameter(backend.to_device(rng.uniform(-bound, bound, (G, input_size)).astype(dtype)))
        make = init.get(recurrent_init) if isinstance(recurrent_init, str) else recurrent_init
        blocks = [make((H, H), dtype=dtype) for _ in range(self.n_gates)]
        self.weight_hh = Parameter(backend.xp().concatenate(blocks, axis=0))
        self.bias = Parameter(backend.xp().zeros(G, dtype=dtype)) if bias else None

    def _check(self, x) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.data.dtype.kind != "f":
            x = Tensor(x.data.astype(self.weight_ih.dtype))
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ShapeError(f"{self!r} expects input of shape (batch, time, {self.input_size}), "
                             f"got shape {x.shape}")
        if x.dtype != self.weight_ih.dtype and not x.requires_grad and x._vjp is None:
            x = Tensor(x.data.astype(self.weight_ih.dtype))
        return x

    def _state(self, s, x, what="h0") -> Tensor:
        B, H = x.shape[0], self.hidden_size
        if s is None:
            return Tensor(backend.xp().zeros((B, H), dtype=self.weight_ih.dtype))
        s = s if isinstance(s, Tensor) else Tensor(s)
        if s.shape != (B, H):
            raise ShapeError(f"{self!r}: initial state {what} must have shape ({B}, {H}), got {s.shape}")
        return s

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNN(_Recurrent):
    """A vanilla recurrent layer: h_t = phi(x_t W_ih^T + h_{t-1} W_hh^T + b).

    ``forward(x, h0=None)``: x (B, T, I), h0 (B, H) or None (zeros)
    -> (outputs (B, T, H), h_T (B, H)).
    ``recurrent_init="identity"`` with ``nonlinearity="relu"`` is the IRNN of
    Le, Jaitly & Hinton (2015) (Lecture 14, §3.3).
    """

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", bias=True, fused=True,
                 recurrent_init="orthogonal", dtype=None):
        if nonlinearity not in ("tanh", "relu", "linear"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh', 'relu' or 'linear', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, fused, recurrent_init, dtype)

    def forward(self, x, h0=None):
        x = self._check(x)
        h = self._state(h0, x)
        if self.fused:
            hs = K.rnn_sequence(x, h, self.weight_ih, self.weight_hh, self.bias, self.nonlinearity)
        else:
            steps = []
            for t in range(x.shape[1]):
                h = rnn_cell(x[:, t], h, self.weight_ih, self.weight_hh, self.bias, self.nonlinearity)
                steps.append(h)
            hs = ops.stack(steps, axis=1)
        return hs, hs[:, -1]


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997; Lecture 14, §3.4).

    ``forward(x, state=None)``: x (B, T, I), state (h0, c0) each (B, H) or None
    -> (outputs (B, T, H), (h_T, c_T)).

    Options: ``peephole=True`` lets the gates see the cell (Gers & Schmidhuber,
    2000; notes, "Peephole connections"); ``coupled=True`` ties the input gate
    to the forget gate, i = 1 - f (notes, "Update gates").  The forget-gate
    bias starts at ``forget_bias`` (1 by default) so that cells remember at first.
    """

    def __init__(self, input_size, hidden_size, bias=True, peephole=False, coupled=False,
                 forget_bias=1.0, fused=True, recurrent_init="orthogonal", dtype=None):
        self.coupled, self.n_gates = bool(coupled), (3 if coupled else 4)
        super().__init__(input_size, hidden_size, bias, fused, recurrent_init, dtype)
        H = hidden_size
        if self.bias is not None:
            start = 0 if coupled else H
            self.bias.data[start:start + H] = forget_bias
        self.peephole = (Parameter(backend.xp().zeros((self.n_gates - 1, H), dtype=self.weight_ih.dtype))
                         if peephole else None)

    def forward(self, x, state=None):
        x = self._check(x)
        h0, c0 = (None, None) if state is None else state
        h, c = self._state(h0, x, "h0"), self._state(c0, x, "c0")
        if self.fused:
            hs, c = K.lstm_sequence(x, h, c, self.weight_ih, self.weight_hh, self.bias, self.peephole, self.coupled)
            return hs, (hs[:, -1], c)
        steps = []
        for t in range(x.shape[1]):
            h, c = lstm_cell(x[:, t], h, c, self.weight_ih, self.weight_hh, self.bias, self.peephole, self.coupled)
            steps.append(h)
        return ops.stack(steps, axis=1), (h, c)


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014), in the notes' convention h_t = (1 - z) h_{t-1} + z n.

    ``forward(x, h0=None)``: x (B, T, I) -> (outputs (B, T, H), h_T (B, H)).
    (PyTorch writes the update the other way round, h_t = (1 - z) n + z h_{t-1},
    and applies r after the product with W_hn; both are GRUs.)
    """

    n_gates = 3

    def forward(self, x, h0=None):
        x = self._check(x)
        h = self._state(h0, x)
        if self.fused:
            hs = K.gru_sequence(x, h, self.weight_ih, self.weight_hh, self.bias)
        else:
            steps = []
            for t in range(x.shape[1]):
                h = gru_cell(x[:, t], h, self.weight_ih, self.weight_hh, self.bias)
                steps.append(h)
            hs = ops.stack(steps, axis=1)
        return hs, hs[:, -1]


def reverse_time(x: Tensor) -> Tensor:
    """x[:, ::-1]: the sequence read backwards.  (B, T, F) -> (B, T, F)."""
    xp = backend.xp()
    out = x.data[:, ::-1]
    return Tensor.from_op(out, (x,), lambda g: (xp.ascontiguousarray(g[:, ::-1]),), "reverse_time")


class Bidirectional(Module):
    """Run one recurrent layer forwards and another backwards; concatenate (notes, "BI-RNNs").

        y_t = [h^f_t ; h^b_t],  h^f_t reads x_1..x_t,  h^b_t reads x_T..x_t.

    ``forward(x)``: x (B, T, I) -> (outputs (B, T, H_f + H_b), (state_f, state_b)).
    """

    def __init__(self, forward_layer: _Recurrent, backward_layer: _Recurrent):
        super().__init__()
        if forward_layer.input_size != backward_layer.input_size:
            raise ValueError(f"Bidirectional: both layers need the same input size, got "
                             f"{forward_layer.input_size} and {backward_layer.input_size}")
        self.forward_layer, self.backward_layer = forward_layer, backward_layer

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        yf, sf = self.forward_layer(x)
        yb, sb = self.backward_layer(reverse_time(x))
        return ops.concatenate([yf, reverse_time(yb)], axis=2), (sf, sb)
