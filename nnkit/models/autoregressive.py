"""Autoregressive models: causal and dilated convolutions, a small WaveNet, masked 2-D convolutions.

Lecture 15, §2.  An autoregressive model factorises a sequence's probability by the chain rule

    p(x^(1), ..., x^(T)) = prod_t p(x^(t) | x^(1), ..., x^(t-1))          (eq. (11))

and predicts every factor with one network.  With causal convolutions (output t sees inputs
t, t-1, ... only) all T predictions are computed in parallel during training; generation
still needs one network call per sample.

- :func:`dilated_receptive_fields`: receptive field after each layer of a dilated stack;
- :class:`WaveNet`: one-hot quantised samples -> causal conv -> dilated gated residual
  layers -> per-step softmax over the quantisation levels (van den Oord et al., 2016);
- :class:`MaskedConv2d`: the PixelCNN mask that makes a 2-D convolution causal in raster
  order (van den Oord, Kalchbrenner & Kavukcuoglu, 2016).
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn.conv import Conv1d, conv2d, receptive_field
from nnkit.nn import init
from nnkit.nn.module import Module, Parameter, ShapeError


# ------------------------------------------------------------- receptive fields
def dilated_receptive_fields(dilations, kernel_size=2, repeats=1):
    """Receptive field after each layer of causal convolutions with these dilations, stride 1.

    Layer with dilation d adds d (k - 1) samples: r = 1 + (k - 1) sum(d).  For k = 2 and
    d = 1, 2, ..., 512 that gives 2, 4, ..., 1024; repeating the stack 5 times gives 5116.
    """
    return receptive_field([(kernel_size, 1, d) for d in list(dilations) * repeats])


def raster_scan(image):
    """An (H, W) image as the sequence of its pixels row by row: (H*W,)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"raster_scan: expected an image of shape (H, W), got {image.shape}")
    return image.reshape(-1)


