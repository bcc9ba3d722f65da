"""Convolution: fast path vs naive loops vs SciPy, gradient checks in float64, shapes and errors."""
import numpy as np
import pytest
import scipy.signal

from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.nn.conv import (conv1d, conv2d, conv2d_naive, convolve2d, correlate2d, flip,
                           receptive_field, resolve_padding)
from nnkit.nn.module import ShapeError


pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


CASES = {
    "plain": dict(),
    "stride2_pad1": dict(stride=2, padding=1),
    "dilation2": dict(dilation=2, padding=(2, 1)),
    "groups2_same": dict(groups=2, padding="same"),
    "full": dict(padding="full"),
    "asymmetric_pads": dict(padding=(0, 1, 2, 0)),
}


def _inputs(case, rng, N=2, C=4, H=6, W=5, O=6, k=(3, 2)):
    groups = CASES[case].get("groups", 1)
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(O, C // groups, *k))
    b = rng.normal(size=O)
    return x, w, b


@pytest.mark.parametrize("case", CASES)
def test_fast_path_equals_naive_loops(case):
    rng = np.random.default_rng(1)
    x, w, b = _inputs(case, rng)
    kw = CASES[case]
    fast = conv2d(Tensor(x), Tensor(w), Tensor(b), **kw)
    slow = conv2d_naive(Tensor(x), Tensor(w), Tensor(b), **kw)
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast.data, slow.data, rtol=1e-12, atol=1e-12)
    # and the gradients of both agree for the same upstream gradient
    g = rng.normal(size=fast.shape)
    grads = []
    for fn in (conv2d, conv2d_naive):
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        fn(*ts, **kw).backward(g)
        grads.append([t.grad for t in ts])
    for a, c in zip(*grads):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn", [conv2d, conv2d_naive], ids=["fast", "naive"])
@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(case, fn):
    rng = np.random.default_rng(2)
    x, w, b = _inputs(case, rng, N=2, C=2, H=5, W=4, O=4)
    report = check_grad(lambda a, c, d: fn(a, c, d, **CASES[case]), x, w, b)
    assert report.ok, str(report)
    assert report.max_abs_error < 1e-6


def test_single_channel_equals_scipy_correlate2d_and_convolve2d():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(7, 9)), rng.normal(size=(3, 4))
    for mode in ("valid", "full"):
        np.testing.assert_allclose(correlate2d(x, w, mode), scipy.signal.correlate2d(x, w, mode), atol=1e-12)
        np.testing.assert_allclose(convolve2d(x, w, mode), scipy.signal.convolve2d(x, w, mode), atol=1e-12)
    np.testing.assert_allclose(convolve2d(x, w, "same"), scipy.signal.convolve2d(x, w, "same"), atol=1e-12)
    # the layer computes the same correlation
    out = conv2d(Tensor(x[None, None]), Tensor(w[None, None]))
    np.testing.assert_allclose(out.data[0, 0], scipy.signal.correlate2d(x, w, "valid"), atol=1e-12)


def test_lecture_9_worked_example():
    x = np.array([[1, 3, 1], [0, -1, 1], [2, 2, -1]], float)
    w = np.array([[1, 2], [0, -1]], float)
    assert convolve2d(x, w).tolist() == [[1, 5, 7, 2], [0, -2, -4, 1], [2, 6, 4, -3], [0, -2, -2, 1]]
    assert np.array_equal(flip(w), np.array([[-1, 0], [2, 1]]))
    assert correlate2d(x, w).tolist() == [[8, 4], [-4, 2]]
    assert convolve2d(x, w, "valid").tolist() == [[-2, -4], [6, 4]]


def test_float32_matches_float64():
    rng = np.random.default_rng(4)
    x, w, b = _inputs("stride2_pad1", rng)
    hi = conv2d(Tensor(x), Tensor(w), Tensor(b), stride=2, padding=1).data
    lo = conv2d(Tensor(x.astype(np.float32)), Tensor(w.astype(np.float32)), Tensor(b.astype(np.float32)),
                stride=2, padding=1).data
    assert lo.dtype == np.float32
    np.testing.assert_allclose(lo, hi, rtol=1e-4, atol=1e-4)


def test_output_sizes_and_padding_modes():
    layer = nn.Conv2d(1, 3, 5)
    assert layer(np.zeros((2, 1, 28, 28))).shape == (2, 3, 24, 24)          # valid: 28 - 5 + 1
    assert nn.Conv2d(1, 3, 5, padding="same")(np.zeros((1, 1, 28, 28))).shape == (1, 3, 28, 28)
    assert nn.Conv2d(1, 3, 5, padding="full")(np.zeros((1, 1, 28, 28))).shape == (1, 3, 32, 32)
    assert nn.Conv2d(1, 3, 3, stride=2, padding=1)(np.zeros((1, 1, 7, 7))).shape == (1, 3, 4, 4)
    assert resolve_padding("same", (3, 3)) == (1, 1, 1, 1)
    assert resolve_padding("full", (3, 3)) == (2, 2, 2, 2)


