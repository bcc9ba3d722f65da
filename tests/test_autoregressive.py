"""Causal, dilated and masked convolutions; a small WaveNet (Lecture 15, §2)."""
import numpy as np
import pytest

import nnkit
from nnkit.autodiff import Tensor
from nnkit.models.autoregressive import (
    MaskedConv2d, WaveNet, dilated_receptive_fields, mu_law_expand, mu_law_quantize, raster_mask,
    raster_scan, sine_waves, train_wavenet,
)
from nnkit.nn import Conv1d


def test_receptive_field_of_the_wavenet_stack():
    dil = [2 ** i for i in range(10)]
    assert dilated_receptive_fields(dil) == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    assert dilated_receptive_fields(dil, repeats=5)[-1] == 5116
    assert dilated_receptive_fields([1, 1, 1], kernel_size=3) == [3, 5, 7]


def brute_force_receptive_field(dilations, length=64):
    """Count the inputs that change the last output of a real stack of causal convolutions."""
    nnkit.set_default_dtype("float64")
    try:
        layers = [Conv1d(1, 1, 2, dilation=d, causal=True) for d in dilations]
        x = Tensor(np.random.default_rng(0).normal(size=(1, 1, length)), requires_grad=True)
        h = x
        for layer in layers:
            h = layer(h)
        h[0, 0, length - 1].backward()
        return int((np.abs(x.grad[0, 0]) > 0).sum()), np.flatnonzero(np.abs(x.grad[0, 0]) > 0)
    finally:
        nnkit.set_default_dtype("float32")


def test_receptive_field_against_gradients_of_a_real_stack():
    n, where = brute_force_receptive_field([1, 2, 4, 8])
    assert n == dilated_receptive_fields([1, 2, 4, 8])[-1] == 16
    assert where.max() == 63  # sees the present and the past only


def test_wavenet_is_causal_and_learns_sines():
    nnkit.seed(0)
    model = WaveNet(levels=16, channels=8, dilations=(1, 2, 4))
    x = sine_waves(2, 40, levels=16, seed=0)
    out = model(x).data
    y = x.copy()
    y[:, 25:] = (y[:, 25:] + 7) % 16  # change the future from t = 25 on
    out2 = model(y).data
    assert np.allclose(out[:, :, :25], out2[:, :, :25])
    assert not np.allclose(out[:, :, 25], out2[:, :, 25])
    assert model.receptive_field == 9
    data = sine_waves(128, 64, levels=16, seed=1)
    hist = train_wavenet(model, data, steps=120, batch_size=16, lr=5e-3, seed=0)
    assert np.mean(hist[-10:]) < 0.6 * np.log(16)
    seq = model.generate(3, 20, prime=data[:3, :10], rng=np.random.default_rng(0))
    assert seq.shape == (3, 30) and np.array_equal(seq[:, :10], data[:3, :10])


def test_masked_conv_is_causal_in_raster_order():
    nnkit.set_default_dtype("float64")
    try:
        for mask_type in ("A", "B"):
            conv = MaskedConv2d(1, 1, 5, mask_type)
            H = W = 6
            J = np.zeros((H * W, H * W))
            for p in range(H * W):
                x = Tensor(np.random.default_rng(p).normal(size=(1, 1, H, W)), requires_grad=True)
                conv(x)[0, 0].reshape(-1)[p].backward()
                J[p] = raster_scan(x.grad[0, 0])
            if mask_type == "A":
                assert np.allclose(np.triu(J), 0)  # strictly lower-triangular: pixel p sees only pixels < p
                assert np.abs(np.tril(J, -1)).max() > 0
            else:
                assert np.allclose(np.triu(J, 1), 0) and np.abs(np.diag(J)).min() > 0
    finally:
        nnkit.set_default_dtype("float32")
    assert raster_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_mu_law_round_trip_and_errors():
    x = np.linspace(-1, 1, 101)
    assert np.abs(mu_law_expand(mu_law_quantize(x)) - x).max() < 0.05
    assert raster_scan(np.arange(6).reshape(2, 3)).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(nnkit.nn.ShapeError, match="WaveNet"):
        WaveNet(levels=4)(np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="mask_type"):
        raster_mask(3, "C")
