"""End-to-end: small networks trained with nnkit reach the accuracies the book relies on."""
import numpy as np

import nnkit
from nnkit import losses, nn, optim
from nnkit.data import moons, spirals


def train(model, X, y, loss_fn, steps, lr):
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_fn(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_mlp_2_16_16_1_fits_moons():
    nnkit.seed(0)
    X, y = moons(200, noise=0.1, seed=0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    train(model, X, y, lambda out, t: losses.binary_cross_entropy_with_logits(out.reshape(-1), t), 600, 0.02)
    accuracy = np.mean((model(X).data.reshape(-1) > 0) == (y > 0.5))
    assert accuracy >= 0.97, accuracy


def test_softmax_mlp_solves_spirals_where_a_linear_classifier_cannot():
    nnkit.seed(1)
    X, y = spirals(300, classes=3, noise=0.1, seed=1)
    y = y.astype(int)
    linear = nn.Linear(2, 3)
    train(linear, X, y, losses.cross_entropy, 500, 0.05)
    linear_acc = np.mean(linear(X).data.argmax(axis=1) == y)
    mlp = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    train(mlp, X, y, losses.cross_entropy, 600, 0.02)
    mlp_acc = np.mean(mlp(X).data.argmax(axis=1) == y)
    assert linear_acc < 0.65, linear_acc  # three interleaved arms: no straight boundary separates them
    assert mlp_acc >= 0.95, mlp_acc
