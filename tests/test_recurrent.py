"""Recurrent layers, under both kernel settings: finite differences, the step-by-step formulas,
the gate claims of the sources, live graphs, shapes and errors.  (The fused kernels against the
textbook loops: tests/test_kernels.py.)"""
import numpy as np
import pytest

import nnkit
from nnkit import losses, optim
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.nn import GRU, LSTM, RNN, Bidirectional, ShapeError, gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell

CASES = [(RNN, {}), (RNN, {"nonlinearity": "relu"}), (RNN, {"nonlinearity": "linear"}),
         (LSTM, {}), (LSTM, {"peephole": True}), (LSTM, {"coupled": True}),
         (LSTM, {"coupled": True, "peephole": True}), (GRU, {})]


pytestmark = pytest.mark.usefixtures("float64_seeded", "both_kernels")  # see tests/conftest.py


def _run(layer, x, h0):
    """Outputs and the gradients of x, h0, every parameter (and c0) for a fixed loss."""
    layer.zero_grad()
    xt, h0t = Tensor(x, requires_grad=True), Tensor(h0, requires_grad=True)
    c0t = Tensor(0.5 * h0, requires_grad=True)
    state = (h0t, c0t) if isinstance(layer, LSTM) else h0t
    out, last = layer(xt, state)
    w = np.linspace(-1, 1, out.size).reshape(out.shape)
    loss = (out * w).sum()
    if isinstance(layer, LSTM):          # the final cell state also receives a gradient
        loss = loss + (last[1] * last[1]).sum()
    loss.backward()
    grads = [xt.grad, h0t.grad] + [p.grad for p in layer.parameters()]
    if isinstance(layer, LSTM):
        grads.append(c0t.grad)
    return out.data.copy(), grads


@pytest.mark.parametrize("coupled,peephole", [(False, False), (False, True), (True, True)])
def test_lstm_finite_differences(coupled, peephole):
    rng = np.random.default_rng(2)
    G = (3 if coupled else 4) * 3
    P = rng.normal(size=((2 if coupled else 3), 3)) if peephole else None

    def f(x, h0, c0, wi, wh, b, *p):
        hs, c = lstm(x, h0, c0, wi, wh, b, p[0] if p else None, coupled)
        return hs.sum(axis=1) * 0.3 + c

    args = [rng.normal(size=s) for s in [(2, 4, 2), (2, 3), (2, 3), (G, 2), (G, 3), (G,)]] + ([P] if peephole else [])
    report = check_grad(f, *args)
    assert report.ok, str(report)


def test_rnn_and_gru_finite_differences():
    rng = np.random.default_rng(3)
    for act in ("tanh", "relu", "linear"):
        rep = check_grad(lambda x, h, a, b, c: rnn(x, h, a, b, c, act),
                         *[rng.normal(size=s) for s in [(2, 5, 2), (2, 3), (3, 2), (3, 3), (3,)]])
        assert rep.ok, str(rep)
    rep = check_grad(gru, *[rng.normal(size=s) for s in [(2, 5, 2), (2, 3), (9, 2), (9, 3), (9,)]])
    assert rep.ok, str(rep)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recycled_buffers_never_change_a_live_graph(cls):
    """The fast kernels reuse big arrays (``nnkit.kernels.STATE.workspace``): a graph that is still
    alive keeps its own, a second backward() through it sees the same numbers, and a freed graph
    hands its arrays on.  The expected gradients come from a fresh layer run on each input alone."""
    rng = np.random.default_rng(9)
    layer = cls(3, 4)
    xs = [rng.normal(size=(2, 6, 3)) for _ in range(3)]
    h0 = np.zeros((2, 4))
    n_params = len(layer.parameters())
    # expected: x.grad and the parameter gradients, each input run on its own
    expected = [(g := _run(layer, x, h0)[1])[:1] + g[2:2 + n_params] for x in xs]

    def loss_of(x):                          # the loss of _run, on a graph we keep alive
        out, last = layer(x, (Tensor(h0), Tensor(0.5 * h0)) if cls is LSTM else Tensor(h0))
        loss = (out * np.linspace(-1, 1, out.size).reshape(out.shape)).sum()
        return loss + (last[1] * last[1]).sum() if cls is LSTM else loss

    x0, x1, x2 = (Tensor(x, requires_grad=True) for x in xs)
    loss0, loss1 = loss_of(x0), loss_of(x1)
    del loss0                                # graph 0 dies: its arrays go back to the pool ...
    loss2 = loss_of(x2)                      # ... and graph 2 may take them
    for x, loss, exp in [(x1, loss1, expected[1]), (x2, loss2, expected[2]), (x1, loss1, expected[1])]:
        layer.zero_grad()
        x.grad = None
        loss.backward()
        got = [x.grad] + [p.grad for p in layer.parameters()]
        assert len(got) == len(exp)
        for a, b in zip(got, exp):
            np.testing.assert_allclose(a, b, atol=1e-11)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_time_loops_leave_the_blas_thread_count_as_it_was(cls):
    """The kernels run BLAS on one thread inside their time loops; afterwards it must be restored."""
    from threadpoolctl import ThreadpoolController   # a dependency of nnkit
    blas = ThreadpoolController().select(user_api="blas")
    with blas.limit(limits=2):
        before = [lib["num_threads"] for lib in blas.info()]
        layer = cls(3, 4)
        out, _ = layer(Tensor(np.ones((2, 5, 3)), requires_grad=True))
        out.sum().backward()
        assert [lib["num_threads"] for lib in blas.info()] == before == [2] * len(before)