def mu_law_quantize(x, levels=256):
    """Map x in [-1, 1] to integers 0..levels-1 with mu-law companding (mu = levels - 1)."""
    mu = levels - 1
    x = np.clip(np.asarray(x, float), -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.clip(((y + 1) / 2 * mu + 0.5).astype(int), 0, mu)


def mu_law_expand(q, levels=256):
    """Inverse of :func:`mu_law_quantize` (up to the quantisation step)."""
    mu = levels - 1
    y = 2 * np.asarray(q, float) / mu - 1
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def sine_waves(n, length, levels=32, periods=(8, 24), seed=None):
    """n generated waveforms: sines with random period and phase, plus a little noise, quantised.

    Returns an integer array (n, length) with values 0..levels-1 (mu-law, as WaveNet does).
    """
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    t = np.arange(length)
    period = rng.uniform(*periods, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    amp = rng.uniform(0.5, 0.9, size=(n, 1))
    x = amp * np.sin(2 * np.pi * t / period + phase) + 0.02 * rng.standard_normal((n, length))
    return mu_law_quantize(x, levels)


# ------------------------------------------------------------------------ WaveNet
class WaveNet(Module):
    """A small WaveNet: predicts p(x_t | x_<t) over ``levels`` classes for every t at once.

    Input: integer samples (N, L) in 0..levels-1, one-hot encoded to (N, levels, L).
    A causal conv (kernel 2) to ``channels``; then for each dilation d a gated residual layer
        z = tanh(W_f *_d h) * sigmoid(W_g *_d h),   h <- h + W_r z
    (one causal dilated conv with 2*channels outputs, split in filter and gate); then
    ReLU -> 1x1 conv -> logits (N, levels, L).  The logits at t only see x_<=t, so they
    predict x_{t+1}.
    """

    def __init__(self, levels=32, channels=16, dilations=(1, 2, 4, 8, 16), dtype=None):
        super().__init__()
        self.levels, self.channels, self.dilations = int(levels), int(channels), tuple(dilations)
        self.input_conv = Conv1d(levels, channels, 2, causal=True, dtype=dtype)
        self.dilated = [Conv1d(channels, 2 * channels, 2, dilation=d, causal=True, dtype=dtype) for d in dilations]
        self.residual = [Conv1d(channels, channels, 1, dtype=dtype) for _ in dilations]
        self.output = Conv1d(channels, levels, 1, dtype=dtype)

    @property
    def receptive_field(self) -> int:
        """Samples of input each output sees: the input conv (kernel 2) plus the dilated stack."""
        return dilated_receptive_fields((1,) + self.dilations)[-1]

    def _one_hot(self, x):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ShapeError(f"WaveNet expects integer samples of shape (N, L), got shape {x.shape}")
        if x.min() < 0 or x.max() >= self.levels:
            raise ValueError(f"WaveNet: samples must lie in 0..{self.levels - 1}, got {x.min()}..{x.max()}")
        oh = np.zeros((x.shape[0], self.levels, x.shape[1]), dtype=self.output.weight.dtype)
        np.put_along_axis(oh, x[:, None, :], 1.0, axis=1)
        return Tensor(oh)

    def forward(self, x):
        """Logits (N, levels, L) for integer samples x (N, L); output t predicts x[t + 1]."""
        h = self.input_conv(self._one_hot(x))
        C = self.channels
        for conv, res in zip(self.dilated, self.residual):
            a = conv(h)
            z = ops.tanh(a[:, :C]) * ops.sigmoid(a[:, C:])
            h = h + res(z)
        return self.output(ops.relu(h))

    def loss(self, x):
        """Mean cross-entropy of predicting x[:, 1:] from x[:, :-1] (nats per sample)."""
        logits = self(np.asarray(x)[:, :-1])  # (N, Q, L-1)
        N, Q, L = logits.shape
        flat = ops.reshape(ops.transpose(logits, (0, 2, 1)), (N * L, Q))
        target = np.asarray(x)[:, 1:].reshape(-1)
        logp = ops.log_softmax(flat, axis=1)
        return -ops.mean(logp[np.arange(N * L), target])

    def generate(self, n, length, prime=None, temperature=1.0, rng=None):
        """Sample ``length`` new values one at a time (one forward pass per sample: slow by design).

        prime: integer samples (n, P) to start from (default: one random value per sequence).
        Only the last ``receptive_field`` samples are fed each step, as nothing older matters.
        """
        rng = backend.rng() if rng is None else rng
        seq = rng.integers(self.levels, size=(n, 1)) if prime is None else np.array(prime)
        R = self.receptive_field
        for _ in range(length):
            logits = self(seq[:, -R:]).data[:, :, -1] / temperature
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            nxt = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
            seq = np.concatenate([seq, nxt[:, None]], axis=1)
        return seq


def train_wavenet(model, data, steps=300, batch_size=16, lr=3e-3, seed=None):
    """Adam on :meth:`WaveNet.loss` over random rows of ``data`` (n, L); returns the loss per step."""
    from nnkit.kernels import few_blas_threads  # noqa: PLC0415 - small matrices: one BLAS thread is faster
    from nnkit.optim import Adam  # noqa: PLC0415

    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    opt, history = Adam(model.parameters(), lr=lr), []
    with few_blas_threads():
        for _ in range(steps):
            loss = model.loss(data[rng.integers(len(data), size=batch_size)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(loss.item())
    return history


# ------------------------------------------------------------- masked 2-D convolution
def raster_mask(kernel_size, mask_type="A"):
    """A (k, k) 0/1 mask keeping the kernel taps above the centre row and left of the centre.

    Type "A" also masks the centre (first layer: a pixel must not see itself);
    type "B" keeps it (later layers: the centre holds features of earlier pixels only).
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"raster_mask: mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size % 2 == 0:
        raise ValueError(f"raster_mask: kernel_size must be odd, got {kernel_size}")
    k, c = kernel_size, kernel_size // 2
    mask = np.zeros((k, k))
    mask[:c, :] = 1
    mask[c, :c] = 1
    if mask_type == "B":
        mask[c, c] = 1
    return mask


class MaskedConv2d(Module):
    """A 'same'-padded 2-D convolution whose kernel is multiplied by :func:`raster_mask`.

    out[i, j] depends only on input pixels before (i, j) in raster order (type A), or at or
    before it (type B): the weights behind the mask are clamped to zero, as the lecture says.
    x (N, C_in, H, W) -> (N, C_out, H, W).
    """

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="A", dtype=None):
        super().__init__()
        dtype = dtype or backend.default_dtype()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.mask_type = mask_type
        self.mask = raster_mask(kernel_size, mask_type).astype(dtype)
        self.weight = Parameter(init.get("he")((out_channels, in_channels, kernel_size, kernel_size), dtype=dtype))
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.weight.dtype))
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got shape {x.shape}")
        return conv2d(x, self.weight * Tensor(self.mask), self.bias, 1, "same")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, mask_type={self.mask_type!r}"
