"""Generative adversarial networks, conditional GANs, mode coverage and a Parzen-window sampler.

Neural-nets notes, "Generative Adversarial Networks" and "Training generative adversarial
networks" (notes on Goodfellow et al., 2014, and Gauthier, 2015).

A generator G(z) maps noise z ~ p_z to data space; a discriminator D(x) in (0, 1) says how
likely x is real.  They play the minimax game

    min_G max_D  V(G, D) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

trained by alternating SGD: k discriminator steps on

    J_D = -1/(2m) (sum_i log D(x_i) + sum_i log(1 - D(G(z_i))))

then one generator step.  The minimax generator cost log(1 - D(G(z))) saturates when D
confidently rejects fakes, so G instead minimises the non-saturating cost

    J_G = -1/m sum_i log D(G(z_i)).

A conditional GAN feeds a condition y (here a one-hot class) to both networks: G(z, y), D(x, y).
D works on logits a: D = sigmoid(a), log D = -softplus(-a), log(1 - D) = -softplus(a).
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.kernels import few_blas_threads  # small matrices: one BLAS thread is faster
from nnkit.nn.activations import LeakyReLU, ReLU, Sigmoid
from nnkit.nn.linear import Linear
from nnkit.nn.module import Module, Sequential, ShapeError


# ------------------------------------------------------------------------- data
def ring_of_gaussians(n, modes=8, radius=2.0, std=0.02, seed=None):
    """n points from a mixture of ``modes`` Gaussians (std ``std``) evenly spaced on a circle.

    Returns (X (n, 2), labels (n,) in 0..modes-1).  The centres are (r cos 2 pi k/M, r sin 2 pi k/M).
    """
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    labels = rng.integers(modes, size=n)
    return ring_centers(modes, radius)[labels] + std * rng.standard_normal((n, 2)), labels


def ring_centers(modes=8, radius=2.0):
    """The (modes, 2) centres of :func:`ring_of_gaussians`."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def mode_coverage(samples, centers, std, n_std=3.0, min_count=None):
    """How many modes the samples cover, and the fraction of "good" samples.

    A sample belongs to its nearest centre when it lies within ``n_std`` * std of it (a good
    sample); a mode counts as covered when it gets at least ``min_count`` good samples (by
    default 1/4 of its fair share, len(samples) / (4 * modes)).
    Returns (modes covered, fraction of good samples, counts per mode).
    """
    samples, centers = np.asarray(samples, float), np.asarray(centers, float)
    d = np.linalg.norm(samples[:, None, :] - centers[None], axis=2)
    nearest, dist = d.argmin(axis=1), d.min(axis=1)
    good = dist < n_std * std
    counts = np.bincount(nearest[good], minlength=len(centers))
    if min_count is None:
        min_count = len(samples) / (4 * len(centers))
    return int((counts >= min_count).sum()), float(good.mean()), counts


def one_hot(labels, n_classes, dtype="float32"):
    """(N,) integer labels -> (N, n_classes) one-hot rows."""
    labels = np.asarray(labels).astype(int)
    out = np.zeros((len(labels), n_classes), dtype=dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


# ------------------------------------------------------------------------ losses
def discriminator_loss(real_logits, fake_logits):
    """J_D = -1/2 (mean log D(x) + mean log(1 - D(G(z)))), from D's logits."""
    return 0.5 * (ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits)))


def generator_loss(fake_logits, non_saturating=True):
    """Non-saturating J_G = -mean log D(G(z)); or the minimax mean log(1 - D(G(z)))."""
    if non_saturating:
        return ops.mean(ops.softplus(-fake_logits))
    return -ops.mean(ops.softplus(fake_logits))


def value_function(real_logits, fake_logits):
    """V(G, D) = mean log D(x) + mean log(1 - D(G(z))) (-ln 4 at the optimum D = 1/2)."""
    return -(ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits)))


# ------------------------------------------------------------------------ models
def mlp(sizes, activation="relu", out=None, dtype=None):
    """A Sequential MLP with the given layer sizes (He init before ReLUs)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, init_fn="he" if i < len(sizes) - 2 else "xavier", dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ReLU() if activation == "relu" else LeakyReLU())
    if out == "sigmoid":
        layers.append(Sigmoid())
    return Sequential(*layers)


class GAN(Module):
    """A generator and a discriminator; ``n_classes > 0`` makes it a conditional GAN.

    G: (z (N, noise_dim) [, y one-hot (N, C)]) -> x (N, data_dim);  D: (x [, y]) -> logits (N, 1).
    ``out="sigmoid"`` squashes G's output into (0, 1) (images); the default is linear.
    """

    def __init__(self, data_dim, noise_dim=2, hidden=64, layers=2, n_classes=0, out=None,
                 d_hidden=None, dtype=None):
        super().__init__()
        self.data_dim, self.noise_dim, self.n_classes = int(data_dim), int(noise_dim), int(n_classes)
        d_hidden = d_hidden or hidden
        self.G = mlp([noise_dim + n_classes] + [hidden] * layers + [data_dim], out=out, dtype=dtype)
        self.D = mlp([data_dim + n_classes] + [d_hidden] * layers + [1], activation="leaky", dtype=dtype)

    def _dtype(self):
        return self.G[0].weight.dtype

    def _cond(self, a, y, who):
        a = a if isinstance(a, Tensor) else Tensor(np.asarray(a, dtype=self._dtype()))
        if self.n_classes == 0:
            if y is not None:
                raise ValueError(f"GAN.{who}: this GAN is unconditional; do not pass y")
            return a
        if y is None:
            raise ValueError(f"GAN.{who}: this conditional GAN needs the condition y (labels or one-hot)")
        y = np.asarray(y)
        if y.ndim == 1:
            y = one_hot(y, self.n_classes, self._dtype())
        if y.shape != (a.shape[0], self.n_classes):
            raise ShapeError(f"GAN.{who}: expected y of shape ({a.shape[0]}, {self.n_classes}), got {y.shape}")
        return ops.concatenate([a, Tensor(y.astype(self._dtype()))], axis=1)

    def generate(self, z, y=None):
        """x = G(z [, y])."""
        return self.G(self._cond(z, y, "generate"))

    def discriminate(self, x, y=None):
        """D's logits a(x [, y]); D(x) = sigmoid(a)."""
        return self.D(self._cond(x, y, "discriminate"))

    def noise(self, n, rng=None):
        rng = backend.rng() if rng is None else rng
        return rng.standard_normal((n, self.noise_dim)).astype(self._dtype())

    def sample(self, n, y=None, rng=None):
        """n generated points as an array (n, data_dim)."""
        return self.generate(self.noise(n, rng), y).data


