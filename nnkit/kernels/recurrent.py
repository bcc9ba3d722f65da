"""The fast kernels of ``rnn``, ``lstm`` and ``gru`` (same functions as ``nnkit.nn.recurrent``).

Each kernel runs a recurrent layer over all T time steps as ONE node of the autodiff tape,
and its VJP runs backprop through time (Lecture 13, §3) in a single backward loop.  Compared
with recording a handful of small operations per step (the textbook form), this

- computes the input projection x_t W_ih^T of all steps with one matrix product,
- forms the weight gradients with one matrix product over all steps
  (dW_hh = sum_t dA_t^T h_{t-1} is one (G, T B) x (T B, H) product),
- leaves inside the time loop only the recurrent product h_{t-1} W_hh^T (forward),
  dA_t W_hh (backward) and a few element-wise operations.

The speed techniques:

- *Gate-major layout for the element-wise work.*  The pre-activations of all steps live in
  one array A of shape (n, T, B, H), n = number of gates, so each gate's (B, H) block of a
  step is contiguous and every element-wise operation on it is one fast loop (on the (B, n H)
  row layout the same operation runs over B short row pieces).  The sigmoid gates come
  first: one call applies the sigmoid to all of them.
- *Row layout for the products.*  A step's recurrent product is ONE product for all gates,
  h_{t-1} (B, H) times W_hh^T (H, n H), added to the gate-major block by one transposed add
  (:func:`_add_gates`); one larger product runs faster than n small ones.  The backward pass
  copies each step's gate-major dL/da into dA in row layout (T, B, n H) (:func:`_to_rows`),
  so that dA_t W_hh and the weight gradients are one product each.
- *No fresh arrays in the loops*: every step writes into preallocated buffers (``out=``
  arguments, in-place operators).
- *Reused big arrays*: A, its gradient dA and the time-major input come from
  ``STATE.workspace``; the ones the backward pass reads return when the graph is collected.
- *BLAS's own threads for the loops' products* (``STATE.blas_products``): a step's products
  are too small and too dependent on each other to split over the kernels' threads, but
  BLAS's threads, which wait for work spinning, start on each product at once.

Inputs are batch-first, x (B, T, I); inside, everything is time-major (T, B, .), so that
the slice of step t is one contiguous block.
"""
from __future__ import annotations

import functools

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor
from nnkit.kernels.state import STATE, register

def _sigmoid_(a):
    """In place: a <- 1 / (1 + exp(-a)).

    Four cheap ufunc passes; NumPy's tanh costs several times more per number than exp here.
    For very negative a, exp(-a) overflows to inf and the result is the exact limit 0 (the
    time loops run under ``errstate(over="ignore")``).
    """
    xp = backend.xp()
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.divide(1, a, out=a)        # a faster loop than reciprocal in NumPy's float32
    return a


def _tanh(a, out):
    """out <- tanh(a) = 2 / (1 + exp(-2a)) - 1, with exp (see :func:`_sigmoid_`)."""
    xp = backend.xp()
    xp.multiply(a, -2, out=out)
    xp.exp(out, out=out)
    out += 1
    xp.divide(2, out, out=out)
    out -= 1
    return out


def _sigmoid_and_tanh_(a, last):
    """In place: the sigmoid of every block of ``a`` but the last (``last``), and tanh of that one,
    all with one sigmoid pass: tanh(x) = 2 sigmoid(2x) - 1."""
    last *= 2
    _sigmoid_(a)
    last *= 2
    last -= 1
    return a


def _sequence_work(fn):
    """Run ``fn`` in the setting of a recurrent kernel: exp may overflow to inf (see
    :func:`_sigmoid_`), and BLAS has all its threads (``STATE.blas_products``): the time
    steps are a chain of small products that only BLAS's own threads can share."""
    @functools.wraps(fn)
    def run(*args):
        with np.errstate(over="ignore"), STATE.blas_products():
            return fn(*args)
    return run


def _time_major(x):
    """(B, T, F) -> contiguous (T, B, F), in a workspace array (give it back when done)."""
    B, T, F = x.shape
    out = STATE.workspace.take((T, B, F), x.dtype)
    out[...] = x.transpose(1, 0, 2)
    return out


