"""Reversible (flow) models: additive coupling blocks and NICE (Dinh, Krueger & Bengio, 2014).

Lecture 15, §1.  An additive coupling block splits x into (x1, x2) and computes

    y1 = x1 + F(x2),   y2 = x2                        (Lecture 15, eq. (3))
    x2 = y2,           x1 = y1 - F(y2)                (eq. (4), the exact inverse)

Its Jacobian is block upper-triangular with identity blocks on the diagonal, so its
determinant is 1: the block preserves volume.  Chaining blocks that alternate which half
is changed gives an expressive map f whose inverse is the blocks' inverses in reverse
order (eq. (7)).  By the change-of-variables formula (eq. (1)), with z = f^{-1}(x),

    log p_X(x) = log p_Z(z) + log |det dz/dx|

which for coupling blocks alone is just log p_Z(z) (eq. (9)).  The full NICE model adds a
diagonal scaling layer z = exp(s) * u at the top (the lecture omits it), contributing
sum(s) to the log-determinant; without it the model cannot change the volume of the data.

Shapes: x (N, D) with D even; the halves are x[:, :D/2] and x[:, D/2:].
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn.activations import ReLU
from nnkit.nn.linear import Linear
from nnkit.nn.module import Module, Parameter, Sequential, ShapeError


def _as_tensor(x, dtype):
    if isinstance(x, Tensor):
        return x
    return Tensor(np.asarray(x, dtype=dtype))


class AdditiveCoupling(Module):
    """One reversible block.  ``parity=0`` changes the first half, ``parity=1`` the second.

    parity 0:  y1 = x1 + F(x2), y2 = x2;    parity 1:  y2 = x2 + F(x1), y1 = x1.
    F is an MLP with ``layers`` hidden layers of width ``hidden`` (any function works:
    it is never inverted).  x (N, D) -> y (N, D).
    """

    def __init__(self, dim: int, hidden: int = 64, layers: int = 2, parity: int = 0, dtype=None):
        super().__init__()
        if dim % 2:
            raise ValueError(f"AdditiveCoupling: dim must be even to split in halves, got {dim}")
        self.dim, self.parity = int(dim), int(parity) % 2
        half = dim // 2
        mods, width = [], half
        for _ in range(layers):
            mods += [Linear(width, hidden, init_fn="he", dtype=dtype), ReLU()]
            width = hidden
        last = Linear(width, half, dtype=dtype)
        last.weight.data *= 0.1  # start close to the identity map
        self.F = Sequential(*mods, last)

    def _split(self, x):
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"{self!r} expects input of shape (N, {self.dim}), got shape {x.shape}")
        h = self.dim // 2
        a, b = x[:, :h], x[:, h:]
        return (a, b) if self.parity == 0 else (b, a)  # (changed half, conditioning half)

    def _join(self, changed, kept):
        return ops.concatenate([changed, kept] if self.parity == 0 else [kept, changed], axis=1)

    def forward(self, x):
        """y = block(x)."""
        x = _as_tensor(x, self.F[0].weight.dtype)
        changed, kept = self._split(x)
        return self._join(changed + self.F(kept), kept)

    def inverse(self, y):
        """x = block^{-1}(y): subtract the same F of the unchanged half."""
        y = _as_tensor(y, self.F[0].weight.dtype)
        changed, kept = self._split(y)
        return self._join(changed - self.F(kept), kept)

    def log_det_jacobian(self, x):
        """log |det dy/dx| = 0 for every input: one zero per row."""
        return np.zeros(len(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, parity={self.parity}"


class NICE(Module):
    """A NICE flow: ``n_blocks`` coupling blocks of alternating parity, then a diagonal scaling.

    Data to latent (the direction used for the likelihood):
        z = exp(s) * f_K(... f_1(x))          log p(x) = log N(z; 0, I) + sum(s)
    Latent to data (sampling):  x = f_1^{-1}(... f_K^{-1}(z * exp(-s))).
    ``scaling=False`` leaves the scaling out, giving the purely volume-preserving model of
    the lecture.  x (N, D) -> z (N, D).
    """

    def __init__(self, dim: int, n_blocks: int = 4, hidden: int = 64, layers: int = 2,
                 scaling: bool = True, dtype=None):
        super().__init__()
        self.dim = int(dim)
        self.blocks = [AdditiveCoupling(dim, hidden, layers, parity=i, dtype=dtype) for i in range(n_blocks)]
        dtype = dtype or backend.default_dtype()
        self.log_scale = Parameter(np.zeros(dim, dtype=dtype)) if scaling else None

    def forward(self, x):
        """z = f^{-1}... in this class's naming, the map from data to latent: x (N, D) -> z (N, D)."""
        h = _as_tensor(x, self.blocks[0].F[0].weight.dtype)
        for block in self.blocks:
            h = block(h)
        if self.log_scale is not None:
            h = h * ops.exp(self.log_scale)
        return h

    def inverse(self, z):
        """x from z: undo the scaling, then each block's inverse in reverse order (eq. (7))."""
        h = _as_tensor(z, self.blocks[0].F[0].weight.dtype)
        if self.log_scale is not None:
            h = h * ops.exp(-self.log_scale)
        for block in reversed(self.blocks):
            h = block.inverse(h)
        return h

    def log_det_jacobian(self):
        """log |det dz/dx| = sum(s) (0 without the scaling layer), the same for every x."""
        return ops.sum(self.log_scale) if self.log_scale is not None else Tensor(0.0)

    def log_prob(self, x):
        """log p_X(x) = log N(f(x); 0, I) + log|det|, one value per row (a Tensor, differentiable)."""
        z = self(x)
        log_pz = -0.5 * ops.sum(z * z, axis=1) - 0.5 * self.dim * math.log(2 * math.pi)
        return log_pz + self.log_det_jacobian()

    def sample(self, n, rng=None):
        """n samples x = f^{-1}(z), z ~ N(0, I): (n, D) array."""
        rng = backend.rng() if rng is None else rng
        z = rng.standard_normal((n, self.dim)).astype(self.blocks[0].F[0].weight.dtype)
        return self.inverse(z).data


