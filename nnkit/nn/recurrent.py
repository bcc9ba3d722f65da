"""Recurrent layers: ``RNN``, ``LSTM`` (with peephole and coupled-gate variants), ``GRU``,
and the ``Bidirectional`` wrapper.

Lecture 13 (RNNs, backprop through time), Lecture 14 (LSTM) and the
neural-nets notes, "Recurrent Neural Networks" (LSTMs, GRUs, peephole
connections, update gates, BI-RNNs).

**Convention: batch first.**  Sequences are (B, T, F): batch, time, features.
Row vectors throughout, as in ``Linear``: a step computes
``x_t W_ih^T + h_{t-1} W_hh^T + b`` with ``w_ih`` of shape (G, I) and
``w_hh`` of shape (G, H), where G is H times the number of gates.

The primitives :func:`rnn`, :func:`lstm` and :func:`gru` below are the textbook
implementations: a loop over the one-step cells (``rnn_cell``, ``lstm_cell``,
``gru_cell``), made of ordinary autodiff operations, whose backward pass is
backprop through time.  ``nnkit.kernels`` holds fused versions of the same
functions (one node for the whole sequence, with a hand-written backward loop);
``nnkit.use(kernels=...)`` picks which one runs.
"""
from __future__ import annotations

import math

from nnkit import backend, kernels
from nnkit.autodiff import Tensor, ops
from nnkit.nn.init import get as initializer
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


# ------------------------------------------------------ whole-sequence primitives
_NONLINEARITIES = ("tanh", "relu", "linear")


def rnn(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None = None,
        nonlinearity: str = "tanh") -> Tensor:
    """A vanilla RNN over a whole sequence: h_t = phi(a_t), a_t = x_t W_ih^T + h_{t-1} W_hh^T + b.

    x (B, T, I), h0 (B, H), w_ih (H, I), w_hh (H, H), b (H,) or None -> hs (B, T, H).
    phi is tanh, relu or the identity ("linear").

    Backward, backprop through time (Lecture 13, §3): the tape runs the steps' VJPs from t = T
    down to 1, which computes, with dA_t = dL/da_t,

        dA_t = (dL/dh_t from the output + dA_{t+1} W_hh) * phi'(a_t)
        dL/dW_hh = sum_t dA_t^T h_{t-1},   dL/dW_ih = sum_t dA_t^T x_t,   dL/db = sum_t dA_t 1
    """
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"rnn: nonlinearity must be one of {_NONLINEARITIES}, got {nonlinearity!r}")
    fast = kernels.implementation("rnn")
    if fast is not None:
        return fast(x, h0, w_ih, w_hh, b, nonlinearity)
    h, steps = h0, []
    for t in range(x.shape[1]):
        h = rnn_cell(x[:, t], h, w_ih, w_hh, b, nonlinearity)
        steps.append(h)
    return ops.stack(steps, axis=1)


def lstm(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None = None,
         peephole: Tensor | None = None, coupled: bool = False):
    """The LSTM over a whole sequence (Lecture 14, eqs. (6)-(8); notes, "LSTMs"): see :func:`lstm_cell`.

    x (B, T, I), h0 and c0 (B, H), w_ih (G, I), w_hh (G, H), b (G,), peephole (3, H) or (2, H)
    -> (hs (B, T, H), c_T (B, H)); G = 4H, or 3H when ``coupled``.

    Backward, through time: the cell state carries the gradient from step to step,
    dL/dc_{t-1} = dL/dc_t * f_t (+ the peephole terms), besides dL/dh_{t-1} = sum_k dA_k,t W_hh,k;
    an open forget gate (f = 1) passes it on unchanged, which is why LSTMs remember.
    """
    fast = kernels.implementation("lstm")
    if fast is not None:
        return fast(x, h0, c0, w_ih, w_hh, b, peephole, coupled)
    h, c, steps = h0, c0, []
    for t in range(x.shape[1]):
        h, c = lstm_cell(x[:, t], h, c, w_ih, w_hh, b, peephole, coupled)
        steps.append(h)
    return ops.stack(steps, axis=1), c


def gru(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None = None) -> Tensor:
    """The GRU over a whole sequence, in the notes' convention (see :func:`gru_cell` and :class:`GRU`).

    x (B, T, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), b (3H,) or None -> hs (B, T, H).
    Backward, through time: dL/dh_{t-1} = dL/dh_t * (1 - z_t) + (the paths through z, r and n),
    so z = 0 copies both the state forward and its gradient back.
    """
    fast = kernels.implementation("gru")
    if fast is not None:
        return fast(x, h0, w_ih, w_hh, b)
    h, steps = h0, []
    for t in range(x.shape[1]):
        h = gru_cell(x[:, t], h, w_ih, w_hh, b)
        steps.append(h)
    return ops.stack(steps, axis=1)


# -------------------------------------------------------------------- layers
class _Recurrent(Module):
    """Shared parts: parameters, input checks, the initial state."""

    n_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 recurrent_init="orthogonal", dtype=None):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be >= 1, "
                             f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        dtype = dtype or backend.default_dtype()
        G, H = self.n_gates * hidden_size, hidden_size
        bound = 1.0 / math.sqrt(H)
        rng = backend.rng()
        self.weight_ih = Parameter(backend.to_device(rng.uniform(-bound, bound, (G, input_size)).astype(dtype)))
        make = initializer(recurrent_init) if isinstance(recurrent_init, str) else recurrent_init
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

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", bias=True,
                 recurrent_init="orthogonal", dtype=None):
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"RNN: nonlinearity must be 'tanh', 'relu' or 'linear', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, recurrent_init, dtype)

    def forward(self, x, h0=None):
        x = self._check(x)
        hs = rnn(x, self._state(h0, x), self.weight_ih, self.weight_hh, self.bias, self.nonlinearity)
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
                 forget_bias=1.0, recurrent_init="orthogonal", dtype=None):
        self.coupled, self.n_gates = bool(coupled), (3 if coupled else 4)
        super().__init__(input_size, hidden_size, bias, recurrent_init, dtype)
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
        hs, c = lstm(x, h, c, self.weight_ih, self.weight_hh, self.bias, self.peephole, self.coupled)
        return hs, (hs[:, -1], c)


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014), in the notes' convention:

        [z; r] = sigmoid(x_t W_ih[:2H]^T + h_{t-1} W_hh[:2H]^T + b[:2H])
        n_t    = tanh(x_t W_ih[2H:]^T + (r * h_{t-1}) W_hh[2H:]^T + b[2H:])
        h_t    = (1 - z) * h_{t-1} + z * n_t

    ``forward(x, h0=None)``: x (B, T, I) -> (outputs (B, T, H), h_T (B, H)).

    Where this differs from PyTorch's ``nn.GRU``, on purpose:

    - the update gate's role: here z = 0 keeps the state and z = 1, r = 1 is the vanilla tanh
      RNN (the notes' equation); PyTorch writes h_t = (1 - z) * n_t + z * h_{t-1};
    - the reset gate acts before the recurrent product, (r * h) W_hn^T, as in Cho et al.;
      PyTorch (like cuDNN) applies it after, r * (h W_hn^T + b_hn);
    - one bias per gate; PyTorch has two (b_ih and b_hh), which differ only in the n gate.

    Both are GRUs, but the two forms are different functions: weights do not carry over.
    """

    n_gates = 3

    def forward(self, x, h0=None):
        x = self._check(x)
        hs = gru(x, self._state(h0, x), self.weight_ih, self.weight_hh, self.bias)
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