def _blocks_T(w, n):
    """(n H, K) -> contiguous (n, K, H) whose block k is W_k^T, so that h @ out[k] = h W_k^T.

    A contiguous copy, because BLAS is noticeably slower on the transposed view.
    """
    return backend.xp().ascontiguousarray(w.reshape(n, -1, w.shape[1]).transpose(0, 2, 1))


def _input_projection(x, w_ih, b, n):
    """All steps at once: A[k, t] = x_t W_ih,k^T + b_k, gate-major, shape (n, T, B, H).

    Gate-major means that, for every step, each gate's (B, H) block is
    contiguous: elementwise work on a block is then one fast loop instead of B
    short rows, as it would be on the (B, nH) layout.
    Returns the time-major input (T, B, I) too, for the weight gradients.
    Both arrays come from the workspace.
    """
    xp = backend.xp()
    xt = _time_major(x)
    T, B, I = xt.shape
    H = w_ih.shape[0] // n
    A = STATE.workspace.take((n, T, B, H), xp.result_type(x.dtype, w_ih.dtype))
    xp.matmul(xt.reshape(T * B, I), _blocks_T(w_ih, n), out=A.reshape(n, T * B, H))
    if b is not None:
        A += b.reshape(n, 1, 1, H)
    return xt, A


def _weight_grads(dA, xt, w_ih, need_x):
    """Gradients of the input weights from dA = dL/dA in row layout (T, B, G), one product each:

    dW_ih = sum_t dA_t^T x_t -> (G, I),  db = sum_t sum_b dA_t -> (G,),
    dx_t = dA_t W_ih -> (B, T, I), or None when x needs no gradient.
    """
    T, B, G = dA.shape
    dA2, x2 = dA.reshape(T * B, G), xt.reshape(T * B, -1)
    dx = (dA2 @ w_ih).reshape(T, B, -1).transpose(1, 0, 2) if need_x else None
    return dA2.T @ x2, dA2.sum(axis=0), dx


def _recurrent_weight_grad(dA, H_prev):
    """dW_hh = sum_t dA_t^T h_{t-1}: (T, B, G) and (T, B, H) -> (G, H), one product."""
    T, B, G = dA.shape
    return dA.reshape(T * B, G).T @ H_prev.reshape(T * B, -1)


def _add_gates(a, rec):
    """a += rec for gate-major a (n, B, H) and a product rec in row layout (B, n H)."""
    n, B, H = a.shape
    a += rec.reshape(B, n, H).transpose(1, 0, 2)


def _to_rows(d, out):
    """Copy gate-major d (n, B, H) into row layout out (B, n H), ready for one product."""
    n, B, H = d.shape
    out.reshape(B, n, H)[...] = d.transpose(1, 0, 2)
    return out


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