def numerical_jacobian(f, x, eps=1e-6):
    """dF/dx of a map R^D -> R^D at one point x (D,), by central differences: (D, D)."""
    x = np.asarray(x, dtype=np.float64)
    J = np.zeros((x.size, x.size))
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = eps
        J[:, j] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return J


def gaussian_log_likelihood(X_train, X_test):
    """Mean log-likelihood of X_test under the single Gaussian fitted to X_train by maximum likelihood."""
    X_train, X_test = np.asarray(X_train, float), np.asarray(X_test, float)
    mu = X_train.mean(axis=0)
    cov = np.cov(X_train, rowvar=False, bias=True)
    d = X_test - mu
    sign, logdet = np.linalg.slogdet(cov)
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    return float(np.mean(-0.5 * maha - 0.5 * logdet - 0.5 * X_train.shape[1] * math.log(2 * math.pi)))


def train_flow(model, X, steps=2000, batch_size=128, lr=1e-3, seed=None):
    """Maximise the mean log-likelihood with Adam; returns the per-step mean log-likelihood."""
    from nnkit.kernels import few_blas_threads  # noqa: PLC0415 - small matrices: one BLAS thread is faster
    from nnkit.optim import Adam  # noqa: PLC0415 - models build on optim

    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    X = np.asarray(X, dtype=model.blocks[0].F[0].weight.dtype)
    opt = Adam(model.parameters(), lr=lr)
    history = []
    with few_blas_threads():
        for _ in range(steps):
            xb = X[rng.integers(len(X), size=batch_size)]
            opt.zero_grad()
            ll = ops.mean(model.log_prob(xb))
            (-ll).backward()
            opt.step()
            history.append(ll.item())
    return history
