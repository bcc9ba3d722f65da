"""Restricted Boltzmann machines trained by contrastive divergence, and a deep belief net.

Neural-nets notes, "Restricted Boltzmann machines" and "Deep Belief Nets", which only
motivate the models; the definitions below follow Hinton (2002) for CD-k, Tieleman (2008)
for persistent CD and Hinton, Osindero & Teh (2006) for the DBN.

A binary RBM with visible v (V,) and hidden h (H,) has the energy

    E(v, h) = -b.v - c.h - v^T W h,          p(v, h) = exp(-E) / Z

Hidden units are independent given v, and visible units given h:

    p(h_j = 1 | v) = sigmoid(c_j + v.W[:, j]),     p(v_i = 1 | h) = sigmoid(b_i + W[i].h)

Summing h out gives the free energy F(v) = -b.v - sum_j softplus(c_j + v.W[:, j]),
with p(v) = exp(-F(v)) / Z.  The log-likelihood gradient is a data term minus a model
term; CD-k estimates the model term with k Gibbs steps started at the data, persistent CD
with chains that carry over from one update to the next.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softplus(z):
    return np.logaddexp(0.0, z)


class RBM:
    """A binary-binary RBM.  W (n_visible, n_hidden), b (n_visible,), c (n_hidden,)."""

    def __init__(self, n_visible: int, n_hidden: int, scale: float = 0.01, seed=None):
        self.rng = backend.rng() if seed is None else np.random.default_rng(seed)
        self.W = scale * self.rng.standard_normal((n_visible, n_hidden))
        self.b = np.zeros(n_visible)
        self.c = np.zeros(n_hidden)
        self.chains = None  # persistent fantasy particles

    @property
    def n_visible(self):
        return self.W.shape[0]

    @property
    def n_hidden(self):
        return self.W.shape[1]

    def _v(self, v):
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if v.shape[1] != self.n_visible:
            raise ValueError(f"RBM expects visible vectors of shape (N, {self.n_visible}), got {v.shape}")
        return v

    # ---------------------------------------------------------- conditionals
    def hidden_probs(self, v):
        """p(h = 1 | v): (N, V) -> (N, H)."""
        return _sigmoid(self._v(v) @ self.W + self.c)

    def visible_probs(self, h):
        """p(v = 1 | h): (N, H) -> (N, V)."""
        return _sigmoid(np.atleast_2d(h) @ self.W.T + self.b)

    def _bernoulli(self, p):
        return (self.rng.random(p.shape) < p).astype(float)

    def gibbs(self, v, k=1):
        """k steps v -> h -> v; returns (v_k sampled, p(v | h) of the last step, p(h | v_k))."""
        v = self._v(v)
        for _ in range(k):
            pv = self.visible_probs(self._bernoulli(self.hidden_probs(v)))
            v = self._bernoulli(pv)
        return v, pv, self.hidden_probs(v)

    # --------------------------------------------------------------- energies
    def energy(self, v, h):
        """E(v, h) = -b.v - c.h - v^T W h, one value per row."""
        v, h = self._v(v), np.atleast_2d(h)
        return -(v @ self.b) - (h @ self.c) - np.einsum("ni,ij,nj->n", v, self.W, h)

    def free_energy(self, v):
        """F(v) = -b.v - sum_j softplus(c_j + v.W[:, j]), one value per row."""
        v = self._v(v)
        return -(v @ self.b) - _softplus(v @ self.W + self.c).sum(axis=1)

    def log_partition(self):
        """log Z by brute force over all 2^H hidden states (small H only, e.g. for tests)."""
        if self.n_hidden > 20:
            raise ValueError(f"RBM.log_partition enumerates 2^{self.n_hidden} states; use at most 20 hidden units")
        H = ((np.arange(2 ** self.n_hidden)[:, None] >> np.arange(self.n_hidden)) & 1).astype(float)
        # sum over v in closed form: sum_v exp(b.v + v.Wh) = prod_i (1 + exp(b_i + W[i].h))
        terms = H @ self.c + _softplus(H @ self.W.T + self.b).sum(axis=1)
        m = terms.max()
        return float(m + np.log(np.exp(terms - m).sum()))

    def reconstruction_error(self, v):
        """Mean squared error between v and p(v | h = p(h | v)): the usual training monitor."""
        v = self._v(v)
        return float(((v - self.visible_probs(self.hidden_probs(v))) ** 2).sum(axis=1).mean())

    # ---------------------------------------------------------------- training
    def cd_step(self, v0, lr=0.05, k=1, persistent=False, weight_decay=0.0, momentum=0.0):
        """One contrastive-divergence update on the mini-batch v0 (N, V); returns its reconstruction error.

        dW = <v h>_data - <v h>_model,  db = <v>_data - <v>_model,  dc = <h>_data - <h>_model,
        the model statistics from k Gibbs steps started at the data (CD-k) or at the
        persistent chains (PCD).
        """
        v0 = self._v(v0)
        ph0 = self.hidden_probs(v0)
        if persistent:
            if self.chains is None or len(self.chains) != len(v0):
                self.chains = self._bernoulli(np.full_like(v0, 0.5))
            vk, _, phk = self.gibbs(self.chains, k)
            self.chains = vk
        else:
            vk, _, phk = self.gibbs(v0, k)
        n = len(v0)
        grads = ((v0.T @ ph0 - vk.T @ phk) / n - weight_decay * self.W,
                 (v0 - vk).mean(axis=0), (ph0 - phk).mean(axis=0))
        if not hasattr(self, "_velocity") or momentum == 0.0:
            self._velocity = [np.zeros_like(g) for g in grads]
        for vel, g, p in zip(self._velocity, grads, (self.W, self.b, self.c)):
            vel *= momentum
            vel += lr * g
            p += vel
        return self.reconstruction_error(v0)

    def fit(self, X, epochs=10, batch_size=32, lr=0.05, k=1, persistent=False, momentum=0.5,
            weight_decay=1e-4, X_val=None):
        """Train on the rows of X; returns a history dict of per-epoch monitors.

        ``recon``: reconstruction error on X; ``free_energy_gap``: mean F(validation) - mean F(train
        subset), which grows when the model starts to overfit (Hinton's practical guide, 2010).
        """
        from nnkit.kernels import few_blas_threads  # noqa: PLC0415 - small matrices: one BLAS thread is faster

        X = self._v(X)
        history = {"recon": [], "free_energy_gap": []}
        with few_blas_threads():
            self._epochs(X, X_val, epochs, batch_size, lr, k, persistent, momentum, weight_decay, history)
        return history

    def _epochs(self, X, X_val, epochs, batch_size, lr, k, persistent, momentum, weight_decay, history):
        for _ in range(epochs):
            order = self.rng.permutation(len(X))
            for i in range(0, len(X), batch_size):
                self.cd_step(X[order[i:i + batch_size]], lr, k, persistent, weight_decay, momentum)
            history["recon"].append(self.reconstruction_error(X))
            if X_val is not None:
                n = min(len(X), len(X_val))
                history["free_energy_gap"].append(float(self.free_energy(X_val[:n]).mean()
                                                        - self.free_energy(X[:n]).mean()))

    def sample(self, n, steps=1000, v0=None):
        """Fantasies: run Gibbs sampling for ``steps`` steps; returns p(v | h) of the last step (n, V)."""
        v = self._bernoulli(np.full((n, self.n_visible), 0.5)) if v0 is None else self._v(v0)
        _, pv, _ = self.gibbs(v, steps)
        return pv


class DBN:
    """A deep belief net: RBMs trained greedily, each on the hidden probabilities of the one below.

    Generation runs "backwards": Gibbs sampling in the top RBM, then one top-down pass
    p(h_{l-1} | h_l) through the lower layers' weights to the pixels.
    """

    def __init__(self, sizes, seed=None):
        if len(sizes) < 2:
            raise ValueError(f"DBN needs at least two layer sizes, got {sizes}")
        rng = backend.rng() if seed is None else np.random.default_rng(seed)
        self.rbms = [RBM(a, b, seed=int(rng.integers(2 ** 31))) for a, b in zip(sizes[:-1], sizes[1:])]

    def pretrain(self, X, epochs=10, **fit_kw):
        """Greedy layer-wise training; returns the list of each RBM's history."""
        histories, data = [], np.asarray(X, dtype=float)
        for rbm in self.rbms:
            histories.append(rbm.fit(data, epochs=epochs, **fit_kw))
            data = rbm.hidden_probs(data)
        return histories

    def transform(self, X):
        """Bottom-up features: the top layer's hidden probabilities."""
        for rbm in self.rbms:
            X = rbm.hidden_probs(X)
        return X

    def sample(self, n, steps=200):
        """Gibbs sampling in the top RBM, then a deterministic top-down pass to the visible layer."""
        top = self.rbms[-1]
        h = top.sample(n, steps)
        for rbm in reversed(self.rbms[:-1]):
            h = rbm.visible_probs(h)
        return h