@register("rnn")
@_sequence_work
def rnn(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None,
                 nonlinearity: str = "tanh") -> Tensor:
    """h_t = phi(x_t W_ih^T + h_{t-1} W_hh^T + b) for t = 1..T.

    Shapes: x (B, T, I), h0 (B, H), w_ih (H, I), w_hh (H, H), b (H,) -> hs (B, T, H).
    phi is tanh, relu or the identity ("linear").
    """
    if nonlinearity not in _ACT:
        raise ValueError(f"rnn: nonlinearity must be one of {_ACT}, got {nonlinearity!r}")
    xp = backend.xp()
    xt, A1 = _input_projection(x.data, w_ih.data, None if b is None else b.data, 1)
    A = A1[0]                                     # one gate: (T, B, H)
    T, B, H = A.shape
    Hs = xp.empty((T + 1, B, H), dtype=A.dtype)
    Hs[0] = h0.data
    whhT = xp.ascontiguousarray(w_hh.data.T)
    rec = xp.empty((B, H), dtype=A.dtype)
    for t in range(T):
        a = A[t]
        a += xp.matmul(Hs[t], whhT, out=rec)      # out=: no fresh array per step
        if nonlinearity == "tanh":
            xp.tanh(a, out=Hs[t + 1])
        elif nonlinearity == "relu":
            xp.maximum(a, 0, out=Hs[t + 1])
        else:
            Hs[t + 1] = a

    @_sequence_work
    def vjp(g):
        gT = _time_major(g)
        dA1 = STATE.workspace.take(A1.shape, A1.dtype)
        dA = dA1[0]
        dh = xp.zeros((B, H), dtype=A.dtype)
        for t in range(T - 1, -1, -1):
            dh += gT[t]
            h, d = Hs[t + 1], dA[t]
            if nonlinearity == "tanh":            # tanh' = 1 - h^2
                xp.multiply(h, h, out=d)
                xp.subtract(1, d, out=d)
                d *= dh
            elif nonlinearity == "relu":
                xp.multiply(dh, h > 0, out=d)
            else:
                d[...] = dh
            xp.matmul(d, w_hh.data, out=dh)
        dw_ih, db, dx = _weight_grads(dA, xt, w_ih.data, x.requires_grad)
        dw_hh = _recurrent_weight_grad(dA, Hs[:-1])
        STATE.workspace.give(gT, dA1)
        return (dx, dh, dw_ih, dw_hh) + ((db,) if b is not None else ())

    STATE.workspace.give_when_dead(vjp, xt, A1)
    parents = (x, h0, w_ih, w_hh) + ((b,) if b is not None else ())
    return Tensor.from_op(Hs[1:].transpose(1, 0, 2), parents, vjp, "rnn")


