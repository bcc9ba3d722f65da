"""Losses: values against independent NumPy/SciPy formulas, gradients against finite differences."""
import numpy as np
import pytest
from scipy.special import expit, log_softmax as scipy_log_softmax, softmax as scipy_softmax

from nnkit import losses
from nnkit.autodiff import Tensor
from nnkit.gradcheck import assert_grad

rng = np.random.default_rng(0)
N, C = 6, 4
pred = rng.standard_normal(N)
target = rng.standard_normal(N)
logits = rng.standard_normal((N, C)) * 3
labels = rng.integers(0, C, size=N)
bits = rng.integers(0, 2, size=N).astype(float)
signs = bits * 2 - 1


def test_regression_losses_values():
    d = pred - target
    assert losses.mse(pred, target).item() == pytest.approx(np.mean(d ** 2))
    assert losses.l1(pred, target).item() == pytest.approx(np.mean(np.abs(d)))
    a = np.abs(d)
    huber = np.where(a <= 0.5, 0.5 * d ** 2, 0.5 * (a - 0.25))
    assert losses.huber(pred, target, delta=0.5).item() == pytest.approx(huber.mean())
    assert losses.mse(pred, target, reduction="sum").item() == pytest.approx(np.sum(d ** 2))
    np.testing.assert_allclose(losses.mse(pred, target, reduction="none").data, d ** 2)


def test_classification_losses_values():
    p = expit(pred)
    bce = -(bits * np.log(p) + (1 - bits) * np.log(1 - p))
    assert losses.binary_cross_entropy_with_logits(pred, bits).item() == pytest.approx(bce.mean())
    assert losses.binary_cross_entropy(p, bits).item() == pytest.approx(bce.mean())
    ce = -scipy_log_softmax(logits, axis=1)[np.arange(N), labels]
    assert losses.cross_entropy(logits, labels).item() == pytest.approx(ce.mean())
    assert losses.nll(scipy_log_softmax(logits, axis=1), labels).item() == pytest.approx(ce.mean())
    assert losses.hinge(pred, signs).item() == pytest.approx(np.maximum(0, 1 - signs * pred).mean())
    svm = 0.0
    for i in range(N):  # the multiclass SVM loss written as an explicit double loop
        for j in range(C):
            if j != labels[i]:
                svm += max(0.0, logits[i, j] - logits[i, labels[i]] + 1.0)
    assert losses.multiclass_hinge(logits, labels).item() == pytest.approx(svm / N)
    p_dist = scipy_softmax(rng.standard_normal((N, C)), axis=1)
    log_q = scipy_log_softmax(logits, axis=1)
    kl = np.sum(p_dist * (np.log(p_dist) - log_q), axis=1).mean()
    assert losses.kl_divergence(log_q, p_dist).item() == pytest.approx(kl)


def test_kl_of_identical_distributions_is_zero_and_handles_zeros():
    p = np.array([[0.5, 0.5, 0.0]])
    assert losses.kl_divergence(np.log(np.array([[0.5, 0.5, 1e-300]])), p).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name,fn,args", [
    ("mse", losses.mse, (pred, target)),
    ("l1", losses.l1, (pred, target)),
    ("huber", lambda p, t: losses.huber(p, t, delta=0.7), (pred, target)),
    ("bce_logits", lambda z: losses.binary_cross_entropy_with_logits(z, bits), (pred,)),
    ("bce", lambda p: losses.binary_cross_entropy(p, bits), (expit(pred),)),
    ("cross_entropy", lambda z: losses.cross_entropy(z, labels), (logits,)),
    ("hinge", lambda s: losses.hinge(s, signs), (pred * 3,)),
    ("multiclass_hinge", lambda s: losses.multiclass_hinge(s, labels), (logits,)),
    ("kl", lambda lq: losses.kl_divergence(lq, scipy_softmax(logits, axis=1)), (scipy_log_softmax(logits.T, axis=0).T,)),
])
def test_loss_gradients(name, fn, args):
    assert_grad(fn, *args)


def test_logit_losses_are_stable_for_huge_scores():
    z = np.array([1e4, -1e4, 800.0])
    t = np.array([0.0, 1.0, 1.0])
    value = losses.binary_cross_entropy_with_logits(z, t).item()
    assert value == pytest.approx((1e4 + 1e4 + 0.0) / 3)
    big = np.array([[1e4, 0.0, -1e4]])
    zt = Tensor(big, requires_grad=True)
    loss = losses.cross_entropy(zt, [1])
    loss.backward()
    assert loss.item() == pytest.approx(1e4)
    assert np.all(np.isfinite(zt.grad))
    np.testing.assert_allclose(zt.grad, [[1.0, -1.0, 0.0]], atol=1e-12)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match=r"predictions have shape \(6,\) but targets have shape \(5,\)"):
        losses.mse(pred, target[:5])
    with pytest.raises(ValueError, match=r"labels must lie in 0..3"):
        losses.cross_entropy(logits, np.full(N, 7))
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(6,\)"):
        losses.cross_entropy(logits, labels[:3])
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(pred, target, reduction="avg")


def test_kl_gradient_with_respect_to_both_distributions():
    """d/dp_i = log p_i + 1 - log q_i and d/d(log q_i) = -p_i, each divided by N for "mean"."""
    rng = np.random.default_rng(5)
    p = scipy_softmax(rng.standard_normal((3, 4)), axis=1)
    log_q = scipy_log_softmax(rng.standard_normal((3, 4)), axis=1)
    assert_grad(lambda lq, pp: losses.kl_divergence(lq, pp), log_q, p)
    assert_grad(lambda lq, pp: losses.kl_divergence(lq, pp, reduction="sum"), log_q, p)
    pt, lqt = Tensor(p, requires_grad=True), Tensor(log_q, requires_grad=True)
    losses.kl_divergence(lqt, pt).backward()
    np.testing.assert_allclose(pt.grad, (np.log(p) + 1 - log_q) / 3, rtol=1e-12)
    np.testing.assert_allclose(lqt.grad, -p / 3, rtol=1e-12)


def test_kl_gradient_where_the_target_is_zero():
    """An entry with p_i = 0 adds nothing to the value; its gradient is -log q_i / N."""
    p = np.array([[0.25, 0.75, 0.0], [0.5, 0.25, 0.25]])
    log_q = np.log(np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]))
    pt = Tensor(p, requires_grad=True)
    loss = losses.kl_divergence(log_q, pt)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - log_q), 0.0)
    assert loss.item() == pytest.approx(terms.sum() / 2, rel=1e-12)
    loss.backward()
    assert np.all(np.isfinite(pt.grad))
    assert pt.grad[0, 2] == pytest.approx(-log_q[0, 2] / 2, rel=1e-12)
    assert pt.grad[1, 0] == pytest.approx((np.log(0.5) + 1 - log_q[1, 0]) / 2, rel=1e-12)
