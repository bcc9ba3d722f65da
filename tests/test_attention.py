"""Attention layers and the encoder-decoder: weights, gradients, shapes, and learning to reverse."""
import numpy as np
import pytest

import nnkit
from nnkit import optim
from nnkit.autodiff import Tensor
from nnkit.gradcheck import check_grad
from nnkit.models import Seq2Seq
from nnkit.nn import AdditiveAttention, DotProductAttention, ShapeError


pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


def test_dot_product_attention_matches_numpy():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 3))
    ctx, w = DotProductAttention()(q, k, v)
    e = np.einsum("bd,bsd->bs", q, k) / 2.0
    a = np.exp(e - e.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    np.testing.assert_allclose(w.data, a, atol=1e-12)
    np.testing.assert_allclose(ctx.data, np.einsum("bs,bsd->bd", a, v), atol=1e-12)


def test_weights_are_a_convex_combination_and_mask_works():
    rng = np.random.default_rng(1)
    att = AdditiveAttention(3, 4, 6)
    q, k = rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 5, 4))
    mask = np.ones((2, 5), bool)
    mask[1, 3:] = False
    ctx, w = att(q, k, mask=mask)
    assert ctx.shape == (2, 7, 4) and w.shape == (2, 7, 5)
    assert (w.data >= 0).all()
    np.testing.assert_allclose(w.data.sum(-1), 1.0)
    assert np.abs(w.data[1, :, 3:]).max() < 1e-12
    # the context lies between the smallest and largest value of each feature
    assert (ctx.data[0] <= k[0].max(0) + 1e-12).all() and (ctx.data[0] >= k[0].min(0) - 1e-12).all()


def test_additive_attention_gradients():
    rng = np.random.default_rng(2)
    att = AdditiveAttention(3, 4, 5)
    q, k = rng.normal(size=(2, 3)), rng.normal(size=(2, 6, 4))
    rep = check_grad(lambda a, b: att(a, b)[0], q, k)
    assert rep.ok, str(rep)
    k_t = Tensor(k)
    ctx, _ = att(Tensor(q), k_t)
    ctx.sum().backward()
    for p in att.parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0


def test_attention_shape_errors():
    with pytest.raises(ShapeError, match=r"DotProductAttention.*same width.*\(2, 1, 3\).*\(2, 5, 4\)"):
        DotProductAttention()(np.zeros((2, 3)), np.zeros((2, 5, 4)))
    with pytest.raises(ShapeError, match=r"AdditiveAttention.*keys must have shape"):
        AdditiveAttention(3, 4, 5)(np.zeros((2, 3)), np.zeros((2, 4)))


def test_seq2seq_gradient_check():
    model = Seq2Seq(5, 5, embed_dim=3, hidden_size=4)
    rng = np.random.default_rng(3)
    src, tgt = rng.integers(1, 5, size=(2, 4)), rng.integers(1, 5, size=(2, 3))
    w = model.output.weight

    def f(weight):
        saved = w.data
        w.data = weight.data
        try:
            return model.loss(src, tgt) + 0 * weight.sum()
        finally:
            w.data = saved
    loss = model.loss(src, tgt)
    loss.backward()
    eps, idx = 1e-6, (2, 1)
    w.data[idx] += eps
    up = model.loss(src, tgt).item()
    w.data[idx] -= 2 * eps
    down = model.loss(src, tgt).item()
    w.data[idx] += eps
    assert w.grad[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)
    enc = model.encoder.weight_hh
    enc.data[0, 0] += eps
    up = model.loss(src, tgt).item()
    enc.data[0, 0] -= 2 * eps
    down = model.loss(src, tgt).item()
    enc.data[0, 0] += eps
    assert enc.grad[0, 0] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_seq2seq_with_attention_learns_to_reverse():
    from nnkit.data.sequences import reverse_task
    nnkit.set_default_dtype("float32")
    nnkit.seed(0)
    rng = np.random.default_rng(0)
    model = Seq2Seq(9, 9, embed_dim=16, hidden_size=48)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(200):
        src, tgt = reverse_task(64, 7, 8, rng)
        loss = model.loss(src, tgt)
        model.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    src, tgt = reverse_task(300, 7, 8, np.random.default_rng(1))
    pred, attn = model.greedy(src, 7)
    assert (pred == tgt).all(axis=1).mean() >= 0.95
    np.testing.assert_allclose(attn.sum(-1), 1.0, rtol=1e-5)
    # output step t looks mostly at source position S - 1 - t, or its neighbour (the anti-diagonal)
    assert (np.abs(attn.mean(0).argmax(-1) - np.arange(6, -1, -1)) <= 1).all()
