"""The kernel switch and the fast kernels: fast against the textbook reference on the same inputs
(to 1e-10 in float64), the speed state (threads, workspace, BLAS limit, fork), and both kernel
settings on the strict stand-in for CuPy."""
import multiprocessing

import numpy as np
import pytest
from naive_loops import conv2d_loops

import nnkit
import nnkit.testing  # noqa: F401 - makes the "strict" backend available
from nnkit import kernels, nn
from nnkit.autodiff import Tensor
from nnkit.kernels.conv import InputGradStride1
from nnkit.kernels.state import FAST, Workspace
from nnkit.nn.conv import conv2d
from nnkit.nn.pooling import avg_pool2d, max_pool2d
from nnkit.nn.recurrent import GRU, LSTM, RNN

pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


def _both(run):
    """``run()`` (a list of arrays) with the fast kernels and with the reference."""
    results = {}
    for name in ("fast", "reference"):
        with kernels.using(name):
            results[name] = [nnkit.to_numpy(a) for a in run()]
    return results["fast"], results["reference"]


def _assert_agree(fast, reference, tol=1e-10):
    assert len(fast) == len(reference)
    for a, b in zip(fast, reference):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------- fast == reference
CONV_CASES = {
    "plain": dict(), "stride2_pad1": dict(stride=2, padding=1), "dilation2": dict(dilation=2, padding=(2, 1)),
    "groups2_same": dict(groups=2, padding="same"), "full": dict(padding="full"),
    "asymmetric_pads": dict(padding=(0, 1, 2, 0)), "no_bias": dict(padding=1, bias=False),
    "stride_2x1_dilation_1x2": dict(stride=(2, 1), dilation=(1, 2), padding=(1, 2)),
    "stride_1x3_groups2": dict(stride=(1, 3), dilation=(2, 1), padding=1, groups=2),
    "stride1_dilation_2x1_few_outputs": dict(O=2, C=6, dilation=(2, 1), padding=(2, 1)),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_fast_equals_reference(case):
    kw = dict(CONV_CASES[case])
    O, C, has_bias = kw.pop("O", 6), kw.pop("C", 4), kw.pop("bias", True)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(3, C, 7, 6)), rng.normal(size=(O, C // kw.get("groups", 1), 3, 2))
    b = rng.normal(size=O) if has_bias else None

    def run():
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
        y = conv2d(*ts, **kw)
        y.backward(np.cos(np.arange(y.size)).reshape(y.shape))
        return [y.data] + [t.grad for t in ts]

    _assert_agree(*_both(run))


POOL_CASES = {"2x2": (2, None, 0, False, True), "3x3_s2_p1": (3, 2, 1, False, True),
              "3x3_s2_p1_exclude_pad": (3, 2, 1, False, False), "2x3_s1": ((2, 3), 1, 0, False, True),
              "3x3_s2_ceil": (3, 2, 0, True, True), "3x3_s2_p1_ceil_exclude_pad": (3, 2, 1, True, False),
              "2x2_ceil_odd": (2, None, 0, True, True), "global_6x7": ((6, 7), None, 0, False, True)}


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_fast_equals_reference(case, mode):
    k, s, p, ceil, cip = POOL_CASES[case]
    x = np.random.default_rng(2).normal(size=(3, 2, 7, 7))[:, :, :, :7]

    def run():
        t = Tensor(x, requires_grad=True)
        y = max_pool2d(t, k, s, p, ceil) if mode == "max" else avg_pool2d(t, k, s, p, ceil, cip)
        y.backward(np.sin(np.arange(y.size)).reshape(y.shape))
        return [y.data, t.grad]

    _assert_agree(*_both(run))


RECURRENT_CASES = [(RNN, {}), (RNN, {"nonlinearity": "relu"}), (RNN, {"nonlinearity": "linear"}),
                   (LSTM, {}), (LSTM, {"peephole": True}), (LSTM, {"coupled": True}),
                   (LSTM, {"coupled": True, "peephole": True}), (LSTM, {"bias": False}), (GRU, {}),
                   (GRU, {"bias": False})]


@pytest.mark.parametrize("cls,kw", RECURRENT_CASES)
def test_recurrent_fast_equals_reference(cls, kw):
    """Outputs, the last states, and the gradients of x, h0 (c0) and every parameter."""
    rng = np.random.default_rng(3)
    layer = cls(3, 4, **kw)
    if getattr(layer, "peephole", None) is not None:
        layer.peephole.data[:] = rng.normal(size=layer.peephole.shape)
    x, h0 = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 4)) * 0.5

    def run():
        layer.zero_grad()
        xt, h0t, c0t = (Tensor(a, requires_grad=True) for a in (x, h0, 0.5 * h0))
        out, last = layer(xt, (h0t, c0t) if cls is LSTM else h0t)
        loss = (out * np.linspace(-1, 1, out.size).reshape(out.shape)).sum()
        if cls is LSTM:                       # the final cell state receives a gradient too
            loss = loss + (last[1] * last[1]).sum()
        loss.backward()
        states = [last[0].data, last[1].data, c0t.grad] if cls is LSTM else [last.data]
        return [out.data, xt.grad, h0t.grad] + states + [p.grad for p in layer.parameters()]

    _assert_agree(*_both(run))


