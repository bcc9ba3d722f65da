"""Residual blocks: y = x + F(x), Jacobian I + dF/dx, identity at zero init, deep gradient flow."""
import numpy as np
import pytest

import nnkit
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.nn import Linear, ResidualBlock, Sequential, ShapeError, Tanh


pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


def test_block_is_x_plus_f_and_its_gradient_checks():
    rng = np.random.default_rng(0)
    block = ResidualBlock(4, hidden=6, activation=Tanh())
    x = rng.normal(size=(3, 4))
    l1, l2 = block.residual[0], block.residual[2]
    f = np.tanh(x @ l1.weight.data.T + l1.bias.data) @ l2.weight.data.T + l2.bias.data
    np.testing.assert_allclose(block(x).data, x + f, atol=1e-12)
    assert check_grad(block, x).ok


def test_jacobian_is_identity_plus_df_dx():
    rng = np.random.default_rng(1)
    block = ResidualBlock(3, activation=Tanh())
    x = rng.normal(size=(1, 3))
    J = np.zeros((3, 3))
    for i in range(3):
        xt = Tensor(x, requires_grad=True)
        block(xt)[0, i].backward()
        J[i] = xt.grad[0]
    JF = np.zeros((3, 3))
    for i in range(3):
        xt = Tensor(x, requires_grad=True)
        block.residual(xt)[0, i].backward()
        JF[i] = xt.grad[0]
    np.testing.assert_allclose(J, np.eye(3) + JF, atol=1e-12)


def test_zero_init_is_identity():
    block = ResidualBlock(5, zero_init=True)
    x = np.random.default_rng(2).normal(size=(4, 5))
    np.testing.assert_allclose(block(x).data, x)


def test_deep_residual_stack_keeps_gradient_but_plain_stack_does_not():
    """Lecture 14, §4: gradients through 50 blocks stay O(1); through 50 plain tanh layers they vanish."""
    nnkit.seed(3)
    x = Tensor(np.random.default_rng(3).normal(size=(8, 16)), requires_grad=True)
    res = Sequential(*[ResidualBlock(16, activation=Tanh(), residual=Sequential(
        Linear(16, 16, init_fn="xavier_normal"), Tanh(), Linear(16, 16, init_fn=lambda s, dtype=None: 0.1 * nnkit.nn.init.xavier_normal(s, dtype=dtype))))
        for _ in range(50)])
    plain = Sequential(*[m for _ in range(50) for m in (Linear(16, 16, init_fn=lambda s, dtype=None: 0.5 * nnkit.nn.init.xavier_normal(s, dtype=dtype)), Tanh())])
    res(x).sum().backward()
    g_res = np.linalg.norm(x.grad)
    x.grad = None
    plain(x).sum().backward()
    g_plain = np.linalg.norm(x.grad)
    assert 0.5 < g_res / np.sqrt(x.size) < 20 and g_plain < 1e-6 * g_res


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"ResidualBlock.*\(\.\.\., 4\).*\(2, 3\)"):
        ResidualBlock(4)(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="must keep the shape"):
        ResidualBlock(4, residual=Linear(4, 3))(np.zeros((2, 4)))