def test_layer_gradients_and_parameter_count():
    layer = nn.Conv2d(3, 4, (3, 2), stride=1, padding=1)
    assert layer.num_parameters() == 4 * 3 * 3 * 2 + 4
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 4))
    params = [layer.weight, layer.bias]

    def f(xt, w, b):
        old = layer.weight, layer.bias
        object.__setattr__(layer, "weight", w)
        object.__setattr__(layer, "bias", b)
        try:
            return layer(xt)
        finally:
            object.__setattr__(layer, "weight", old[0])
            object.__setattr__(layer, "bias", old[1])

    report = check_grad(f, x, *[p.data.copy() for p in params])
    assert report.ok, str(report)


def test_shape_errors_name_the_layer_and_both_shapes():
    layer = nn.Conv2d(3, 8, 3)
    with pytest.raises(ShapeError, match=r"Conv2d.*\(N, 3, H, W\).*\(2, 4, 9, 9\)"):
        layer(np.zeros((2, 4, 9, 9)))
    with pytest.raises(ShapeError, match=r"Conv2d.*\(2, 3, 9\)"):
        layer(np.zeros((2, 3, 9)))
    with pytest.raises(ShapeError, match=r"does not fit"):
        layer(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ShapeError, match=r"Conv1d.*\(N, 2, L\).*\(1, 3, 5\)"):
        nn.Conv1d(2, 2, 3)(np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 8, 3, groups=2)


def test_buffers_are_not_shared_between_live_graphs():
    """Two forward passes alive at once must keep their own saved windows."""
    rng = np.random.default_rng(6)
    layer = nn.Conv2d(2, 3, 3)
    x1, x2 = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(2, 2, 5, 5))
    y1, y2 = layer(x1), layer(x2)
    y1_values = y1.data.copy()
    y1.sum().backward()
    g_both = layer.weight.grad.copy()
    layer.zero_grad()
    layer(x1).sum().backward()
    np.testing.assert_allclose(g_both, layer.weight.grad, atol=1e-12)
    np.testing.assert_allclose(y1.data, y1_values)
    assert not np.allclose(y2.data, y1.data)


@pytest.mark.parametrize("shape, shift_g_first", [
    (dict(C=6, O=3, k=(3, 3), padding=1), True),                   # few outputs: g is shifted first
    (dict(C=5, O=2, k=(2, 3), padding=(1, 0), dilation=2), True),
    (dict(C=2, O=7, k=(3, 3), padding="same"), False),             # many outputs: weights first
], ids=["shift_g_first", "shift_g_first_dilated", "weights_first"])
@pytest.mark.parametrize("threads", [1, 2])
def test_both_input_gradient_arrangements_match_naive(shape, shift_g_first, threads, monkeypatch):
    """The stride-1 input gradient has two arrangements of the same sums; both equal the loops,
    also with the batch of 3 images split over 2 threads."""
    from nnkit.nn import _im2col
    from nnkit.nn.conv import _InputGradStride1

    monkeypatch.setattr(_im2col, "WORK_PER_THREAD", 1)
    monkeypatch.setattr(_im2col, "THREADS", [threads])

    C, O, (kh, kw) = shape["C"], shape["O"], shape["k"]
    rng = np.random.default_rng(11)
    x, w, b = rng.normal(size=(3, C, 7, 6)), rng.normal(size=(O, C, kh, kw)), rng.normal(size=O)
    probe = _InputGradStride1(np.zeros((1, O, 2, 2)), w, (1, C, 2 + kh - 1, 2 + kw - 1), 1, 1)
    assert probe.shift_g_first == shift_g_first  # the case really takes the path it is named after
    kwargs = {k: v for k, v in shape.items() if k in ("padding", "dilation")}
    grads = []
    for fn in (conv2d, conv2d_naive):
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = fn(*ts, **kwargs)
        y.backward(np.cos(np.arange(y.size)).reshape(y.shape))
        grads.append(ts[0].grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend_name", ["numpy", "strict"])
def test_live_outputs_and_saved_windows_survive_later_calls(backend_name):
    """Scratch arrays are reused only when nothing refers to them, also through views and on
    the strict stand-in, whose views do not point at their base: two forward passes of the
    same shapes are kept alive, a third runs, and all values and gradients are still right."""
    import nnkit
    from nnkit import backend

    rng = np.random.default_rng(8)
    xs = [rng.normal(size=(2, 3, 8, 8)) for _ in range(3)]
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    reference = [conv2d_naive(Tensor(x), Tensor(w), Tensor(b), padding=1) for x in xs]
    nnkit.use(backend_name)
    try:
        wt = Tensor(nnkit.to_device(w), requires_grad=True)
        bt = Tensor(nnkit.to_device(b))
        ys = [conv2d(Tensor(nnkit.to_device(x)), wt, bt, padding=1) for x in xs]
        ys[0].sum().backward()
        values = [nnkit.to_numpy(y.data) for y in ys]
        grad = nnkit.to_numpy(wt.grad)
    finally:
        nnkit.use("numpy")
    for v, r in zip(values, reference):
        np.testing.assert_allclose(v, r.data, atol=1e-12)
    wref = Tensor(w, requires_grad=True)
    conv2d_naive(Tensor(xs[0]), wref, Tensor(b), padding=1).sum().backward()
    np.testing.assert_allclose(grad, wref.grad, atol=1e-10)


@pytest.mark.parametrize("case", ["plain", "dilation2", "groups2_same", "stride2_pad1"])
def test_blocks_of_images_on_several_threads_give_the_same_result(case, monkeypatch):
    """The batch split over 3 threads in uneven blocks (1, 2, 2 images) gives the naive values."""
    from nnkit.nn import _im2col

    monkeypatch.setattr(_im2col, "WORK_PER_THREAD", 1)
    monkeypatch.setattr(_im2col, "THREADS", [3])
    rng = np.random.default_rng(9)
    x, w, b = _inputs(case, rng, N=5)
    g = rng.normal(size=conv2d_naive(Tensor(x), Tensor(w), Tensor(b), **CASES[case]).shape)
    results = []
    for fn in (conv2d, conv2d_naive):
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = fn(*ts, **CASES[case])
        y.backward(g)
        results.append([y.data] + [t.grad for t in ts])
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="set_threads"):
        _im2col.set_threads(0)