def test_bidirectional_fast_equals_reference():
    rng = np.random.default_rng(4)
    bi = nn.Bidirectional(LSTM(3, 4), GRU(3, 2))
    x = rng.normal(size=(2, 5, 3))

    def run():
        bi.zero_grad()
        xt = Tensor(x, requires_grad=True)
        y, _ = bi(xt)
        (y * y).sum().backward()
        return [y.data, xt.grad] + [p.grad for p in bi.parameters()]

    _assert_agree(*_both(run))


def test_lenet_step_fast_equals_reference():
    from nnkit import losses
    from nnkit.models import LeNet5

    x = np.random.default_rng(5).normal(size=(4, 1, 28, 28))
    y = np.array([1, 2, 3, 4])
    for pool in ("avg", "max"):
        nnkit.seed(0)
        model = LeNet5(input_size=28, activation="relu", pool=pool)

        def run():
            model.zero_grad()
            loss = losses.cross_entropy(model(x), y)
            loss.backward()
            return [loss.data] + [p.grad for p in model.parameters()]

        _assert_agree(*_both(run))


# ------------------------------------------------------------------ the switch
def test_the_switch_selects_the_implementation(monkeypatch):
    calls = []

    def spy(*args):
        calls.append(args)
        return original(*args)

    original = FAST["conv2d"]
    monkeypatch.setitem(FAST, "conv2d", spy)
    x, w = Tensor(np.ones((1, 1, 4, 4))), Tensor(np.ones((1, 1, 3, 3)))
    assert kernels.name() == "fast" and kernels.implementation("conv2d") is spy
    conv2d(x, w)
    assert len(calls) == 1
    nnkit.use(kernels="reference")
    try:
        assert kernels.name() == "reference" and kernels.implementation("conv2d") is None
        assert conv2d(x, w).data.sum() == 4 * 9.0
        assert len(calls) == 1                           # the textbook code ran, not the kernel
    finally:
        nnkit.use(kernels="fast")
    with kernels.using("reference"):
        conv2d(x, w)
    conv2d(x, w)
    assert len(calls) == 2 and kernels.name() == "fast"
    assert sorted(FAST) == ["avg_pool2d", "conv2d", "gru", "lstm", "max_pool2d", "rnn"]
    with pytest.raises(ValueError, match="fast.*reference"):
        nnkit.use(kernels="quick")


def test_the_environment_variable_selects_the_kernels_at_start():
    import subprocess
    import sys

    code = "import nnkit.kernels as k; print(k.name())"
    for value in ("reference", "fast"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**__import__("os").environ, "NNKIT_KERNELS": value})
        assert out.stdout.strip() == value, out.stderr


