"""Pooling and Flatten, under both kernel settings: against loops over every output entry
(ceil_mode and count_include_pad included), finite differences, known values, errors."""
import numpy as np
import pytest
from naive_loops import pool2d_loops

from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.nn.module import ShapeError
from nnkit.nn.pooling import avg_pool2d, max_pool2d, pool_geometry, pool_output_size


pytestmark = pytest.mark.usefixtures("float64_seeded", "both_kernels")  # see tests/conftest.py


# kernel, stride, padding, ceil_mode, count_include_pad (for the average)
GEOMETRIES = {
    "2x2": (2, None, 0, False, True), "3x3_stride2": (3, 2, 0, False, True),
    "3x3_stride2_pad1": (3, 2, 1, False, True), "2x3": ((2, 3), 1, 0, False, True),
    "3x3_stride2_pad1_exclude_pad": (3, 2, 1, False, False),
    "2x2_ceil": (2, None, 0, True, True), "3x3_stride2_ceil": (3, 2, 0, True, True),
    "3x3_stride2_pad1_ceil": (3, 2, 1, True, True), "3x3_stride2_pad1_ceil_exclude_pad": (3, 2, 1, True, False),
    "3x2_stride_2x3_pad_1x1_ceil": ((3, 2), (2, 3), 1, True, False),
}
FUNCTIONS = {"max": lambda x, k, s, p, ceil, cip: max_pool2d(x, k, s, p, ceil),
             "avg": lambda x, k, s, p, ceil, cip: avg_pool2d(x, k, s, p, ceil, cip)}


def _pairs(k, s, p):
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    return pair(k), pair(k if s is None else s), pair(p)


@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_values_and_gradients_equal_the_naive_loops(geom, mode):
    k, s, p, ceil, cip = GEOMETRIES[geom]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 7, 6))
    t = Tensor(x, requires_grad=True)
    y = FUNCTIONS[mode](t, k, s, p, ceil, cip)
    expected, vjp = pool2d_loops(x, *_pairs(k, s, p), mode, ceil, cip)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.data, expected, atol=1e-12)
    g = rng.normal(size=y.shape)
    y.backward(g)
    np.testing.assert_allclose(t.grad, vjp(g), atol=1e-12)


@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_gradients_match_finite_differences(geom, mode):
    k, s, p, ceil, cip = GEOMETRIES[geom]
    # distinct values far apart, so that no max changes under the finite-difference step
    x = np.random.default_rng(1).permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) * 0.1
    report = check_grad(lambda t: FUNCTIONS[mode](t, k, s, p, ceil, cip), x)
    assert report.ok, str(report)