def _conv_in_child(queue):
    x = np.random.default_rng(12).normal(size=(4, 2, 6, 6))
    w = np.random.default_rng(13).normal(size=(3, 2, 3, 3))
    queue.put(conv2d(Tensor(x), Tensor(w), padding=1).data.sum())


def test_threads_work_in_a_forked_child(monkeypatch):
    """A child forked after the parent started its threads gets threads of its own (it inherits
    the pool object but not the threads; handing work to it would wait forever)."""
    import multiprocessing

    from nnkit.nn import _im2col

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(_im2col, "WORK_PER_THREAD", 1)
    monkeypatch.setattr(_im2col, "THREADS", [2])
    x = np.random.default_rng(12).normal(size=(4, 2, 6, 6))
    w = np.random.default_rng(13).normal(size=(3, 2, 3, 3))
    expected = conv2d(Tensor(x), Tensor(w), padding=1).data.sum()   # the parent's pool is running now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the forked child did not finish its convolution"
    assert queue.get(timeout=5) == pytest.approx(expected, rel=1e-12)


def test_conv1d_matches_numpy_correlate_and_is_causal():
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=12), rng.normal(size=3)
    out = conv1d(Tensor(x[None, None]), Tensor(w[None, None]))
    np.testing.assert_allclose(out.data[0, 0], np.correlate(x, w, "valid"), atol=1e-12)
    # causal + dilated: same length, and output t never depends on inputs after t
    layer = nn.Conv1d(1, 1, 3, dilation=2, causal=True)
    xt = Tensor(x[None, None], requires_grad=True)
    y = layer(xt)
    assert y.shape == (1, 1, 12)
    g = np.zeros((1, 1, 12))
    g[0, 0, 5] = 1.0  # output 5 may only see inputs 5, 3, 1
    y.backward(g)
    assert set(np.flatnonzero(xt.grad[0, 0])) <= {1, 3, 5}
    wk = layer.weight.data[0, 0]
    np.testing.assert_allclose(y.data[0, 0, 5], wk[0] * x[1] + wk[1] * x[3] + wk[2] * x[5] + layer.bias.data[0])
    report = check_grad(lambda a, c: conv1d(a, c, padding="causal", dilation=2), x.reshape(1, 1, 12),
                        rng.normal(size=(2, 1, 3)))
    assert report.ok, str(report)


def test_receptive_fields_of_lecture_9():
    # 5x5 conv, 2x2 pool stride 2, 5x5 conv, pool, 5x5 conv
    assert receptive_field([(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]) == [5, 6, 14, 16, 32]
    assert receptive_field([(5, 1), (3, 2), (5, 1), (3, 2), (5, 1)])[::2] == [5, 15, 35]
    assert receptive_field([(2, 1, d) for d in (1, 2, 4, 8)]) == [2, 4, 8, 16]
