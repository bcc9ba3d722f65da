"""ELU and GELU: their defining numbers, their derivatives, and both GELU forms."""
import math
from statistics import NormalDist

import numpy as np
import pytest

from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import assert_grad

POINTS = [-3.0, -1.0, -0.25, 0.5, 1.0, 2.0]


def _values_and_slopes(fn, xs, dtype=np.float64):
    x = Tensor(np.array(xs, dtype=dtype), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return y.data, x.grad


def test_elu_numbers():
    """x for x > 0; alpha (e^x - 1) below, which tends to -alpha: elu(-1) = 1/e - 1."""
    y, slope = _values_and_slopes(nn.elu, [-1.0, 0.0, 2.0, -40.0])
    np.testing.assert_allclose(y, [1 / math.e - 1, 0.0, 2.0, -1.0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(slope, [1 / math.e, 1.0, 1.0, math.exp(-40)], rtol=1e-12)
    y, slope = _values_and_slopes(lambda t: nn.ELU(alpha=0.5)(t), [-2.0, 3.0])
    np.testing.assert_allclose(y, [0.5 * (math.exp(-2) - 1), 3.0], rtol=1e-15)
    np.testing.assert_allclose(slope, [0.5 * math.exp(-2), 1.0], rtol=1e-15)


def test_elu_does_not_overflow_for_large_inputs():
    y, slope = _values_and_slopes(nn.elu, [1000.0, -1000.0], dtype=np.float32)
    assert y.tolist() == [1000.0, -1.0] and slope.tolist() == [1.0, 0.0]


def test_gelu_exact_is_x_times_the_normal_cdf():
    """Against the standard library's normal distribution: Phi(1) = 0.841344746..."""
    normal = NormalDist()
    y, slope = _values_and_slopes(nn.gelu, POINTS)
    np.testing.assert_allclose(y, [x * normal.cdf(x) for x in POINTS], rtol=1e-13)
    np.testing.assert_allclose(slope, [normal.cdf(x) + x * normal.pdf(x) for x in POINTS], rtol=1e-13)
    assert nn.gelu(Tensor([1.0])).item() == pytest.approx(0.8413447460685429, rel=1e-14)


def test_gelu_tanh_approximation_numbers():
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed here with math.tanh."""
    def approx(x):
        return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    y, slope = _values_and_slopes(lambda t: nn.GELU(approximate="tanh")(t), POINTS)
    np.testing.assert_allclose(y, [approx(x) for x in POINTS], rtol=1e-14)
    h = 1e-6
    np.testing.assert_allclose(slope, [(approx(x + h) - approx(x - h)) / (2 * h) for x in POINTS], rtol=1e-8)
    assert approx(1.0) == pytest.approx(0.8411919906082768, rel=1e-14)


def test_gelu_forms_differ_by_less_than_5e_4():
    x = np.linspace(-8, 8, 4001)
    exact = nn.gelu(Tensor(x)).data
    tanh_form = nn.gelu(Tensor(x), approximate="tanh").data
    gap = np.abs(exact - tanh_form).max()
    assert 1e-4 < gap < 5e-4  # close, but not the same function


@pytest.mark.parametrize("fn", [
    lambda t: nn.elu(t, alpha=1.3), nn.gelu, lambda t: nn.gelu(t, approximate="tanh"),
], ids=["elu", "gelu", "gelu_tanh"])
def test_gradients_against_finite_differences(fn):
    x = np.random.default_rng(0).standard_normal((4, 5)) * 2
    x = x + np.sign(x) * 0.05  # ELU's derivative jumps at 0 when alpha != 1
    assert_grad(fn, x)


def test_bad_approximate_is_refused():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU(approximate="erf")
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.gelu(Tensor([1.0]), approximate="fast")
