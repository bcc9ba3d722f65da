"""Autoencoders: tied gradients, contractive penalty, denoising, stacking (neural-nets notes)."""
import numpy as np
import pytest

import nnkit
from nnkit.data import load_digits
from nnkit.models.autoencoders import (
    Autoencoder, StackedAutoencoder, contractive_penalty, encoder_jacobian, gaussian_noise,
    greedy_pretrain, masking_noise, psnr, train_autoencoder,
)


@pytest.fixture
def f64():
    nnkit.set_default_dtype("float64")
    nnkit.seed(0)
    yield
    nnkit.set_default_dtype("float32")


def numeric_grad(f, W, eps=1e-6):
    g = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        old = W[idx]
        W[idx] = old + eps; fp = f()
        W[idx] = old - eps; fm = f()
        W[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_tied_weight_gradient_is_encoder_plus_decoder_transpose(f64, output):
    rng = np.random.default_rng(0)
    ae = Autoencoder(5, 3, tied=True, output=output)
    x = rng.random((4, 5))
    loss = ae.reconstruction_loss(ae.encode(x), x)
    loss.backward()
    W = ae.encoder.weight.data
    fd = numeric_grad(lambda: ae.reconstruction_loss(ae.encode(x), x).item(), W)
    assert np.allclose(ae.encoder.weight.grad, fd, atol=1e-7)
    # split the two paths: encoder-only gradient (decoder weight frozen) + decoder-only gradient
    W0 = W.copy()
    enc = numeric_grad(lambda: _loss_split(ae, x, W, W0, "enc"), W)
    dec = numeric_grad(lambda: _loss_split(ae, x, W, W0, "dec"), W)
    assert np.allclose(enc + dec, fd, atol=1e-7)
    assert np.abs(enc).max() > 1e-4 and np.abs(dec).max() > 1e-4


def _loss_split(ae, x, W, W0, which):
    """Loss with the shared matrix varied only in the encoder (or only in the decoder)."""
    h = 1 / (1 + np.exp(-(x @ (W if which == "enc" else W0).T + ae.encoder.bias.data)))
    a = h @ (W0 if which == "enc" else W) + ae.decoder_bias.data
    if ae.output == "sigmoid":
        return float((np.logaddexp(0, a) - x * a).sum(1).mean())
    return float((0.5 * (a - x) ** 2).sum(1).mean())


def test_bernoulli_loss_matches_formula(f64):
    rng = np.random.default_rng(1)
    ae = Autoencoder(6, 4)
    x = (rng.random((3, 6)) > 0.5).astype(float)
    xh = ae(x).data
    ref = -(x * np.log(xh) + (1 - x) * np.log(1 - xh)).sum(1).mean()
    assert np.isclose(ae.reconstruction_loss(ae.encode(x), x).item(), ref)


def test_contractive_penalty_equals_frobenius_norm_of_jacobian(f64):
    rng = np.random.default_rng(2)
    ae = Autoencoder(7, 4)
    x = rng.random((1, 7))
    h = lambda v: ae.encode(v[None]).data[0]
    J = np.zeros((4, 7))
    for j in range(7):
        e = np.zeros(7); e[j] = 1e-6
        J[:, j] = (h(x[0] + e) - h(x[0] - e)) / 2e-6
    assert np.allclose(J, encoder_jacobian(ae, x[0]), atol=1e-8)
    assert np.isclose(contractive_penalty(ae, x).item(), np.linalg.norm(J, "fro") ** 2, rtol=1e-6)
    pen = contractive_penalty(ae, x)
    pen.backward()
    fd = numeric_grad(lambda: contractive_penalty(ae, x).item(), ae.encoder.weight.data)
    assert np.allclose(ae.encoder.weight.grad, fd, atol=1e-8)


def test_corruptions():
    rng = np.random.default_rng(3)
    X = np.ones((200, 50))
    assert abs((masking_noise(X, 0.3, rng) == 0).mean() - 0.3) < 0.02
    noisy = gaussian_noise(np.zeros((200, 50)), 0.5, rng)
    assert abs(noisy.std() - 0.5) < 0.02
    assert np.isclose(psnr(np.zeros(4), np.full(4, 0.1)), 20.0)


def test_denoising_autoencoder_raises_psnr():
    nnkit.seed(0)
    X, _ = load_digits()
    train, test = X[:1400], X[1400:]
    noisy = np.clip(gaussian_noise(test, 0.3, np.random.default_rng(0)), 0, 1)
    ae = Autoencoder(64, 48)
    train_autoencoder(ae, train, epochs=25, lr=1e-2, noise=("gaussian", 0.3), seed=0)
    assert psnr(test, ae(noisy).data) > psnr(test, noisy) + 3.0


def test_undercomplete_autoencoder_is_bounded_by_pca():
    """A linear decoder puts every reconstruction in a k-dimensional affine subspace, so the
    error can never beat PCA's with k components; training gets well below the mean predictor."""
    nnkit.seed(1)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 8)) + 0.1 * rng.normal(size=(500, 8))
    X -= X.mean(0)
    k = 2
    S = np.linalg.svd(X, compute_uv=False)
    pca_err = 0.5 * (S[k:] ** 2).sum() / len(X)
    mean_err = 0.5 * (S ** 2).sum() / len(X)
    ae = Autoencoder(8, k, output="linear")
    train_autoencoder(ae, X, epochs=150, lr=1e-2, seed=0)
    err = ae.reconstruction_loss(ae.encode(X), X).item()
    assert pca_err <= err < 0.5 * mean_err


def test_greedy_pretraining_and_stack():
    nnkit.seed(2)
    X, _ = load_digits()
    aes = greedy_pretrain(X[:600], [64, 32, 16], epochs=10, lr=1e-2, seed=0)
    stack = StackedAutoencoder(aes)
    before = stack.loss(X[:600]).item()
    hist = stack.fit(X[:600], epochs=10, lr=3e-3, seed=0)
    assert hist[-1] < before
    assert stack(X[:5]).shape == (5, 64) and stack.encode(X[:5]).shape == (5, 16)
    with pytest.raises(nnkit.nn.ShapeError, match="StackedAutoencoder"):
        StackedAutoencoder([aes[1], aes[0]])
    with pytest.raises(nnkit.nn.ShapeError, match="Autoencoder"):
        aes[0](np.zeros((2, 10)))