def test_ceil_mode_sizes_and_divisors_by_hand():
    """H = 5, k = 2, s = 2: floor mode makes 2 windows, ceil mode 3 (the last covers row 4 only).
    H = 6, k = 3, s = 2, p = 1: ceil(5 / 2) + 1 = 4 windows, the 4th starting at row 5, inside the
    input.  H = 4, k = 2, s = 3, p = 1: ceil(4 / 3) + 1 = 3, but the 3rd window would start at
    row 5, in the right padding, so there are 2."""
    assert pool_output_size(5, 2, 2) == 2 and pool_output_size(5, 2, 2, ceil_mode=True) == 3
    assert pool_output_size(6, 3, 2, 1, ceil_mode=True) == 4 and pool_output_size(6, 3, 2, 1) == 3
    assert pool_output_size(5, 3, 2, 1, ceil_mode=True) == 3
    # the last window would start in the right padding: dropped (H = 4, k = 2, s = 3, p = 1)
    assert pool_output_size(4, 2, 3, 1, ceil_mode=True) == 2
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    y = avg_pool2d(Tensor(x), 2, ceil_mode=True).data[0, 0]
    assert y.shape == (3, 3)
    assert y[2, 2] == 24.0                                   # a 1x1 window: divided by 1, not 4
    assert y[0, 2] == (4.0 + 9.0) / 2                        # a 2x1 window
    # count_include_pad: the corner window of a 3x3 pooling with padding 1 sees 4 real inputs
    x = np.ones((1, 1, 4, 4))
    assert avg_pool2d(Tensor(x), 3, 1, 1).data[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert avg_pool2d(Tensor(x), 3, 1, 1, count_include_pad=False).data[0, 0, 0, 0] == 1.0
    divisor = pool_geometry(x.shape, 3, 1, 1, False, False).divisor
    np.testing.assert_array_equal(divisor, [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    assert max_pool2d(Tensor(np.arange(25.0).reshape(1, 1, 5, 5)), 2, ceil_mode=True).data[0, 0].tolist() == \
        [[6, 8, 9], [16, 18, 19], [21, 23, 24]]


def test_known_values_and_routing():
    x = np.array([[1., 2., 5., 0.], [2., 4., 1., 1.], [0., 0., 3., 3.], [7., 0., 3., 2.]])[None, None]
    assert max_pool2d(Tensor(x)).data[0, 0].tolist() == [[4, 5], [7, 3]]
    assert avg_pool2d(Tensor(x)).data[0, 0].tolist() == [[2.25, 1.75], [1.75, 2.75]]
    t = Tensor(x, requires_grad=True)
    max_pool2d(t).backward(np.array([[[[10., 20.], [30., 40.]]]]))
    expected = np.zeros((4, 4))
    expected[1, 1], expected[0, 2], expected[3, 0], expected[2, 2] = 10, 20, 30, 40  # first max on the 3-3 tie
    np.testing.assert_array_equal(t.grad[0, 0], expected)
    t = Tensor(x, requires_grad=True)
    avg_pool2d(t).backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(t.grad, np.full_like(x, 0.25))


def test_pooling_of_a_channels_last_view_keeps_values():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 6, 3)).transpose(0, 3, 1, 2)  # (N, C, H, W) stored as (N, H, W, C)
    t = Tensor(x, requires_grad=True)
    y = max_pool2d(t)
    expected, _ = pool2d_loops(np.ascontiguousarray(x), (2, 2), (2, 2), (0, 0), "max")
    np.testing.assert_allclose(y.data, expected)
    y.sum().backward()
    assert t.grad.sum() == pytest.approx(y.size)


def test_halving_and_modules():
    x = np.random.default_rng(3).normal(size=(1, 3, 24, 24))
    assert nn.MaxPool2d(2)(x).shape == (1, 3, 12, 12)
    assert nn.AvgPool2d(3, stride=2)(x).shape == (1, 3, 11, 11)  # floor((24 - 3) / 2) + 1
    assert nn.AvgPool2d(2, stride=2, ceil_mode=True)(x[:, :, :23, :23]).shape == (1, 3, 12, 12)
    assert nn.MaxPool2d(3, 2, ceil_mode=True).output_shape((3, 24, 24)) == (3, 12, 12)  # ceil(21 / 2) + 1
    assert "count_include_pad=False" in repr(nn.AvgPool2d(3, 1, 1, count_include_pad=False))
    assert nn.Flatten()(x).shape == (1, 3 * 24 * 24)


def test_errors():
    with pytest.raises(ShapeError, match=r"MaxPool2d.*\(N, C, H, W\).*\(3, 4\)"):
        nn.MaxPool2d(2)(np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="does not fit"):
        nn.AvgPool2d(5)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ShapeError, match="Flatten"):
        nn.Flatten()(np.zeros(4))


@pytest.mark.parametrize("kernel", [(2, 3), (3, 2), (12, 12)], ids=["2x3", "3x2", "global_12x12"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_non_overlapping_windows_with_ties_match_naive(kernel, mode):
    """stride = kernel: many exact ties (small integers, a ReLU-like block of zeros), windows of
    more than 127 entries, and rows/columns left over at the border."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(2, 3, 13, 14)).astype(float)
    x[0, 0] = 0.0  # every window of this map is one tie
    t = Tensor(x, requires_grad=True)
    y = FUNCTIONS[mode](t, kernel, None, 0, False, True)
    expected, vjp = pool2d_loops(x, kernel, kernel, (0, 0), mode)
    np.testing.assert_allclose(y.data, expected, atol=1e-12)
    g = rng.normal(size=y.shape)
    y.backward(g)
    np.testing.assert_allclose(t.grad, vjp(g), atol=1e-12)
    if mode == "max":  # every window passes its gradient to exactly one entry
        assert np.count_nonzero(t.grad) == np.count_nonzero(g)
