"""LeNet-5: the corrected layer table of Lecture 10, shapes, gradients, and learning real digits."""
import numpy as np
import pytest

import nnkit
from nnkit import losses, optim
from nnkit.autodiff import no_grad
from nnkit.data import load_digits, minibatches, train_val_test_split
from nnkit.gradcheck import check_grad
from nnkit.models import LeNet5
from nnkit.nn.module import ShapeError


def test_layer_table_matches_the_corrected_lecture_numbers():
    model = LeNet5()
    table = {r["layer"]: r for r in model.layer_table()}
    expected = {  # layer: (units, connections, weights, biases)
        "C1": (4704, 117_600, 150, 6), "S2": (1176, 4704, 0, 0), "C3": (1600, 240_000, 2400, 16),
        "S4": (400, 1600, 0, 0), "F5": (120, 48_000, 48_000, 120), "F6": (84, 10_080, 10_080, 84),
        "output": (10, 840, 840, 10),
    }
    for name, (units, conn, weights, biases) in expected.items():
        row = table[name]
        assert (row["units"], row["connections"], row["weights"], row["biases"]) == (units, conn, weights, biases), name
    assert sum(r["units"] for r in table.values()) == 8094
    assert sum(r["connections"] for r in table.values()) == 422_824
    assert sum(r["weights"] for r in table.values()) == 61_470
    assert model.num_parameters() == 61_706
    # C1 connections: 28*28 units, each seeing a 5x5 window, 6 maps (the text's formula drops a 5)
    assert 28 * 28 * 5 * 5 * 6 == 117_600 != 28 * 28 * 5 * 6


def test_shapes_for_both_input_sizes_and_errors():
    for size in (32, 28):
        model = LeNet5(input_size=size)
        assert model(np.zeros((3, 1, size, size), np.float32)).shape == (3, 10)
        assert model.num_parameters() == 61_706
    with pytest.raises(ShapeError, match=r"LeNet5.*\(N, 1, 32, 32\).*\(2, 1, 28, 28\)"):
        LeNet5()(np.zeros((2, 1, 28, 28)))


def test_gradient_of_the_whole_model_in_float64(both_kernels):
    nnkit.set_default_dtype("float64")
    try:
        nnkit.seed(0)
        model = LeNet5(input_size=28, activation="tanh")
        x = np.random.default_rng(0).normal(size=(2, 1, 28, 28))
        y = np.array([3, 7])
        w = model.c3.weight

        def loss_of_c3_weight(wt):
            old = model.c3.weight
            object.__setattr__(model.c3, "weight", wt)
            try:
                return losses.cross_entropy(model(x), y)
            finally:
                object.__setattr__(model.c3, "weight", old)

        report = check_grad(loss_of_c3_weight, w.data.copy(), mode="directions", n_directions=6)
        assert report.ok, str(report)
    finally:
        nnkit.set_default_dtype("float32")


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_gradient_reaching_the_first_layer_in_float64(pool, both_kernels):
    """dL/dW of C1 passes back through F5, S4, C3's input gradient and S2: checked against
    finite differences; the fast kernels split the batch of 3 images over 2 threads in every layer."""
    from nnkit import kernels

    nnkit.set_default_dtype("float64")
    try:
        nnkit.seed(1)
        model = LeNet5(input_size=28, activation="tanh", pool=pool)
        x = np.random.default_rng(1).normal(size=(3, 1, 28, 28))
        y = np.array([1, 4, 9])

        def loss_of_c1_weight(wt):
            old = model.c1.weight
            object.__setattr__(model.c1, "weight", wt)
            try:
                return losses.cross_entropy(model(x), y)
            finally:
                object.__setattr__(model.c1, "weight", old)

        with kernels.threads(2, work_per_thread=1):
            report = check_grad(loss_of_c1_weight, model.c1.weight.data.copy(), mode="directions", n_directions=6)
        assert report.ok, str(report)
    finally:
        nnkit.set_default_dtype("float32")


def test_learns_real_digits(both_kernels):
    nnkit.seed(0)
    X, y = load_digits(size=32, flatten=False)
    (Xtr, ytr), _, (Xte, yte) = train_val_test_split(X, y, val=0.0, test=0.25, seed=0)
    model = LeNet5(activation="relu", pool="max")
    opt = optim.Adam(model.parameters(), lr=0.002)
    for epoch in range(3):
        for xb, yb in minibatches(Xtr, ytr, 32, seed=epoch, drop_last=True):
            opt.zero_grad()
            losses.cross_entropy(model(xb), yb.astype(int)).backward()
            opt.step()
    with no_grad():
        accuracy = float((model(Xte).data.argmax(1) == yte).mean())
    assert accuracy >= 0.93, accuracy
