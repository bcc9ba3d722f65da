"""Convolution, under both kernel settings: against loops over every output entry, finite
differences in float64, SciPy, shapes and errors."""
import numpy as np
import pytest
import scipy.signal
from naive_loops import conv2d_loops

from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.nn.conv import (col2im, conv1d, conv2d, conv_geometry, convolve2d, correlate2d, flip, im2col,
                           receptive_field, resolve_padding)
from nnkit.nn.module import ShapeError


pytestmark = pytest.mark.usefixtures("float64_seeded", "both_kernels")  # see tests/conftest.py


CASES = {
    "plain": dict(),
    "stride2_pad1": dict(stride=2, padding=1),
    "dilation2": dict(dilation=2, padding=(2, 1)),
    "groups2_same": dict(groups=2, padding="same"),
    "full": dict(padding="full"),
    "asymmetric_pads": dict(padding=(0, 1, 2, 0)),
    "stride_2x1_dilation_1x2": dict(stride=(2, 1), dilation=(1, 2), padding=(1, 2)),
    "stride_1x3_groups2": dict(stride=(1, 3), dilation=(2, 1), padding=1, groups=2),
}


def _inputs(case, rng, N=2, C=4, H=6, W=5, O=6, k=(3, 2)):
    groups = CASES[case].get("groups", 1)
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(O, C // groups, *k))
    b = rng.normal(size=O)
    return x, w, b


def _loops(x, w, b, stride=1, padding=0, dilation=1, groups=1):
    """The naive loops, for the same arguments as conv2d."""
    geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    return conv2d_loops(x, w, b, geo.stride, geo.pads, geo.dilation, groups)


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_the_naive_loops(case):
    rng = np.random.default_rng(1)
    x, w, b = _inputs(case, rng)
    kw = CASES[case]
    ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = conv2d(*ts, **kw)
    expected, vjp = _loops(x, w, b, **kw)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    g = rng.normal(size=y.shape)
    y.backward(g)
    for t, e in zip(ts, vjp(g)):
        np.testing.assert_allclose(t.grad, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(case):
    rng = np.random.default_rng(2)
    x, w, b = _inputs(case, rng, N=2, C=2, H=5, W=4, O=4)
    report = check_grad(lambda a, c, d: conv2d(a, c, d, **CASES[case]), x, w, b)
    assert report.ok, str(report)
    assert report.max_abs_error < 1e-6


def test_per_axis_output_size_formula():
    """Ho = floor((H + pads - d_h (kh - 1) - 1) / s_h) + 1, and the same along W with its own s, d."""
    x = np.zeros((1, 2, 11, 13))
    y = conv2d(Tensor(x), Tensor(np.zeros((3, 2, 3, 2))), stride=(2, 3), dilation=(3, 2), padding=(1, 0, 2, 2))
    assert y.shape == (1, 3, (11 + 1 - 3 * 2 - 1) // 2 + 1, (13 + 4 - 2 * 1 - 1) // 3 + 1) == (1, 3, 3, 5)
    layer = nn.Conv2d(2, 3, (3, 2), stride=(2, 3), dilation=(3, 2), padding=(1, 0, 2, 2))
    assert layer(x).shape == (1, 3, 3, 5) and layer.output_shape((2, 11, 13)) == (3, 3, 5)
    assert "stride=(2, 3)" in repr(layer) and "dilation=(3, 2)" in repr(layer)
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(2, 3, 3, stride=(1, 0))


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> = <x, col2im(c)> for any x and c: col2im is the transpose of im2col."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, 3, 7, 8))
    cols = im2col(x, 3, 2, stride=(2, 1), dilation=(1, 3))
    c = rng.normal(size=cols.shape)
    back = col2im(c, x.shape, 3, 2, stride=(2, 1), dilation=(1, 3))
    assert cols.shape == (3 * 3 * 2, 2 * 3 * 5)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * back), rel=1e-12)
    assert cols[0 * 6 + 1 * 2 + 1, 1 * 15 + 2 * 5 + 4] == x[1, 0, 2 * 2 + 1, 4 + 3]  # (c, i, j) = (0, 1, 1), (n, y, x) = (1, 2, 4)


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


def test_live_graphs_keep_their_own_values():
    """Two forward passes alive at once keep their own saved windows and outputs."""
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
