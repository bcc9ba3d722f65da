"""Whole-sequence recurrent primitives with hand-written backprop through time.

Each function runs a recurrent layer over all T time steps as ONE node of the
autodiff tape, and its VJP runs backprop through time (Lecture 13, §3) in a
single backward loop.  Compared with recording a handful of small operations
per step, this

- computes the input projection x_t W_ih^T for all steps in one matrix product,
- keeps the gates of a step in one (B, G) buffer (G = 3H or 4H),
- saves the activations of the forward pass for the backward pass,
- forms the weight gradients with one matrix product over all steps:
  dW_hh = sum_t dA_t^T h_{t-1} is one (G, T B) x (T B, H) product.

Inputs are batch-first, x (B, T, I); internally everything is time-major
(T, B, .), so that the slice for step t is one contiguous block.

Each primitive is checked in ``tests/test_recurrent.py`` against the same
recurrence written step by step with autodiff ops (``recurrent.lstm_cell`` etc.),
in float64, and with finite differences.
"""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import Tensor


def _sigmoid_(a):
    """In place: a <- 1 / (1 + exp(-a)) = (1 + tanh(a / 2)) / 2, which never overflows."""
    xp = backend.xp()
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _time_major(x):
    """(B, T, F) -> contiguous (T, B, F)."""
    return backend.xp().ascontiguousarray(x.transpose(1, 0, 2))


def _input_projection(x, w_ih, b):
    """All steps at once: A[t] = x_t W_ih^T + b, shape (T, B, G)."""
    xt = _time_major(x)
    T, B, I = xt.shape
    A = (xt.reshape(T * B, I) @ w_ih.T).reshape(T, B, -1)
    if b is not None:
        A += b
    return xt, A


def _weight_grads(dA, xt, H_prev, w_ih, need_x):
    """dW_ih = sum_t dA_t^T x_t, db = sum_t sum_b dA_t, dx_t = dA_t W_ih: one GEMM each."""
    T, B, G = dA.shape
    dA2 = dA.reshape(T * B, G)
    dw_ih = dA2.T @ xt.reshape(T * B, -1)
    db = dA2.sum(axis=0)
    dx = (dA2 @ w_ih).reshape(T, B, -1).transpose(1, 0, 2) if need_x else None
    return dw_ih, db, dx


def second_output(primary: Tensor, data, slot: dict, name: str) -> Tensor:
    """A second result of the primitive that produced ``primary`` (e.g. the last cell state).

    Its gradient is parked in ``slot`` and read by ``primary``'s VJP, which
    runs after it (it depends on ``primary``).  ``primary`` receives a zero
    gradient from it, so that its VJP runs even if nothing else used it.
    """
    def vjp(g):
        slot["grad"] = g if "grad" not in slot else slot["grad"] + g
        return (backend.xp().zeros_like(primary.data),)

    return Tensor.from_op(data, (primary,), vjp, name)


# --------------------------------------------------------------------- vanilla
_ACT = ("tanh", "relu", "linear")


def rnn_sequence(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None,
                 nonlinearity: str = "tanh") -> Tensor:
    """h_t = phi(x_t W_ih^T + h_{t-1} W_hh^T + b) for t = 1..T.

    Shapes: x (B, T, I), h0 (B, H), w_ih (H, I), w_hh (H, H), b (H,) -> hs (B, T, H).
    phi is tanh, relu or the identity ("linear").
    """
    if nonlinearity not in _ACT:
        raise ValueError(f"rnn_sequence: nonlinearity must be one of {_ACT}, got {nonlinearity!r}")
    xp = backend.xp()
    xt, A = _input_projection(x.data, w_ih.data, None if b is None else b.data)
    T, B, H = A.shape
    Hs = xp.empty((T + 1, B, H), dtype=A.dtype)
    Hs[0] = h0.data
    whhT = w_hh.data.T
    for t in range(T):
        a = A[t]
        a += Hs[t] @ whhT
        if nonlinearity == "tanh":
            xp.tanh(a, out=Hs[t + 1])
        elif nonlinearity == "relu":
            xp.maximum(a, 0, out=Hs[t + 1])
        else:
            Hs[t + 1] = a

    def vjp(g):
        gt = g.transpose(1, 0, 2)
        dA = xp.empty_like(A)
        dh = xp.zeros((B, H), dtype=A.dtype)
        for t in range(T - 1, -1, -1):
            dh += gt[t]
            h = Hs[t + 1]
            if nonlinearity == "tanh":
                xp.multiply(dh, 1 - h * h, out=dA[t])
            elif nonlinearity == "relu":
                xp.multiply(dh, h > 0, out=dA[t])
            else:
                dA[t] = dh
            dh = dA[t] @ w_hh.data
        dw_ih, db, dx = _weight_grads(dA, xt, None, w_ih.data, x.requires_grad)
        dw_hh = dA.reshape(T * B, H).T @ Hs[:-1].reshape(T * B, H)
        return dx, dh, dw_ih, dw_hh, (db if b is not None else None)

    parents = (x, h0, w_ih, w_hh) + ((b,) if b is not None else ())
    return Tensor.from_op(Hs[1:].transpose(1, 0, 2), parents, lambda g: vjp(g)[:len(parents)], "rnn")