# ------------------------------------------------------------ the fast conv
@pytest.mark.parametrize("shape, shift_g_first", [
    (dict(C=6, O=3, k=(3, 3), padding=1), True),                   # few outputs: g is shifted first
    (dict(C=5, O=2, k=(2, 3), padding=(1, 2), dilation=(2, 3)), True),
    (dict(C=2, O=7, k=(3, 3), padding="same", dilation=(1, 2)), False),   # many outputs: weights first
], ids=["shift_g_first", "shift_g_first_dilated", "weights_first_dilated"])
@pytest.mark.parametrize("threads", [1, 2])
def test_both_input_gradient_arrangements_match_the_loops(shape, shift_g_first, threads):
    """The stride-1 input gradient has two arrangements of the same sums; both equal the loops,
    also with the batch of 3 images split over 2 threads."""
    C, O, (kh, kw) = shape["C"], shape["O"], shape["k"]
    rng = np.random.default_rng(11)
    x, w, b = rng.normal(size=(3, C, 7, 6)), rng.normal(size=(O, C, kh, kw)), rng.normal(size=O)
    probe = InputGradStride1(np.zeros((1, O, 2, 2)), w, (1, C, 2 + kh - 1, 2 + kw - 1), (1, 1), 1)
    assert probe.shift_g_first == shift_g_first  # the case really takes the path it is named after
    probe.result()
    kwargs = {k: v for k, v in shape.items() if k in ("padding", "dilation")}
    xt = Tensor(x, requires_grad=True)
    with kernels.threads(threads, work_per_thread=1):
        y = conv2d(xt, Tensor(w), Tensor(b), **kwargs)
        g = np.cos(np.arange(y.size)).reshape(y.shape)
        y.backward(g)
    from nnkit.nn.conv import conv_geometry
    geo = conv_geometry(x.shape, w.shape, 1, kwargs["padding"], kwargs.get("dilation", 1), 1)
    _, vjp = conv2d_loops(x, w, b, geo.stride, geo.pads, geo.dilation)
    np.testing.assert_allclose(xt.grad, vjp(g)[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", ["plain", "dilation2", "groups2_same", "stride2_pad1", "stride_2x1_dilation_1x2"])
def test_blocks_of_images_on_several_threads_give_the_same_result(case):
    """The batch split over 3 threads in uneven blocks (1, 2, 2 images) gives the one-thread values."""
    kw = CONV_CASES[case]
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(5, 4, 7, 6)), rng.normal(size=(6, 4 // kw.get("groups", 1), 3, 2)), rng.normal(size=6)

    def run():
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = conv2d(*ts, **kw)
        y.backward(np.cos(np.arange(y.size)).reshape(y.shape))
        return [y.data] + [t.grad for t in ts]

    with kernels.threads(1):
        one = run()
    with kernels.threads(3, work_per_thread=1):
        three = run()
    _assert_agree(one, three)
    with pytest.raises(ValueError, match="set_threads"):
        kernels.set_threads(0)


@pytest.mark.parametrize("backend_name", ["numpy", "strict"])
def test_live_outputs_and_saved_windows_survive_later_calls(backend_name):
    """Three forward passes of the same shapes are alive at once (so the workspace has lent the
    window matrix of each); one graph dies and a fourth call takes its arrays; every value and
    gradient is still right, also on the strict stand-in."""
    rng = np.random.default_rng(8)
    xs = [rng.normal(size=(2, 3, 8, 8)) for _ in range(4)]
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    expected = [conv2d_loops(x, w, b, pads=(1, 1, 1, 1)) for x in xs]
    nnkit.use(backend_name)
    try:
        wt = Tensor(nnkit.to_device(w), requires_grad=True)
        bt = Tensor(nnkit.to_device(b))
        ys = [conv2d(Tensor(nnkit.to_device(x)), wt, bt, padding=1) for x in xs[:3]]
        del ys[1]
        ys.append(conv2d(Tensor(nnkit.to_device(xs[3])), wt, bt, padding=1))
        grads = []
        for y in ys:
            wt.grad = None
            y.sum().backward()
            grads.append(nnkit.to_numpy(wt.grad))
        values = [nnkit.to_numpy(y.data) for y in ys]
    finally:
        nnkit.use("numpy")
    for k, (v, gw) in enumerate(zip(values, grads)):
        out, vjp = expected[[0, 2, 3][k]]
        np.testing.assert_allclose(v, out, atol=1e-12)
        np.testing.assert_allclose(gw, vjp(np.ones_like(out))[1], atol=1e-10)


def _conv_in_child(queue):
    x = np.random.default_rng(12).normal(size=(4, 2, 6, 6))
    w = np.random.default_rng(13).normal(size=(3, 2, 3, 3))
    queue.put(conv2d(Tensor(x), Tensor(w), padding=1).data.sum())


def test_threads_work_in_a_forked_child():
    """A child forked after the parent started its worker threads starts threads of its own
    (fork copies the pool object but not its threads: work handed to it would wait forever)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x = np.random.default_rng(12).normal(size=(4, 2, 6, 6))
    w = np.random.default_rng(13).normal(size=(3, 2, 3, 3))
    with kernels.threads(2, work_per_thread=1):
        expected = conv2d(Tensor(x), Tensor(w), padding=1).data.sum()   # the parent's pool is running now
        assert kernels.STATE._executor is not None
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_conv_in_child, args=(queue,))
        child.start()
        child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the forked child did not finish its convolution"
    assert queue.get(timeout=5) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------ the speed state
def test_workspace_lends_given_arrays_and_takes_back_dead_graphs():
    import gc

    ws = Workspace(max_arrays=3)
    a = ws.take((4, 5), "float64")
    assert ws.take((4, 5), "float64") is not a            # lent arrays are not lent twice
    ws.give(a)
    assert ws.take((4, 5), "float32") is not a            # another dtype: a new array
    assert ws.take((4, 5), "float64") is a

    class Owner:
        pass

    owner, saved = Owner(), ws.take((2, 2), "float64")
    ws.give_when_dead(owner, saved)
    assert ws.take((2, 2), "float64") is not saved        # the owner is alive: still its own
    del owner
    gc.collect()
    assert ws.take((2, 2), "float64") is saved            # collected: lent again
    ws.give(*[np.empty(k) for k in range(1, 6)])
    assert len(ws._free) == 3                             # at most max_arrays are kept


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_time_loops_leave_the_blas_thread_count_as_it_was(cls):
    """The recurrent kernels set BLAS's threads for their time loops; afterwards the count is as it was."""
    from threadpoolctl import ThreadpoolController   # a dependency of nnkit
    blas = ThreadpoolController().select(user_api="blas")
    with blas.limit(limits=2):
        before = [lib["num_threads"] for lib in blas.info()]
        out, _ = cls(3, 4)(Tensor(np.ones((2, 5, 3)), requires_grad=True))
        out.sum().backward()
        assert [lib["num_threads"] for lib in blas.info()] == before == [2] * len(before)
        with kernels.few_blas_threads():
            assert [lib["num_threads"] for lib in blas.info()] == [1] * len(before)
        assert [lib["num_threads"] for lib in blas.info()] == before


def test_kernel_threads_take_the_cores_from_blas_and_give_them_back():
    """Once the kernels split a batch over their threads, BLAS runs one thread per caller (two
    pools on two cores would fight over them); the recurrent kernels' products get BLAS's threads
    back while they run; set_threads(1) returns them for good."""
    from threadpoolctl import ThreadpoolController   # a dependency of nnkit
    blas = ThreadpoolController().select(user_api="blas")
    counts = lambda: [lib["num_threads"] for lib in blas.info()]  # noqa: E731
    threads_before = kernels.STATE.threads
    kernels.set_threads(1)
    try:
        with blas.limit(limits=2):
            x, w = Tensor(np.ones((4, 2, 6, 6))), Tensor(np.ones((3, 2, 3, 3)))
            conv2d(x, w)                                   # one thread: BLAS keeps its threads
            assert counts() == [2] * len(counts())
            with kernels.threads(2, work_per_thread=1):
                conv2d(x, w)
                assert counts() == [1] * len(counts())
                with kernels.STATE.blas_products():
                    assert counts() == [2] * len(counts())
                assert counts() == [1] * len(counts())
                out, _ = LSTM(3, 4)(Tensor(np.ones((2, 5, 3)), requires_grad=True))
                out.sum().backward()
                assert counts() == [1] * len(counts())
            kernels.set_threads(1)
            assert counts() == [2] * len(counts())
    finally:
        kernels.set_threads(threads_before)


# ------------------------------------------------- both kernels off NumPy
LAYERS = {
    "conv2d_tuples": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=(1, 2), groups=2, padding=(1, 2)),
                      (2, 4, 7, 8)),
    "conv2d_stride1": (lambda: nn.Conv2d(3, 2, 3, padding=1), (2, 3, 6, 5)),
    "maxpool_ceil": (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 6, 7)),
    "avgpool_ceil_exclude_pad": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 6, 7)),
    "avgpool_tiles": (lambda: nn.AvgPool2d(2), (2, 3, 6, 8)),
    "rnn": (lambda: _First(RNN(3, 4)), (2, 5, 3)),
    "lstm_peephole": (lambda: _First(LSTM(3, 4, peephole=True)), (2, 5, 3)),
    "gru": (lambda: _First(GRU(3, 4)), (2, 5, 3)),
}


class _First(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)[0]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_both_kernels_on_the_strict_stand_in_match_numpy(name, both_kernels):
    """The layer on nnkit.testing.strict (which refuses NumPy arrays, as CuPy does) gives NumPy's
    output, input gradient and parameter gradients."""
    make, shape = LAYERS[name]
    x = np.random.default_rng(7).uniform(-1, 1, shape)

    def run(backend_name):
        nnkit.use(backend_name)
        try:
            nnkit.seed(3)
            layer = make()
            xt = Tensor(nnkit.to_device(x), requires_grad=True)
            y = layer(xt)
            y.backward(nnkit.to_device(np.cos(np.arange(y.size)).reshape(y.shape)))
            return [nnkit.to_numpy(a) for a in [y.data, xt.grad] + [p.grad for p in layer.parameters()]]
        finally:
            nnkit.use("numpy")

    strict, numpy = run("strict"), run("numpy")
    _assert_agree(strict, numpy, tol=1e-12)
