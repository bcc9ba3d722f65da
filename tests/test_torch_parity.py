"""ELU, GELU, batch normalization, AdamW and the KL divergence against PyTorch, where it is installed.

An optional check: the other tests pin the same numbers without PyTorch.
"""
import numpy as np
import pytest

from nnkit import losses, nn, optim
from nnkit.autodiff import Tensor

torch = pytest.importorskip("torch")


def _both(x):
    """The same float64 values as an nnkit Tensor and a torch tensor, both requiring gradients."""
    return Tensor(x.copy(), requires_grad=True), torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _assert_same_forward_backward(ours, theirs, x, g, rtol):
    """ours(x) and theirs(x) agree, and so do their input gradients for the upstream gradient g."""
    a, b = _both(x)
    ya, yb = ours(a), theirs(b)
    ya.backward(g)
    yb.backward(torch.tensor(g))
    np.testing.assert_allclose(ya.data, yb.detach().numpy(), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("ours,theirs", [
    (lambda t: nn.elu(t, alpha=0.7), lambda t: torch.nn.functional.elu(t, alpha=0.7)),
    (nn.gelu, torch.nn.functional.gelu),
    (lambda t: nn.gelu(t, approximate="tanh"), lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
], ids=["elu", "gelu", "gelu_tanh"])
def test_activations(ours, theirs):
    rng = np.random.default_rng(0)
    _assert_same_forward_backward(ours, theirs, rng.standard_normal((4, 6)) * 3, rng.standard_normal((4, 6)), 1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (3, 3, 4, 5)])
def test_batchnorm(shape, float64_seeded):
    rng = np.random.default_rng(1)
    ours = nn.BatchNorm1d(3, momentum=0.2) if len(shape) < 4 else nn.BatchNorm2d(3, momentum=0.2)
    theirs = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(3, momentum=0.2).double()
    for _ in range(2):  # two training steps, so the running averages have moved
        _assert_same_forward_backward(ours, theirs, rng.normal(2.0, 3.0, size=shape), rng.standard_normal(shape), 1e-9)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_adamw():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal(5)
    ours = nn.Parameter(w0.copy())
    theirs = torch.tensor(w0, requires_grad=True)
    opt_a = optim.AdamW([ours], lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)
    opt_b = torch.optim.AdamW([theirs], lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)
    for _ in range(6):
        g = rng.standard_normal(5)
        ours.grad = g.copy()
        theirs.grad = torch.tensor(g)
        opt_a.step()
        opt_b.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)


def test_kl_divergence_is_torch_batchmean_with_both_gradients():
    rng = np.random.default_rng(3)
    log_q = np.log(rng.dirichlet(np.ones(4), size=3))
    p = rng.dirichlet(np.ones(4), size=3)
    (lq_a, lq_b), (p_a, p_b) = _both(log_q), _both(p)
    ours = losses.kl_divergence(lq_a, p_a)
    theirs = torch.nn.functional.kl_div(lq_b, p_b, reduction="batchmean")
    ours.backward()
    theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    np.testing.assert_allclose(lq_a.grad, lq_b.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(p_a.grad, p_b.grad.numpy(), rtol=1e-12)