def test_rnn_step_matches_formula():
    rng = np.random.default_rng(4)
    x, h, wi, wh, b = (rng.normal(size=s) for s in [(2, 3), (2, 4), (4, 3), (4, 4), (4,)])
    out = rnn_cell(Tensor(x), Tensor(h), Tensor(wi), Tensor(wh), Tensor(b))
    np.testing.assert_allclose(out.data, np.tanh(x @ wi.T + h @ wh.T + b), atol=1e-12)


def test_lstm_gate_table():
    """Lecture 14, §3.4: remember, add, erase, overwrite with c_prev = 0.7, g = 0.4."""
    x, h = Tensor(np.zeros((1, 1))), Tensor(np.zeros((1, 1)))
    c = Tensor(np.array([[0.7]]))
    wi, wh = Tensor(np.zeros((4, 1))), Tensor(np.zeros((4, 1)))
    b = Tensor(np.array([0.0, 0.0, 0.0, np.arctanh(0.4)]))
    expected = {(0, 1): 0.7, (1, 1): 1.1, (0, 0): 0.0, (1, 0): 0.4}
    for (i, f), value in expected.items():
        _, c_new = lstm_cell(x, h, c, wi, wh, b, gates={"i": float(i), "f": float(f)})
        assert c_new.item() == pytest.approx(value)


def test_lstm_with_open_forget_gate_passes_cell_gradient_unchanged():
    rng = np.random.default_rng(5)
    c = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    x, h = Tensor(rng.normal(size=(2, 2))), Tensor(rng.normal(size=(2, 3)))
    wi, wh = Tensor(rng.normal(size=(12, 2))), Tensor(rng.normal(size=(12, 3)))
    c_t = c
    for _ in range(20):
        _, c_t = lstm_cell(x, h, c_t, wi, wh, gates={"f": 1.0, "i": 0.0})
    c_t.sum().backward()
    np.testing.assert_allclose(c.grad, np.ones((2, 3)))


def test_lstm_with_i1_o1_f0_is_tanh_rnn_plus_one_tanh():
    """Notes, "LSTMs" (corrected): i = o = 1, f = 0 gives h = tanh(tanh(a_g))."""
    rng = np.random.default_rng(6)
    x, h, c = (rng.normal(size=s) for s in [(2, 3), (2, 4), (2, 4)])
    wi, wh, b = rng.normal(size=(16, 3)), rng.normal(size=(16, 4)), rng.normal(size=16)
    h_new, _ = lstm_cell(Tensor(x), Tensor(h), Tensor(c), Tensor(wi), Tensor(wh), Tensor(b),
                         gates={"i": 1.0, "o": 1.0, "f": 0.0})
    a_g = x @ wi[12:].T + h @ wh[12:].T + b[12:]
    np.testing.assert_allclose(h_new.data, np.tanh(np.tanh(a_g)), atol=1e-12)