# ------------------------------------------------------------------------ LSTM
@register("lstm")
@_sequence_work
def lstm(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None,
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
    n = 3 if coupled else 4
    xt, A = _input_projection(x.data, w_ih.data, None if b is None else b.data, n)
    _, T, B, H = A.shape
    # gate indices in the gate-major A; the sigmoid gates come first, g last,
    # so that one call on A[:, t, :O + 1] computes all sigmoids of a step
    I_, F, O, G_ = (None, 0, 1, 2) if coupled else (0, 1, 2, 3)
    P = peephole.data if peephole is not None else None
    Hs = xp.empty((T + 1, B, H), dtype=A.dtype)
    Cs = xp.empty((T + 1, B, H), dtype=A.dtype)
    TC = STATE.workspace.take((T, B, H), A.dtype)              # tanh(c_t), kept for the backward pass
    Hs[0], Cs[0] = h0.data, c0.data
    whhT = xp.ascontiguousarray(w_hh.data.T)         # (H, n H)
    rec = xp.empty((B, n * H), dtype=A.dtype)
    tmp = xp.empty((B, H), dtype=A.dtype)
    for t in range(T):
        a, c_prev, c = A[:, t], Cs[t], Cs[t + 1]     # a: (n, B, H), one contiguous block per gate
        _add_gates(a, xp.matmul(Hs[t], whhT, out=rec))   # h_{t-1} W_hh^T, all gates in one product
        if P is None:                                # every gate at once: sigmoid of i, f, o; tanh of g
            _sigmoid_and_tanh_(a, a[G_])
        else:                                        # i and f see c_{t-1}; o must wait for c_t
            if not coupled:
                a[I_] += xp.multiply(c_prev, P[0], out=tmp)
            a[F] += xp.multiply(c_prev, P[-2], out=tmp)
            _sigmoid_(a[:O])
            xp.tanh(a[G_], out=a[G_])
        g, f = a[G_], a[F]
        if coupled:               # c = f c_prev + (1 - f) g = g + f (c_prev - g)
            xp.subtract(c_prev, g, out=c)
            c *= f
            c += g
        else:
            xp.multiply(f, c_prev, out=c)
            c += xp.multiply(a[I_], g, out=tmp)
        if P is not None:
            a[O] += xp.multiply(c, P[-1], out=tmp)
            _sigmoid_(a[O])
        _tanh(c, TC[t])
        xp.multiply(a[O], TC[t], out=Hs[t + 1])
    slot: dict = {}

    @_sequence_work
    def vjp(g_out):
        gT = _time_major(g_out)
        dA = STATE.workspace.take((T, B, n * H), A.dtype)    # row layout, for the products
        dh = xp.zeros((B, H), dtype=A.dtype)
        dc = slot.pop("grad", None)
        dc = xp.zeros((B, H), dtype=A.dtype) if dc is None else dc.astype(A.dtype, copy=True)
        dP = xp.zeros_like(P) if P is not None else None
        tmp, tmp2 = xp.empty((B, H), dtype=A.dtype), xp.empty((B, H), dtype=A.dtype)
        deriv = xp.empty((n, B, H), dtype=A.dtype)
        d = xp.empty((n, B, H), dtype=A.dtype)       # dL/da of one step, gate-major
        for t in range(T - 1, -1, -1):
            a, c_prev, tc = A[:, t], Cs[t], TC[t]
            dh += gT[t]
            o, f, gg = a[O], a[F], a[G_]
            # h = o tanh(c): dL/do = dh tanh(c);  dL/dc += dh o (1 - tanh(c)^2)
            xp.multiply(dh, tc, out=d[O])
            xp.multiply(tc, tc, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            if P is not None:     # a_o depends on c through the peephole
                xp.multiply(d[O], o, out=tmp2)
                tmp2 *= 1 - o
                dc += tmp2 * P[-1]
                dP[-1] += (tmp2 * Cs[t + 1]).sum(axis=0)
            # c = f c_prev + i g  (coupled: i = 1 - f, so dL/df = dc (c_prev - g))
            if coupled:
                xp.subtract(c_prev, gg, out=tmp2)
                xp.multiply(dc, tmp2, out=d[F])
                xp.subtract(1, f, out=tmp2)
                xp.multiply(dc, tmp2, out=d[G_])
            else:
                xp.multiply(dc, gg, out=d[I_])
                xp.multiply(dc, c_prev, out=d[F])
                xp.multiply(dc, a[I_], out=d[G_])
            # through the nonlinearities: sigmoid' = s (1 - s) for all sigmoid gates in one
            # call, tanh' = 1 - g^2
            xp.subtract(1, a[:G_], out=deriv[:G_])
            deriv[:G_] *= a[:G_]
            xp.multiply(gg, gg, out=deriv[G_])
            xp.subtract(1, deriv[G_], out=deriv[G_])
            if P is not None:     # d a_o was already formed above
                deriv[O] = 1
                d[O] *= o * (1 - o)
            d *= deriv
            dc *= f
            if P is not None:
                if not coupled:
                    dc += d[I_] * P[0]
                    dP[0] += (d[I_] * c_prev).sum(axis=0)
                dc += d[F] * P[-2]
                dP[-2] += (d[F] * c_prev).sum(axis=0)
            # dh_{t-1} = dA_t W_hh, one product on the row layout
            xp.matmul(_to_rows(d, dA[t]), w_hh.data, out=dh)
        dw_ih, db, dx = _weight_grads(dA, xt, w_ih.data, x.requires_grad)
        dw_hh = _recurrent_weight_grad(dA, Hs[:-1])
        STATE.workspace.give(gT, dA)
        grads = [dx, dh, dc, dw_ih, dw_hh]
        if b is not None:
            grads.append(db)
        if P is not None:
            grads.append(dP)
        return tuple(grads)

    STATE.workspace.give_when_dead(vjp, xt, A, TC)
    parents = (x, h0, c0, w_ih, w_hh) + ((b,) if b is not None else ()) + ((peephole,) if P is not None else ())
    hs = Tensor.from_op(Hs[1:].transpose(1, 0, 2), parents, vjp, "lstm")
    c_last = second_output(hs, Cs[T], slot, "lstm_cell_state")
    return hs, c_last


# ------------------------------------------------------------------------- GRU
@register("gru")
@_sequence_work
def gru(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None) -> Tensor:
    """The GRU over a whole sequence, in the notes' convention ("GRUs"):

        [z; r] = sigmoid(x_t W_ih[:2H]^T + h_{t-1} W_hh[:2H]^T + b[:2H])
        n      = tanh(x_t W_ih[2H:]^T + (r * h_{t-1}) W_hh[2H:]^T + b[2H:])
        h_t    = (1 - z) * h_{t-1} + z * n

    so z = 1, r = 1 is the vanilla tanh RNN and z = 0 copies the state.
    Shapes: x (B, T, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), b (3H,) -> hs (B, T, H).
    """
    xp = backend.xp()
    xt, A = _input_projection(x.data, w_ih.data, None if b is None else b.data, 3)
    _, T, B, H = A.shape
    Z, R, N = 0, 1, 2                                # gate indices in the gate-major A
    Hs = xp.empty((T + 1, B, H), dtype=A.dtype)
    RH = STATE.workspace.take((T, B, H), A.dtype)              # r * h_{t-1}, input of W_hh,n
    Hs[0] = h0.data
    w_zr_T, w_n_T = xp.ascontiguousarray(w_hh.data[:2 * H].T), xp.ascontiguousarray(w_hh.data[2 * H:].T)
    rec, rec_n = xp.empty((B, 2 * H), dtype=A.dtype), xp.empty((B, H), dtype=A.dtype)
    for t in range(T):
        a, h_prev, h = A[:, t], Hs[t], Hs[t + 1]
        _add_gates(a[:N], xp.matmul(h_prev, w_zr_T, out=rec))
        _sigmoid_(a[:N])                             # z and r in one call
        xp.multiply(a[R], h_prev, out=RH[t])
        a[N] += xp.matmul(RH[t], w_n_T, out=rec_n)
        n = xp.tanh(a[N], out=a[N])
        xp.subtract(n, h_prev, out=h)                # h = h_prev + z (n - h_prev)
        h *= a[Z]
        h += h_prev

    @_sequence_work
    def vjp(g):
        gT = _time_major(g)
        dA = STATE.workspace.take((T, B, 3 * H), A.dtype)    # row layout, for the products
        dh = xp.zeros((B, H), dtype=A.dtype)
        tmp, drh = xp.empty((B, H), dtype=A.dtype), xp.empty((B, H), dtype=A.dtype)
        deriv, d = xp.empty((2, B, H), dtype=A.dtype), xp.empty((3, B, H), dtype=A.dtype)
        w_zr, w_n = w_hh.data[:2 * H], w_hh.data[2 * H:]
        for t in range(T - 1, -1, -1):
            a, h_prev = A[:, t], Hs[t]
            dh += gT[t]
            z, r, n = a[Z], a[R], a[N]
            xp.multiply(n, n, out=tmp)                   # d a_n = dh z (1 - n^2)
            xp.subtract(1, tmp, out=tmp)
            xp.multiply(dh, z, out=d[N])
            d[N] *= tmp
            xp.matmul(d[N], w_n, out=drh)                # d (r * h_prev)
            xp.subtract(n, h_prev, out=d[Z])             # d a_z = dh (n - h_prev) z (1 - z)
            d[Z] *= dh
            xp.multiply(drh, h_prev, out=d[R])           # d a_r = drh h_prev r (1 - r)
            xp.subtract(1, a[:N], out=deriv)             # sigmoid' of z and r in one call
            deriv *= a[:N]
            d[:N] *= deriv
            # dh_prev = dh (1 - z) + drh r + [d_z, d_r] W_hh,zr
            rows = _to_rows(d, dA[t])
            xp.subtract(1, z, out=tmp)
            dh *= tmp
            dh += xp.multiply(drh, r, out=tmp)
            dh += xp.matmul(rows[:, :2 * H], w_zr, out=tmp)
        dw_ih, db, dx = _weight_grads(dA, xt, w_ih.data, x.requires_grad)
        dw_hh = xp.concatenate([_recurrent_weight_grad(dA[..., :2 * H], Hs[:-1]),
                                _recurrent_weight_grad(dA[..., 2 * H:], RH)], axis=0)
        STATE.workspace.give(gT, dA)
        grads = (dx, dh, dw_ih, dw_hh)
        return grads + ((db,) if b is not None else ())

    STATE.workspace.give_when_dead(vjp, xt, A, RH)
    parents = (x, h0, w_ih, w_hh) + ((b,) if b is not None else ())
    return Tensor.from_op(Hs[1:].transpose(1, 0, 2), parents, vjp, "gru")