# ------------------------------------------------------------------------ LSTM
def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None,
                  peephole: Tensor | None = None, coupled: bool = False):
    """The LSTM over a whole sequence (Lecture 14, eqs. (6)-(8); notes, "LSTMs").

        [i; f; o] = sigmoid(a_ifo),  g = tanh(a_g),  a = x_t W_ih^T + h_{t-1} W_hh^T + b
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Gate order in the (G,) axis: (i, f, o, g), G = 4H; with ``coupled`` the
    input gate is i = 1 - f and the order is (f, o, g), G = 3H.
    ``peephole`` (3, H) or (2, H) holds diagonal weights p: a_i += p_i * c_{t-1},
    a_f += p_f * c_{t-1}, a_o += p_o * c_t (the output gate sees the new cell).

    Shapes: x (B, T, I), h0 and c0 (B, H), w_ih (G, I), w_hh (G, H), b (G,)
    -> (hs (B, T, H), c_T (B, H)).
    """
    xp = backend.xp()
    xt, A = _input_projection(x.data, w_ih.data, None if b is None else b.data)
    T, B, G = A.shape
    H = w_hh.shape[1]
    S = G - H                      # the sigmoid block: gates before g
    fs = slice(0, H) if coupled else slice(H, 2 * H)
    os_ = slice(S - H, S)
    P = peephole.data if peephole is not None else None
    Hs = xp.empty((T + 1, B, H), dtype=A.dtype)
    Cs = xp.empty((T + 1, B, H), dtype=A.dtype)
    TC = xp.empty((T, B, H), dtype=A.dtype)
    Hs[0], Cs[0] = h0.data, c0.data
    whhT = w_hh.data.T
    for t in range(T):
        a, c_prev, c = A[t], Cs[t], Cs[t + 1]
        a += Hs[t] @ whhT
        if P is None:
            _sigmoid_(a[:, :S])
        else:
            if not coupled:
                a[:, :H] += c_prev * P[0]
            a[:, fs] += c_prev * P[-2]
            _sigmoid_(a[:, :S - H])
        g = xp.tanh(a[:, S:], out=a[:, S:])
        f = a[:, fs]
        if coupled:               # c = f c_prev + (1 - f) g = g + f (c_prev - g)
            xp.subtract(c_prev, g, out=c)
            c *= f
            c += g
        else:
            xp.multiply(f, c_prev, out=c)
            c += a[:, :H] * g
        if P is not None:
            a[:, os_] += c * P[-1]
            _sigmoid_(a[:, os_])
        xp.tanh(c, out=TC[t])
        xp.multiply(a[:, os_], TC[t], out=Hs[t + 1])
    slot: dict = {}

    def vjp(g_out):
        gt = g_out.transpose(1, 0, 2)
        dA = xp.empty_like(A)
        dh = xp.zeros((B, H), dtype=A.dtype)
        dc = slot.pop("grad", None)
        dc = xp.zeros((B, H), dtype=A.dtype) if dc is None else dc.astype(A.dtype, copy=True)
        dP = xp.zeros_like(P) if P is not None else None
        tmp, tmp2 = xp.empty((B, H), dtype=A.dtype), xp.empty((B, H), dtype=A.dtype)
        deriv = xp.empty((B, G), dtype=A.dtype)
        for t in range(T - 1, -1, -1):
            a, d, c_prev, tc = A[t], dA[t], Cs[t], TC[t]
            dh += gt[t]
            o, f, gg = a[:, os_], a[:, fs], a[:, S:]
            # h = o tanh(c): dL/do = dh tanh(c);  dL/dc += dh o (1 - tanh(c)^2)
            xp.multiply(dh, tc, out=d[:, os_])
            xp.multiply(tc, tc, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            if P is not None:     # a_o depends on c through the peephole
                xp.multiply(d[:, os_], o, out=tmp2)
                tmp2 *= 1 - o
                dc += tmp2 * P[-1]
                dP[-1] += (tmp2 * Cs[t + 1]).sum(axis=0)
            # c = f c_prev + i g  (coupled: i = 1 - f, so dL/df = dc (c_prev - g))
            if coupled:
                xp.subtract(c_prev, gg, out=tmp2)
                xp.multiply(dc, tmp2, out=d[:, fs])
                xp.subtract(1, f, out=tmp2)
                xp.multiply(dc, tmp2, out=d[:, S:])
            else:
                xp.multiply(dc, gg, out=d[:, :H])
                xp.multiply(dc, c_prev, out=d[:, fs])
                xp.multiply(dc, a[:, :H], out=d[:, S:])
            # through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - g^2, all gates at once
            xp.subtract(1, a, out=deriv)
            deriv *= a
            xp.multiply(gg, gg, out=deriv[:, S:])
            xp.subtract(1, deriv[:, S:], out=deriv[:, S:])
            if P is not None:     # d a_o was already formed above
                deriv[:, os_] = 1
                d[:, os_] *= o * (1 - o)
            d *= deriv
            dc *= f
            if P is not None:
                if not coupled:
                    dc += d[:, :H] * P[0]
                    dP[0] += (d[:, :H] * c_prev).sum(axis=0)
                dc += d[:, fs] * P[-2]
                dP[-2] += (d[:, fs] * c_prev).sum(axis=0)
            dh = d @ w_hh.data
        dw_ih, db, dx = _weight_grads(dA, xt, None, w_ih.data, x.requires_grad)
        dw_hh = dA.reshape(T * B, G).T @ Hs[:-1].reshape(T * B, H)
        grads = [dx, dh, dc, dw_ih, dw_hh]
        if b is not None:
            grads.append(db)
        if P is not None:
            grads.append(dP)
        return tuple(grads)

    parents = (x, h0, c0, w_ih, w_hh) + ((b,) if b is not None else ()) + ((peephole,) if P is not None else ())
    hs = Tensor.from_op(Hs[1:].transpose(1, 0, 2), parents, vjp, "lstm")
    c_last = second_output(hs, Cs[T], slot, "lstm_cell_state")
    return hs, c_last


# ------------------------------------------------------------------------- GRU
def gru_sequence(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None) -> Tensor:
    """The GRU over a whole sequence, in the notes' convention ("GRUs"):

        [z; r] = sigmoid(x_t W_ih[:2H]^T + h_{t-1} W_hh[:2H]^T + b[:2H])
        n      = tanh(x_t W_ih[2H:]^T + (r * h_{t-1}) W_hh[2H:]^T + b[2H:])
        h_t    = (1 - z) * h_{t-1} + z * n

    so z = 1, r = 1 is the vanilla tanh RNN and z = 0 copies the state.
    Shapes: x (B, T, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), b (3H,) -> hs (B, T, H).
    """
    xp = backend.xp()
    xt, A = _input_projection(x.data, w_ih.data, None if b is None else b.data)
    T, B, G = A.shape
    H = G // 3
    Hs = xp.empty((T + 1, B, H), dtype=A.dtype)
    RH = xp.empty((T, B, H), dtype=A.dtype)
    Hs[0] = h0.data
    w_zr_T, w_n_T = w_hh.data[:2 * H].T, w_hh.data[2 * H:].T
    for t in range(T):
        a, h_prev = A[t], Hs[t]
        a[:, :2 * H] += h_prev @ w_zr_T
        _sigmoid_(a[:, :2 * H])
        xp.multiply(a[:, H:2 * H], h_prev, out=RH[t])
        a[:, 2 * H:] += RH[t] @ w_n_T
        n = xp.tanh(a[:, 2 * H:], out=a[:, 2 * H:])
        xp.subtract(n, h_prev, out=Hs[t + 1])
        Hs[t + 1] *= a[:, :H]
        Hs[t + 1] += h_prev

    def vjp(g):
        gt = g.transpose(1, 0, 2)
        dA = xp.empty_like(A)
        dh = xp.zeros((B, H), dtype=A.dtype)
        w_zr, w_n = w_hh.data[:2 * H], w_hh.data[2 * H:]
        for t in range(T - 1, -1, -1):
            a, d, h_prev = A[t], dA[t], Hs[t]
            dh += gt[t]
            z, r, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            xp.multiply(dh, z, out=d[:, 2 * H:])
            d[:, 2 * H:] *= 1 - n * n                   # d a_n
            drh = d[:, 2 * H:] @ w_n                     # d (r * h_prev)
            xp.multiply(dh, n - h_prev, out=d[:, :H])
            d[:, :H] *= z * (1 - z)                      # d a_z
            xp.multiply(drh, h_prev, out=d[:, H:2 * H])
            d[:, H:2 * H] *= r * (1 - r)                 # d a_r
            dh = dh * (1 - z) + drh * r + d[:, :2 * H] @ w_zr
        dw_ih, db, dx = _weight_grads(dA, xt, None, w_ih.data, x.requires_grad)
        dA2 = dA.reshape(T * B, G)
        dw_hh = xp.concatenate([dA2[:, :2 * H].T @ Hs[:-1].reshape(T * B, H),
                                dA2[:, 2 * H:].T @ RH.reshape(T * B, H)], axis=0)
        grads = (dx, dh, dw_ih, dw_hh)
        return grads + ((db,) if b is not None else ())

    parents = (x, h0, w_ih, w_hh) + ((b,) if b is not None else ())
    return Tensor.from_op(Hs[1:].transpose(1, 0, 2), parents, vjp, "gru")