def test_gru_update_gate_convention():
    """z = 0 keeps the state; z = 1 with r = 1 is the vanilla tanh RNN (the notes' equation)."""
    rng = np.random.default_rng(7)
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    wi, wh, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 4)), rng.normal(size=12)
    args = (Tensor(x), Tensor(h), Tensor(wi), Tensor(wh), Tensor(b))
    np.testing.assert_allclose(gru_cell(*args, gates={"z": 0.0}).data, h)
    vanilla = np.tanh(x @ wi[8:].T + h @ wh[8:].T + b[8:])
    np.testing.assert_allclose(gru_cell(*args, gates={"z": 1.0, "r": 1.0}).data, vanilla, atol=1e-12)


def test_bidirectional_backward_half_ignores_the_past():
    rng = np.random.default_rng(8)
    bi = Bidirectional(GRU(2, 3), GRU(2, 4))
    x = rng.normal(size=(1, 5, 2))
    y1, _ = bi(x)
    x2 = x.copy()
    x2[0, 0] += 1.0
    y2, _ = bi(x2)
    assert y1.shape == (1, 5, 7)
    np.testing.assert_allclose(y1.data[0, 1:, 3:], y2.data[0, 1:, 3:])     # backward part, t > 1
    assert np.abs(y1.data[0, :, :3] - y2.data[0, :, :3]).min() > 0          # forward part changes
    rep = check_grad(lambda a: bi(a)[0], x, mode="directions")
    assert rep.ok, str(rep)


def test_float32_and_identity_init():
    nnkit.set_default_dtype("float32")
    layer = RNN(3, 5, nonlinearity="relu", recurrent_init="identity")
    np.testing.assert_array_equal(layer.weight_hh.data, np.eye(5, dtype=np.float32))
    out, h = layer(np.ones((2, 4, 3), dtype=np.float32))
    assert out.dtype == np.float32 and out.shape == (2, 4, 5) and h.shape == (2, 5)
    lstm = LSTM(3, 5)
    np.testing.assert_array_equal(lstm.bias.data[5:10], 1.0)      # forget bias starts at 1


def test_shape_errors_name_the_layer():
    layer = LSTM(3, 4)
    with pytest.raises(ShapeError, match=r"LSTM.*\(batch, time, 3\).*\(2, 5\)"):
        layer(np.zeros((2, 5)))
    with pytest.raises(ShapeError, match=r"h0 must have shape \(2, 4\), got \(2, 3\)"):
        layer(np.zeros((2, 5, 3)), (np.zeros((2, 3)), np.zeros((2, 4))))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(2, 2, nonlinearity="sigmoid")


def test_lstm_learns_what_a_vanilla_rnn_cannot_hold():
    """Remember the first of 60 symbols: the LSTM learns it, the tanh RNN does not in the same budget."""
    from nnkit.data.sequences import first_symbol_task
    nnkit.set_default_dtype("float32")
    rng = np.random.default_rng(0)
    xv, yv = first_symbol_task(256, 60, 4, np.random.default_rng(99))
    acc = {}
    for name, cls in [("lstm", LSTM), ("rnn", RNN)]:
        nnkit.seed(0)
        layer, head = cls(6, 24), nnkit.nn.Linear(24, 4)
        params = layer.parameters() + head.parameters()
        opt = optim.Adam(params, lr=0.02)
        for _ in range(100):
            x, y = first_symbol_task(64, 60, 4, rng)
            out, _ = layer(np.eye(6, dtype=np.float32)[x])
            loss = losses.cross_entropy(head(out[:, -1]), y)
            for p in params:
                p.grad = None
            loss.backward()
            optim.clip_grad_norm_(params, 1.0)
            opt.step()
        out, _ = layer(np.eye(6, dtype=np.float32)[xv])
        acc[name] = float((head(out[:, -1]).data.argmax(1) == yv).mean())
    assert acc["lstm"] > 0.95 and acc["rnn"] < 0.7, acc
