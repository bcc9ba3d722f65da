"""BatchNorm1d on (N, C) and (N, C, L), BatchNorm2d on (N, C, H, W): numbers, running statistics, gradients."""
import numpy as np
import pytest

import nnkit
from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import assert_grad

pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


def batchnorm_by_channel(x, gamma, beta, eps):
    """Normalize x[:, c, ...] channel by channel with explicit loops (the definition, written out)."""
    y = np.empty_like(x)
    means, variances = [], []
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / len(values)
        y[:, c] = gamma[c] * (x[:, c] - mean) / np.sqrt(var + eps) + beta[c]
        means.append(mean)
        variances.append(var * len(values) / (len(values) - 1))  # unbiased, for the running average
    return y, np.array(means), np.array(variances)


def test_a_hand_computed_channel():
    """Channel 0 holds 1, 3, 5, 7: mean 4, variance 5, so 1 maps to -3 / sqrt(5 + eps)."""
    x = np.array([[[1.0, 3.0], [0.0, 0.0]], [[5.0, 7.0], [2.0, 4.0]]])  # (N=2, C=2, L=2)
    bn = nn.BatchNorm1d(2, eps=0.0, momentum=0.5)
    y = bn(x).data
    np.testing.assert_allclose(y[:, 0], np.array([[-3, -1], [1, 3]]) / np.sqrt(5))
    np.testing.assert_allclose(y[:, 1], np.array([[-1.5, -1.5], [0.5, 2.5]]) / np.sqrt(2.75))
    # running averages start at mean 0, variance 1; momentum 0.5; unbiased variance 5 * 4/3
    np.testing.assert_allclose(bn.running_mean, [2.0, 0.75])
    np.testing.assert_allclose(bn.running_var, [0.5 + 0.5 * 20 / 3, 0.5 + 0.5 * 11 / 3])


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.BatchNorm1d(3, momentum=0.3), (8, 3)),
    (lambda: nn.BatchNorm1d(3, momentum=0.3), (4, 3, 6)),
    (lambda: nn.BatchNorm2d(3, momentum=0.3), (4, 3, 5, 2)),
], ids=["1d_features", "1d_sequences", "2d_images"])
def test_training_and_evaluation_against_the_definition(make, shape):
    rng = np.random.default_rng(2)
    bn = make()
    bn.weight.data[:] = rng.uniform(0.5, 2.0, 3)
    bn.bias.data[:] = rng.standard_normal(3)
    x1 = rng.normal(3.0, 2.0, size=shape)
    x2 = rng.normal(-1.0, 0.5, size=shape)
    gamma, beta = bn.weight.data.copy(), bn.bias.data.copy()
    expected1, mean1, var1 = batchnorm_by_channel(x1, gamma, beta, bn.eps)
    expected2, mean2, var2 = batchnorm_by_channel(x2, gamma, beta, bn.eps)
    np.testing.assert_allclose(bn(x1).data, expected1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn(x2).data, expected2, rtol=1e-12, atol=1e-12)
    running_mean = 0.7 * (0.7 * 0 + 0.3 * mean1) + 0.3 * mean2
    running_var = 0.7 * (0.7 * 1 + 0.3 * var1) + 0.3 * var2
    np.testing.assert_allclose(bn.running_mean, running_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, running_var, rtol=1e-12)
    bn.eval()
    per_channel = (1, 3) + (1,) * (len(shape) - 2)
    expected = (gamma.reshape(per_channel) * (x1 - running_mean.reshape(per_channel))
                / np.sqrt(running_var.reshape(per_channel) + bn.eps) + beta.reshape(per_channel))
    np.testing.assert_allclose(bn(x1).data, expected, rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean, running_mean)  # evaluation leaves the statistics alone


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.BatchNorm1d(2), (3, 2, 4)),
    (lambda: nn.BatchNorm2d(2), (2, 2, 3, 3)),
], ids=["1d_sequences", "2d_images"])
def test_gradients_through_the_batch_statistics(make, shape):
    """Input, gamma and beta against finite differences; the batch mean and variance depend on x."""
    bn = make()
    rng = np.random.default_rng(4)
    gamma, beta = rng.uniform(0.5, 1.5, 2), rng.standard_normal(2)
    weights = rng.standard_normal(shape)  # a non-uniform upstream gradient

    def f(x, g, b):
        bn.weight, bn.bias = g, b
        return (bn(x) * Tensor(weights)).sum()

    try:
        assert_grad(f, rng.standard_normal(shape), gamma, beta)
    finally:
        bn.weight, bn.bias = nn.Parameter(gamma), nn.Parameter(beta)


def test_the_input_gradient_sums_to_zero_per_channel():
    """Shifting a whole channel changes nothing after normalization, so its gradient sums to zero."""
    x = Tensor(np.random.default_rng(5).standard_normal((3, 2, 4, 4)), requires_grad=True)
    (nn.BatchNorm2d(2)(x) * Tensor(np.random.default_rng(6).standard_normal((3, 2, 4, 4)))).sum().backward()
    np.testing.assert_allclose(x.grad.sum(axis=(0, 2, 3)), 0, atol=1e-12)


def test_shapes_are_checked_and_named():
    with pytest.raises(nn.ShapeError, match=r"BatchNorm2d.*\(N, 3, H, W\), got shape \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(np.ones((2, 3, 4)))
    with pytest.raises(nn.ShapeError, match=r"BatchNorm1d.*\(N, 3\) or \(N, 3, L\), got shape \(2, 4, 5\)"):
        nn.BatchNorm1d(3)(np.ones((2, 4, 5)))
    with pytest.raises(nn.ShapeError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(np.ones((1, 3)))
    nn.BatchNorm1d(3)(np.random.default_rng(0).standard_normal((1, 3, 2)))  # one sequence of two steps is enough


def test_float32_in_float32_out():
    nnkit.set_default_dtype("float32")
    bn = nn.BatchNorm2d(2)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32), requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == bn.weight.grad.dtype == bn.running_var.dtype == np.float32


def test_state_dict_round_trip_keeps_running_statistics():
    bn = nn.BatchNorm2d(2)
    bn(np.random.default_rng(1).normal(2.0, 3.0, size=(4, 2, 3, 3)))
    other = nn.BatchNorm2d(2)
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(other.running_mean, bn.running_mean)
    np.testing.assert_array_equal(other.running_var, bn.running_var)
