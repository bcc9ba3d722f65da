"""Pooling and Flatten: fast paths vs naive loops, gradients, known values, errors."""
import numpy as np
import pytest

from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.nn.module import ShapeError
from nnkit.nn.pooling import avg_pool2d, max_pool2d, pool2d_naive


pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


GEOMETRIES = {"2x2": (2, None, 0), "3x3_stride2": (3, 2, 0), "3x3_stride2_pad1": (3, 2, 1), "2x3": ((2, 3), 1, 0)}


@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_fast_equals_naive_forward_and_backward(geom, mode):
    k, s, p = GEOMETRIES[geom]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 7, 6))
    fast_fn = max_pool2d if mode == "max" else avg_pool2d
    xa, xb = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    fast = fast_fn(xa, k, s, p)
    slow = pool2d_naive(xb, k, s, p, mode=mode)
    np.testing.assert_allclose(fast.data, slow.data, atol=1e-12)
    g = rng.normal(size=fast.shape)
    fast.backward(g)
    slow.backward(g)
    np.testing.assert_allclose(xa.grad, xb.grad, atol=1e-12)


@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d,
                                lambda x, k, s, p: pool2d_naive(x, k, s, p, "max"),
                                lambda x, k, s, p: pool2d_naive(x, k, s, p, "avg")],
                         ids=["max", "avg", "max_naive", "avg_naive"])
def test_gradients_match_finite_differences(geom, fn):
    k, s, p = GEOMETRIES[geom]
    # distinct values far apart, so that no max changes under the finite-difference step
    x = np.random.default_rng(1).permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) * 0.1
    report = check_grad(lambda t: fn(t, k, s, p), x)
    assert report.ok, str(report)


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
    ref = pool2d_naive(Tensor(np.ascontiguousarray(x)), 2, None, 0, "max")
    np.testing.assert_allclose(y.data, ref.data)
    y.sum().backward()
    assert t.grad.sum() == pytest.approx(y.size)


def test_halving_and_modules():
    x = np.random.default_rng(3).normal(size=(1, 3, 24, 24))
    assert nn.MaxPool2d(2)(x).shape == (1, 3, 12, 12)
    assert nn.AvgPool2d(3, stride=2)(x).shape == (1, 3, 11, 11)  # floor((24 - 3) / 2) + 1
    assert nn.Flatten()(x).shape == (1, 3 * 24 * 24)


def test_errors():
    with pytest.raises(ShapeError, match=r"MaxPool2d.*\(N, C, H, W\).*\(3, 4\)"):
        nn.MaxPool2d(2)(np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="does not fit"):
        nn.AvgPool2d(5)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ShapeError, match="Flatten"):
        nn.Flatten()(np.zeros(4))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kernel", [(2, 3), (3, 2), (12, 12)], ids=["2x3", "3x2", "global_12x12"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_non_overlapping_groups_with_ties_match_naive(kernel, mode, threads, monkeypatch):
    """The tiles path (stride = kernel): many exact ties (small integers, a ReLU-like block of
    zeros), groups of more than 127 entries, rows/columns left over at the border, and the
    batch split over two threads."""
    from nnkit.nn import _im2col

    monkeypatch.setattr(_im2col, "WORK_PER_THREAD", 1)
    monkeypatch.setattr(_im2col, "THREADS", [threads])
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(2, 3, 13, 14)).astype(float)
    x[0, 0] = 0.0  # every group of this map is one tie
    fast_fn = max_pool2d if mode == "max" else avg_pool2d
    xa, xb = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    fast = fast_fn(xa, kernel)
    slow = pool2d_naive(xb, kernel, None, 0, mode=mode)
    np.testing.assert_allclose(fast.data, slow.data, atol=1e-12)
    g = rng.normal(size=fast.shape)
    fast.backward(g)
    slow.backward(g)
    np.testing.assert_allclose(xa.grad, xb.grad, atol=1e-12)
    if mode == "max":  # every group passes its gradient to exactly one entry
        assert np.count_nonzero(xa.grad) == np.count_nonzero(g)
