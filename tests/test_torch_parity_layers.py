"""Optional: convolution (per-axis stride and dilation) and pooling (ceil_mode, count_include_pad)
against PyTorch, under both kernel settings.  Runs only where PyTorch is installed; the other
tests hold the same functions to independent loops, so nothing depends on it."""
import numpy as np
import pytest

from nnkit.autodiff import Tensor
from nnkit.nn.conv import conv2d
from nnkit.nn.pooling import avg_pool2d, max_pool2d

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("float64_seeded", "both_kernels")  # see tests/conftest.py


def _grads_agree(ours, theirs):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride", [1, (2, 1), (1, 3)])
@pytest.mark.parametrize("dilation", [1, (2, 1), (1, 2)])
@pytest.mark.parametrize("padding,groups", [(0, 1), ((1, 2), 2)])
def test_conv2d_matches_pytorch(stride, dilation, padding, groups):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 4, 9, 8)), rng.normal(size=(6, 4 // groups, 3, 2)), rng.normal(size=6)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    expected = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    g = rng.normal(size=tuple(expected.shape))
    expected.backward(torch.tensor(g))
    ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = conv2d(*ts, stride=stride, padding=padding, dilation=dilation, groups=groups)
    out.backward(g)
    _grads_agree([out.data] + [t.grad for t in ts], [expected, tx.grad, tw.grad, tb.grad])


@pytest.mark.parametrize("H", [5, 6, 7])
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 3, 1), (2, 1, 1), (3, 2, 0)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pooling_matches_pytorch(H, k, s, p, ceil_mode):
    rng = np.random.default_rng(H * 100 + k * 10 + s)
    x = rng.normal(size=(2, 3, H, H + 1))
    for mode, include_pad in [("max", None), ("avg", True), ("avg", False)]:
        tx = torch.tensor(x, requires_grad=True)
        if mode == "max":
            expected = torch.nn.functional.max_pool2d(tx, k, s, p, ceil_mode=ceil_mode)
        else:
            expected = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil_mode=ceil_mode,
                                                      count_include_pad=include_pad)
        g = rng.normal(size=tuple(expected.shape))
        expected.backward(torch.tensor(g))
        t = Tensor(x, requires_grad=True)
        out = max_pool2d(t, k, s, p, ceil_mode) if mode == "max" else avg_pool2d(t, k, s, p, ceil_mode, include_pad)
        out.backward(g)
        _grads_agree([out.data, t.grad], [expected, tx.grad])
