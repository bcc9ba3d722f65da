"""Layers: gradient checks in float64, float32 runs, modes, state and errors."""
import numpy as np
import pytest

import nnkit
from nnkit import nn
from nnkit.autodiff import Tensor
from nnkit.gradcheck import assert_grad


pytestmark = pytest.mark.usefixtures("float64_seeded")  # see tests/conftest.py


def layer_as_function(layer, x):
    """A function of (input, *parameters) that a gradient check can perturb."""
    params = layer.parameters()

    def f(x_t, *ps):
        return _forward_with(layer, params, ps, x_t)

    return f, [x] + [p.data.copy() for p in params]


def _forward_with(layer, params, tensors, x):
    """Run ``layer(x)`` with each parameter swapped for the given tensor."""
    owners = []
    for m in layer.modules():
        for name, value in list(vars(m).items()):
            for p, t in zip(params, tensors):
                if value is p:
                    owners.append((m, name, p))
                    object.__setattr__(m, name, t)
    try:
        return layer(x)
    finally:
        for m, name, p in owners:
            object.__setattr__(m, name, p)


LAYERS = {
    "linear": (lambda: nn.Linear(4, 3), (5, 4)),
    "linear_3d_input": (lambda: nn.Linear(4, 2), (2, 3, 4)),
    "linear_no_bias": (lambda: nn.Linear(4, 3, bias=False), (5, 4)),
    "sigmoid": (lambda: nn.Sigmoid(), (5, 4)),
    "tanh": (lambda: nn.Tanh(), (5, 4)),
    "hardtanh": (lambda: nn.HardTanh(), (5, 4)),
    "relu": (lambda: nn.ReLU(), (5, 4)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), (5, 4)),
    "prelu": (lambda: nn.PReLU(), (5, 4)),
    "softplus": (lambda: nn.Softplus(), (5, 4)),
    "softmax": (lambda: nn.Softmax(), (5, 4)),
    "gaussian_rbf": (lambda: nn.GaussianRBF(), (5, 4)),
    "ricker": (lambda: nn.Ricker(), (5, 4)),
    "maxout": (lambda: nn.Maxout(4, 3, pieces=3), (5, 4)),
    "rbf_layer": (lambda: nn.RBFLayer(3, 4, out_features=2), (6, 3)),
    "elu": (lambda: nn.ELU(alpha=0.7), (5, 4)),
    "gelu": (lambda: nn.GELU(), (5, 4)),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), (5, 4)),
    "batchnorm": (lambda: nn.BatchNorm1d(4), (6, 4)),
    "batchnorm1d_sequences": (lambda: nn.BatchNorm1d(3), (4, 3, 5)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 3)),
    "rrelu_eval": (lambda: nn.RReLU().eval(), (5, 4)),
    "mlp": (lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)), (4, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients(name):
    make, shape = LAYERS[name]
    layer = make()
    x = np.random.default_rng(1).standard_normal(shape)
    if name in ("relu", "leaky_relu", "prelu", "hardtanh", "rrelu_eval", "elu"):
        x = x + np.sign(x) * 0.1  # away from the kinks
    if name == "hardtanh":
        x = np.where(np.abs(np.abs(x) - 1) < 0.1, x * 0.5, x)
    f, inputs = layer_as_function(layer, x)
    assert_grad(f, *inputs)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_runs_in_float32(name):
    nnkit.set_default_dtype("float32")
    make, shape = LAYERS[name]
    layer = make()
    x = Tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32), requires_grad=True)
    y = layer(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    for p in layer.parameters():
        assert p.grad is not None and p.grad.dtype == np.float32


def test_linear_matches_numpy():
    layer = nn.Linear(3, 2)
    x = np.arange(6.0).reshape(2, 3)
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected)


def test_step_and_sign_have_zero_gradient():
    x = Tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    (nn.step(x) + nn.sign(x)).sum().backward()
    np.testing.assert_array_equal(x.grad, 0)
    np.testing.assert_array_equal(nn.step(Tensor([-1.0, 0.5])).data, [0, 1])


