"""GANs and conditional GANs (neural-nets notes, "Generative Adversarial Networks")."""
import math

import numpy as np
import pytest

import nnkit
from nnkit.autodiff import Tensor
from nnkit.models.gan import (
    GAN, ParzenWindow, discriminator_loss, generator_loss, mode_coverage, ring_centers,
    ring_of_gaussians, train_gan, value_function,
)


def test_confused_discriminator_values():
    zero = Tensor(np.zeros((7, 1)))  # logits 0: D = 1/2 everywhere
    assert np.isclose(discriminator_loss(zero, zero).item(), math.log(2))
    assert np.isclose(generator_loss(zero).item(), math.log(2))
    assert np.isclose(value_function(zero, zero).item(), -math.log(4))


def test_saturating_and_non_saturating_gradients():
    a = Tensor(np.array([[math.log(0.01 / 0.99)]]), requires_grad=True)  # D(G(z)) = 0.01
    generator_loss(a, non_saturating=False).backward()
    sat = a.grad.item()
    a.grad = None
    generator_loss(a, non_saturating=True).backward()
    assert np.isclose(sat, -0.01) and np.isclose(a.grad.item(), -0.99)


def test_losses_against_formulas():
    rng = np.random.default_rng(0)
    r, f = rng.normal(size=(5, 1)), rng.normal(size=(5, 1))
    s = lambda z: 1 / (1 + np.exp(-z))
    jd = -0.5 * (np.log(s(r)).mean() + np.log(1 - s(f)).mean())
    assert np.isclose(discriminator_loss(Tensor(r), Tensor(f)).item(), jd)
    assert np.isclose(generator_loss(Tensor(f)).item(), -np.log(s(f)).mean())


def test_ring_data_and_coverage_metric():
    X, labels = ring_of_gaussians(800, std=0.1, seed=0)
    covered, good, counts = mode_coverage(X, ring_centers(), 0.1)
    assert covered == 8 and good > 0.98
    one_mode = ring_centers()[[3]] + 0.05 * np.random.default_rng(1).normal(size=(800, 2))
    assert mode_coverage(one_mode, ring_centers(), 0.1)[0] == 1


def test_gan_learns_the_ring():
    nnkit.seed(0)
    X, _ = ring_of_gaussians(4000, std=0.1, seed=0)
    gan = GAN(2, noise_dim=2, hidden=64)
    hist = train_gan(gan, X, steps=1500, batch_size=128, lr=2e-3, seed=0)
    covered, good, _ = mode_coverage(gan.sample(2000, rng=np.random.default_rng(0)), ring_centers(), 0.1)
    assert covered >= 7 and good > 0.6
    assert hist["g_steps"] == 1500 and hist["d_steps"] == 1500


def test_k_discriminator_steps_and_conditional_gan():
    nnkit.seed(1)
    X, labels = ring_of_gaussians(2000, std=0.1, seed=1)
    cgan = GAN(2, noise_dim=2, hidden=32, n_classes=8)
    hist = train_gan(cgan, X, labels, steps=400, batch_size=64, k=2, lr=2e-3, seed=1)
    assert hist["d_steps"] == 800 and hist["g_steps"] == 400
    # each condition should land near its own centre
    s = cgan.sample(400, y=np.full(400, 5), rng=np.random.default_rng(0))
    d = np.linalg.norm(s[:, None] - ring_centers()[None], axis=2)
    assert (d.argmin(1) == 5).mean() > 0.8
    with pytest.raises(ValueError, match="needs the condition"):
        cgan.sample(3)
    with pytest.raises(ValueError, match="needs the training labels"):
        train_gan(cgan, X, steps=1)


def test_parzen_window():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=200)
    kde = ParzenWindow(pts, 0.3)
    grid = np.linspace(-8, 8, 4001)
    assert np.isclose(np.trapezoid(np.exp(kde.log_prob(grid)), grid), 1.0, atol=1e-6)
    s = kde.sample(200000, rng)
    assert np.isclose(s.var(), pts.var() + 0.09, rtol=0.03)
    sigmas = [0.01, 0.3, 5.0]
    best, scores = ParzenWindow.fit(pts[:150], pts[150:], sigmas)
    assert best.sigma == 0.3 and scores[1] > scores[0] and scores[1] > scores[2]