def train_gan(gan: GAN, data, labels=None, steps=2000, batch_size=128, k=1, lr=1e-3, betas=(0.5, 0.999),
              non_saturating=True, snapshot_every=0, snapshot_n=512, seed=None):
    """Alternate k discriminator steps and one generator step (Adam); returns a history dict.

    history: 'd_loss' and 'g_loss' per generator step, 'd_real' and 'd_fake' (mean D on the
    batch), 'd_steps'/'g_steps' counts, and 'snapshots' [(step, samples)] every
    ``snapshot_every`` steps (fixed noise, so the frames are comparable).
    """
    from nnkit.optim import Adam  # noqa: PLC0415

    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    data = np.asarray(data, dtype=gan._dtype())
    cond = gan.n_classes > 0
    if cond and labels is None:
        raise ValueError("train_gan: a conditional GAN needs the training labels")
    opt_d = Adam(gan.D.parameters(), lr=lr, betas=betas)
    opt_g = Adam(gan.G.parameters(), lr=lr, betas=betas)
    fixed_z = gan.noise(snapshot_n, np.random.default_rng(12345))
    fixed_y = np.arange(snapshot_n) % gan.n_classes if cond else None
    hist = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "d_steps": 0, "g_steps": 0, "snapshots": []}
    with few_blas_threads():
        _gan_loop(gan, data, labels, cond, steps, batch_size, k, non_saturating, snapshot_every,
                  fixed_z, fixed_y, opt_d, opt_g, rng, hist)
    return hist


def _gan_loop(gan, data, labels, cond, steps, batch_size, k, non_saturating, snapshot_every,
              fixed_z, fixed_y, opt_d, opt_g, rng, hist):
    for step in range(steps):
        for _ in range(k):
            idx = rng.integers(len(data), size=batch_size)
            y = labels[idx] if cond else None
            fake = gan.generate(gan.noise(batch_size, rng), y).detach()
            real_logits, fake_logits = gan.discriminate(data[idx], y), gan.discriminate(fake, y)
            d_loss = discriminator_loss(real_logits, fake_logits)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            hist["d_steps"] += 1
        y = labels[rng.integers(len(data), size=batch_size)] if cond else None
        fake_logits = gan.discriminate(gan.generate(gan.noise(batch_size, rng), y), y)
        g_loss = generator_loss(fake_logits, non_saturating)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        gan.D.zero_grad()  # D's gradients from the G step are not used
        hist["g_steps"] += 1
        hist["d_loss"].append(d_loss.item())
        hist["g_loss"].append(g_loss.item())
        hist["d_real"].append(float(ops.sigmoid(real_logits).data.mean()))
        hist["d_fake"].append(float(ops.sigmoid(fake_logits).data.mean()))
        if snapshot_every and (step + 1) % snapshot_every == 0:
            hist["snapshots"].append((step + 1, gan.generate(fixed_z, fixed_y).data.copy()))


# --------------------------------------------------------- Parzen-window sampler
class ParzenWindow:
    """A Gaussian kernel density estimate p(y) = 1/n sum_i N(y; y_i, sigma^2 I).

    Used by Gauthier (2015) to draw new conditions for a cGAN instead of reusing the
    training ones.  Sampling picks a training point and adds N(0, sigma^2) noise.
    """

    def __init__(self, points, sigma):
        self.points = np.atleast_2d(np.asarray(points, float))
        if self.points.shape[0] == 1 and np.ndim(points) == 1:
            self.points = self.points.T
        if sigma <= 0:
            raise ValueError(f"ParzenWindow: sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def log_prob(self, y):
        y = np.asarray(y, float)
        y = y[:, None] if y.ndim == 1 else y
        d = self.points.shape[1]
        sq = ((y[:, None, :] - self.points[None]) ** 2).sum(axis=2) / self.sigma ** 2
        m = (-0.5 * sq).max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(-0.5 * sq - m).sum(axis=1))
        return lse - math.log(len(self.points)) - d * math.log(self.sigma * math.sqrt(2 * math.pi))

    def sample(self, n, rng=None):
        rng = backend.rng() if rng is None else rng
        return self.points[rng.integers(len(self.points), size=n)] + self.sigma * rng.standard_normal((n, self.points.shape[1]))

    @classmethod
    def fit(cls, train, held_out, sigmas):
        """Pick sigma by held-out log-likelihood; returns (best model, list of mean held-out log-likelihoods)."""
        scores = [float(cls(train, s).log_prob(held_out).mean()) for s in sigmas]
        return cls(train, sigmas[int(np.argmax(scores))]), scores
