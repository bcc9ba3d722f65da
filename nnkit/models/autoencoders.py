"""Autoencoders: plain, tied, sparse, denoising, contractive and deep (stacked, pretrained).

Neural-nets notes, "Unsupervised neural networks" and "Autoencoders" with its subsections.
An autoencoder maps x (n,) to a code h = s(W x + b) (k,) and back to x_hat = g(W* h + b*),
and is trained to make x_hat close to x under a constraint that stops it from copying:

- a bottleneck (k < n: undercomplete);
- sparse codes: a penalty lambda * mean |h| (``sparsity``) or, as the notes describe it,
  hidden units switched off at random during training (``code_dropout``);
- corrupted inputs (denoising): train on x~ = corrupt(x) to reconstruct the clean x;
- a contractive penalty lambda * |dh/dx|_F^2, which for a sigmoid encoder is
  sum_j (h_j (1 - h_j))^2 sum_i W_ji^2.

Losses (notes, "Loss functions for autoencoders"):
  binary x:   l = -sum_k [x_k log x_hat_k + (1 - x_k) log(1 - x_hat_k)]   (sigmoid output)
  real x:     l = 1/2 sum_k (x_hat_k - x_k)^2                              (linear output)

Shapes: X (N, n) -> codes (N, k) -> reconstructions (N, n).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.kernels import few_blas_threads  # small matrices: one BLAS thread is faster
from nnkit.nn.linear import Linear
from nnkit.nn.module import Module, Parameter, ShapeError


# ------------------------------------------------------------------- corruption
def masking_noise(X, v, rng=None):
    """Set each entry of X to 0 with probability v (the other entries are kept as they are)."""
    rng = backend.rng() if rng is None else rng
    if not 0 <= v < 1:
        raise ValueError(f"masking_noise: v must lie in [0, 1), got {v}")
    X = np.asarray(X)
    return X * (rng.random(X.shape) >= v).astype(X.dtype)


def gaussian_noise(X, sigma, rng=None, clip=None):
    """X + N(0, sigma^2) noise on every entry, optionally clipped to the interval ``clip``."""
    rng = backend.rng() if rng is None else rng
    X = np.asarray(X)
    out = X + sigma * rng.standard_normal(X.shape).astype(X.dtype)
    return np.clip(out, *clip) if clip is not None else out


def psnr(clean, estimate, peak=1.0):
    """Peak signal-to-noise ratio in dB: 10 log10(peak^2 / MSE), over all entries."""
    mse = float(np.mean((np.asarray(clean, float) - np.asarray(estimate, float)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak ** 2 / mse)


# ------------------------------------------------------------------------ model
class Autoencoder(Module):
    """One hidden layer: h = sigmoid(x W^T + b), x_hat = out(h W*^T + b*).

    ``tied=True`` uses W* = W^T, so the decoder has only its own bias; the weight's gradient
    is then the sum of the encoder's gradient and the transpose of the decoder's.
    ``output``: "sigmoid" (inputs in [0, 1], Bernoulli cross-entropy) or "linear"
    (real inputs, squared error).  x (N, n) -> x_hat (N, n).
    """

    def __init__(self, n_inputs: int, n_hidden: int, tied: bool = False, output: str = "sigmoid", dtype=None):
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"Autoencoder: output must be 'sigmoid' or 'linear', got {output!r}")
        self.n_inputs, self.n_hidden, self.tied, self.output = int(n_inputs), int(n_hidden), bool(tied), output
        self.encoder = Linear(n_inputs, n_hidden, dtype=dtype)
        if tied:
            dtype = self.encoder.weight.dtype
            self.decoder_bias = Parameter(np.zeros(n_inputs, dtype=dtype))
        else:
            self.decoder = Linear(n_hidden, n_inputs, dtype=dtype)

    def _input(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.encoder.weight.dtype))
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ShapeError(f"{self!r} expects input of shape (N, {self.n_inputs}), got shape {x.shape}")
        return x

    def encode(self, x):
        """h = sigmoid(x W^T + b): (N, n) -> (N, k)."""
        return ops.sigmoid(self.encoder(self._input(x)))

    def decoder_logits(self, h):
        if self.tied:
            return ops.matmul(h, self.encoder.weight) + self.decoder_bias
        return self.decoder(h)

    def decode(self, h):
        """x_hat from codes h: (N, k) -> (N, n)."""
        a = self.decoder_logits(h)
        return ops.sigmoid(a) if self.output == "sigmoid" else a

    def forward(self, x):
        return self.decode(self.encode(x))

    def reconstruction_loss(self, h, x):
        """Per-example loss summed over inputs, averaged over the batch (see the module docstring)."""
        x = self._input(x)
        a = self.decoder_logits(h)
        if self.output == "sigmoid":  # Bernoulli cross-entropy from logits, stable for any a
            per = ops.softplus(a) - x * a
        else:
            per = 0.5 * (a - x) * (a - x)
        return ops.mean(ops.sum(per, axis=1))

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, n_hidden={self.n_hidden}, tied={self.tied}, output={self.output!r}"


def contractive_penalty(model: Autoencoder, x):
    """|dh/dx|_F^2 averaged over the batch, for the sigmoid encoder h = sigmoid(W x + b):

        sum_j (h_j (1 - h_j))^2 sum_i W_ji^2          (a Tensor, differentiable in W and b)
    """
    h = model.encode(x)
    W = model.encoder.weight
    d = h * (1.0 - h)
    row_norms = ops.sum(W * W, axis=1)  # (k,)
    return ops.mean(ops.sum(d * d * row_norms, axis=1))


def encoder_jacobian(model: Autoencoder, x):
    """dh/dx at one input x (n,) as a (k, n) array: diag(h (1 - h)) W."""
    h = model.encode(np.asarray(x)[None]).data[0]
    return (h * (1 - h))[:, None] * model.encoder.weight.data


def train_autoencoder(model: Autoencoder, X, epochs=20, batch_size=64, lr=1e-2, noise=None,
                      sparsity=0.0, contractive=0.0, code_dropout=0.0, seed=None):
    """Train with Adam; returns the per-epoch mean training loss (reconstruction + penalties).

    noise: None, ("mask", v) or ("gaussian", sigma): a denoising autoencoder, fed a fresh
      corruption of each batch and scored against the clean batch;
    sparsity: weight of the L1 penalty on the codes; code_dropout: probability of switching a
      hidden unit off (the notes' description of a sparse autoencoder);
    contractive: weight of the contractive penalty.
    """
    from nnkit.optim import Adam  # noqa: PLC0415

    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    X = np.asarray(X, dtype=model.encoder.weight.dtype)
    opt = Adam(model.parameters(), lr=lr)
    with few_blas_threads():
        return _ae_epochs(model, X, epochs, batch_size, noise, sparsity, contractive, code_dropout, rng, opt)


def _ae_epochs(model, X, epochs, batch_size, noise, sparsity, contractive, code_dropout, rng, opt):
    history = []
    for _ in range(epochs):
        order, total = rng.permutation(len(X)), 0.0
        for i in range(0, len(X), batch_size):
            xb = X[order[i:i + batch_size]]
            xin = xb
            if noise is not None:
                kind, level = noise
                if kind == "mask":
                    xin = masking_noise(xb, level, rng)
                elif kind == "gaussian":
                    xin = gaussian_noise(xb, level, rng)
                else:
                    raise ValueError(f"train_autoencoder: noise must be ('mask', v) or ('gaussian', sigma), got {noise!r}")
            h = model.encode(xin)
            if code_dropout:
                keep = (rng.random(h.shape) >= code_dropout).astype(h.dtype) / (1 - code_dropout)
                h = h * Tensor(keep)
            loss = model.reconstruction_loss(h, xb)
            if sparsity:
                loss = loss + sparsity * ops.mean(ops.sum(ops.abs(h), axis=1))
            if contractive:
                loss = loss + contractive * contractive_penalty(model, xin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        history.append(total / len(X))
    return history


class StackedAutoencoder(Module):
    """A deep autoencoder built from shallow ones: encoders in order, decoders in reverse.

    x -> h1 -> h2 -> ... -> hL -> ... -> h1_hat -> x_hat.  Build it from pretrained shallow
    autoencoders (:func:`greedy_pretrain`) and fine-tune end to end with :meth:`fit`.
    """

    def __init__(self, autoencoders):
        super().__init__()
        self.aes = list(autoencoders)
        for lower, upper in zip(self.aes[:-1], self.aes[1:]):
            if lower.n_hidden != upper.n_inputs:
                raise ShapeError(f"StackedAutoencoder: a layer with {lower.n_hidden} codes feeds one "
                                 f"expecting {upper.n_inputs} inputs")

    def encode(self, x):
        for ae in self.aes:
            x = ae.encode(x)
        return x

    def decode(self, h):
        for ae in reversed(self.aes):
            h = ae.decode(h)
        return h

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x):
        """The bottom autoencoder's reconstruction loss of the whole stack."""
        h = self.encode(x)
        for ae in reversed(self.aes[1:]):
            h = ae.decode(h)
        return self.aes[0].reconstruction_loss(h, x)

    def fit(self, X, epochs=20, batch_size=64, lr=1e-3, seed=None):
        """Fine-tune every layer together with Adam; returns the per-epoch loss."""
        from nnkit.optim import Adam  # noqa: PLC0415

        rng = backend.rng() if seed is None else np.random.default_rng(seed)
        X = np.asarray(X, dtype=self.aes[0].encoder.weight.dtype)
        opt, history = Adam(self.parameters(), lr=lr), []
        with few_blas_threads():
            self._epochs(X, epochs, batch_size, rng, opt, history)
        return history

    def _epochs(self, X, epochs, batch_size, rng, opt, history):
        for _ in range(epochs):
            order, total = rng.permutation(len(X)), 0.0
            for i in range(0, len(X), batch_size):
                xb = X[order[i:i + batch_size]]
                loss = self.loss(xb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(xb)
            history.append(total / len(X))


def greedy_pretrain(X, sizes, epochs=20, output="sigmoid", seed=None, **train_kw):
    """Greedy layer-wise pretraining: train a shallow autoencoder on X, then one on its codes, ...

    sizes = [n, k1, k2, ...].  The first layer uses ``output``; upper layers reconstruct
    codes in (0, 1), so they use sigmoid outputs.  Returns the list of trained autoencoders.
    """
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    aes, data = [], np.asarray(X)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        ae = Autoencoder(a, b, output=output if i == 0 else "sigmoid")
        train_autoencoder(ae, data, epochs=epochs, seed=int(rng.integers(2 ** 31)), **train_kw)
        aes.append(ae)
        data = ae.encode(data).data
    return aes