def test_activation_values_from_the_notes():
    """Hard tanh = the corrected ramp; Gaussian and Ricker RBF values (notes, activations)."""
    ht = nn.hardtanh(Tensor(np.array([-3.0, 0.3, 2.0]))).data
    np.testing.assert_allclose(ht, [-1.0, 0.3, 1.0])
    np.testing.assert_allclose(nn.gaussian_rbf(Tensor(np.array([0.0, 1.0]))).data, [1.0, np.exp(-1)])
    r = np.array([0.0, 1.0, np.sqrt(3.0)])
    np.testing.assert_allclose(nn.ricker(Tensor(r)).data, [1.0, 0.0, -2 * np.exp(-1.5)], atol=1e-12)


def test_maxout_with_a_zero_piece_is_relu():
    m = nn.Maxout(3, 2, pieces=2)
    m.weight.data[:2] = 0
    m.bias.data[:2] = 0  # piece 0 is the constant 0
    x = np.random.default_rng(2).standard_normal((5, 3))
    affine = x @ m.weight.data[2:].T + m.bias.data[2:]
    np.testing.assert_allclose(m(x).data, np.maximum(affine, 0))


def test_rrelu_slopes_lie_in_range_during_training():
    layer = nn.RReLU(0.1, 0.3)
    x = -np.ones((1000,))
    y = layer(x).data
    assert y.min() >= -0.3 and y.max() <= -0.1 and y.std() > 0.01
    np.testing.assert_allclose(layer.eval()(x).data, -0.2)


def test_inverted_dropout_keeps_the_expectation_and_is_identity_in_eval():
    layer = nn.Dropout(0.3)
    x = np.ones((200, 500))
    y = layer(x).data
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    assert abs(y.mean() - 1.0) < 0.01
    np.testing.assert_array_equal(layer.eval()(x).data, x)


def test_batchnorm_normalizes_and_tracks_running_stats():
    bn = nn.BatchNorm1d(3, momentum=0.5)
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(64, 3))
    y = bn(x).data
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(bn.running_mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.5 + 0.5 * x.var(axis=0, ddof=1))
    bn.eval()
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(bn(x).data, expected)


@pytest.mark.parametrize("name,expected_std", [
    ("xavier_uniform", lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("xavier_normal", lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("he_normal", lambda fi, fo: np.sqrt(2 / fi)),
    ("he_uniform", lambda fi, fo: np.sqrt(2 / fi)),
    ("lecun_normal", lambda fi, fo: np.sqrt(1 / fi)),
])
def test_initializer_scales(name, expected_std):
    w = nn.init.get(name)((400, 300))  # (fan_out, fan_in)
    assert abs(w.std() - expected_std(300, 400)) < 0.03 * expected_std(300, 400)
    assert abs(w.mean()) < 0.01


def test_orthogonal_and_identity_init():
    q = nn.init.orthogonal((6, 4))
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    np.testing.assert_array_equal(nn.init.identity((3, 3), gain=0.5), 0.5 * np.eye(3))
    with pytest.raises(ValueError, match="square"):
        nn.init.identity((3, 2))


def test_parameters_state_dict_and_modes():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Dropout(0.5), nn.Linear(3, 1))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert model.num_parameters() == 6 + 3 + 3 + 3 + 3 + 1
    state = model.state_dict()
    assert "1.running_mean" in state
    other = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Dropout(0.5), nn.Linear(3, 1))
    other.load_state_dict(state)
    x = np.random.default_rng(4).standard_normal((5, 2))
    model.eval(), other.eval()
    assert not model[2].training
    np.testing.assert_allclose(model(x).data, other(x).data)
    bad = dict(state)
    bad["0.weight"] = np.zeros((4, 2))
    with pytest.raises(nn.ShapeError, match=r"0.weight expects shape \(3, 2\), got \(4, 2\)"):
        other.load_state_dict(bad)


def test_shape_errors_name_the_layer_and_both_shapes():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(nn.ShapeError) as info:
        model(np.ones((10, 2)))
    message = str(info.value)
    assert "Sequential layer 2" in message and "Linear(in_features=4" in message
    assert "(..., 4)" in message and "(10, 8)" in message


def test_shared_parameter_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(model.parameters()) == 2
