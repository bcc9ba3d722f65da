"""The library on every array backend: NumPy, the strict stand-in for CuPy, and CuPy itself.

``nnkit.testing.strict`` refuses NumPy arrays the way CuPy does, so a NumPy call
hidden in a hot path fails here on any machine.  Each check runs the same
computation on NumPy and on the backend under test and compares: forward values
against the NumPy result, gradients against central differences.  The CuPy
cases run only where CuPy and a GPU are present.
"""
from __future__ import annotations

import numpy as np
import pytest

import nnkit
import nnkit.testing  # noqa: F401 - registers the "strict" backend
from nnkit import backend, losses, nn, optim
from nnkit.autodiff import Tensor, ops


def _cupy_skip_reason():
    try:
        import cupy
    except ImportError:
        return "CuPy not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no GPU"
    except Exception:  # noqa: BLE001 - any CUDA failure means no usable GPU
        return "no GPU"
    return None


CUPY_SKIP = _cupy_skip_reason()
BACKENDS = ["strict", pytest.param("cupy", marks=pytest.mark.skipif(CUPY_SKIP is not None, reason=CUPY_SKIP or ""))]


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    """Switch to the backend under test (float64 parameters for gradient checks), then back."""
    old_dtype = backend.default_dtype()
    nnkit.use(request.param)
    backend.set_default_dtype("float64")
    yield request.param
    nnkit.use("numpy")
    backend.set_default_dtype(old_dtype)


def on(name, fn):
    """Run ``fn()`` under backend ``name`` and return its result as NumPy arrays."""
    current = backend.name()
    nnkit.use(name)
    try:
        return _host(fn())
    finally:
        nnkit.use(current)


def _host(x):
    if isinstance(x, (list, tuple)):
        return type(x)(_host(item) for item in x)
    if x is None or isinstance(x, (int, float)):
        return x
    return nnkit.to_numpy(x)


def fd_check(f, inputs, eps=1e-6, rtol=1e-5, atol=1e-7, n_directions=3, seed=0):
    """Check reverse-mode gradients of ``f`` on the backend in use against central differences.

    ``f`` maps Tensors to a Tensor; ``inputs`` are float64 NumPy arrays.  The output is
    reduced to sum(f(x) * r) with a fixed random r; the gradient is compared along a few
    random directions v: <grad, v> against (F(x + eps v) - F(x - eps v)) / (2 eps).
    """
    rng = np.random.default_rng(seed)
    out = f(*[Tensor(nnkit.to_device(x)) for x in inputs])
    r = rng.standard_normal(out.shape)

    def scalar(arrays):
        y = f(*[Tensor(nnkit.to_device(a)) for a in arrays])
        assert isinstance(y.data, backend.array_type()), f"output is a {type(y.data)}, not a {backend.array_type()}"
        return float(np.sum(nnkit.to_numpy(y) * r))

    leaves = [Tensor(nnkit.to_device(x), requires_grad=True) for x in inputs]
    y = f(*leaves)
    y.backward(nnkit.to_device(r.astype(y.dtype)))
    grads = []
    for t in leaves:
        assert t.grad is None or isinstance(t.grad, backend.array_type())
        grads.append(np.zeros(t.shape) if t.grad is None else nnkit.to_numpy(t.grad))
    for _ in range(n_directions):
        vs = [rng.standard_normal(x.shape) for x in inputs]
        plus = scalar([x + eps * v for x, v in zip(inputs, vs)])
        minus = scalar([x - eps * v for x, v in zip(inputs, vs)])
        numeric = (plus - minus) / (2 * eps)
        analytic = sum(float(np.sum(g * v)) for g, v in zip(grads, vs))
        assert abs(analytic - numeric) <= atol + rtol * abs(numeric), (analytic, numeric)
    return grads


def rand(*shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed + sum(shape)).uniform(low, high, shape)


# ------------------------------------------------------------- primitives
UNARY = {
    "exp": (ops.exp, (3, 4)), "log": (lambda a: ops.log(a * a + 0.5), (3, 4)),
    "sqrt": (lambda a: ops.sqrt(a * a + 0.5), (3, 4)), "abs": (ops.abs, (3, 4)),
    "sin": (ops.sin, (3, 4)), "cos": (ops.cos, (3, 4)), "tanh": (ops.tanh, (3, 4)),
    "sigmoid": (ops.sigmoid, (3, 4)), "relu": (ops.relu, (3, 4)), "softplus": (ops.softplus, (3, 4)),
    "clip": (lambda a: ops.clip(a, -0.5, 0.5), (3, 4)), "pow": (lambda a: a ** 3, (3, 4)),
    "sum_axis": (lambda a: ops.sum(a, axis=0), (3, 4)), "mean_keep": (lambda a: ops.mean(a, 1, keepdims=True), (3, 4)),
    "max_axis": (lambda a: ops.max(a, axis=1), (3, 4)), "min_all": (ops.min, (3, 4)),
    "logsumexp": (ops.logsumexp, (3, 4)), "softmax": (ops.softmax, (3, 4)),
    "log_softmax": (lambda a: ops.log_softmax(a, axis=0), (3, 4)),
    "reshape": (lambda a: ops.reshape(a, (2, 6)) * 2, (3, 4)), "transpose": (lambda a: ops.transpose(a, (2, 0, 1)), (2, 3, 4)),
    "getitem_repeat": (lambda a: a[[0, 0, 2]], (3, 4)), "getitem_slice": (lambda a: a[1:, ::2], (3, 4)),
    "astype": (lambda a: ops.astype(a, "float32").astype("float64") * 1.5, (3, 4)),
    "rpow": (lambda a: 2.0 ** a, (3, 4)),
}

BINARY = {
    "add_broadcast": (ops.add, (3, 4), (4,)), "sub": (ops.sub, (3, 4), (3, 1)),
    "mul": (ops.mul, (3, 4), (1, 4)), "div": (lambda a, b: a / (b * b + 1), (3, 4), (3, 4)),
    "matmul": (ops.matmul, (3, 4), (4, 2)), "matmul_batched": (ops.matmul, (2, 3, 4), (4, 5)),
    "matmul_vec": (ops.matmul, (4,), (4, 3)), "linear": (lambda x, w: ops.linear(x, w), (5, 3), (2, 3)),
    "maximum": (ops.maximum, (3, 4), (3, 4)), "minimum": (ops.minimum, (3, 4), (4,)),
    "where": (lambda a, b: ops.where(a.data > 0, a, b), (3, 4), (3, 4)),
    "concatenate": (lambda a, b: ops.concatenate([a, b], axis=1), (3, 4), (3, 2)),
    "stack": (lambda a, b: ops.stack([a, b * 2], axis=1), (3, 4), (3, 4)),
    "pow_tensor": (lambda a, b: (a * a + 0.5) ** b, (3, 4), (3, 4)),
    "scalar_ops": (lambda a, b: (1 - a) * 3 + b / 2 - 1 / (b * b + 2), (3, 4), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_primitive(backend_name, name):
    f, shape = UNARY[name]
    x = rand(*shape)
    assert np.allclose(on(backend_name, lambda: f(Tensor(x))), on("numpy", lambda: f(Tensor(x))))
    fd_check(f, [x], **({"eps": 1e-2, "rtol": 1e-3} if name == "astype" else {}))  # float32 rounding


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_primitive(backend_name, name):
    f, sa, sb = BINARY[name]
    a, b = rand(*sa, seed=1), rand(*sb, seed=2)
    assert np.allclose(on(backend_name, lambda: f(Tensor(a), Tensor(b))), on("numpy", lambda: f(Tensor(a), Tensor(b))))
    fd_check(f, [a, b])


def test_functional_grad(backend_name):
    from nnkit.autodiff import grad

    x = nnkit.to_device(np.array([0.5, -1.0, 2.0]))
    g = grad(lambda t: (ops.tanh(t) * t).sum())(x)
    assert isinstance(g, backend.array_type())
    expected = np.tanh(x.get()) + x.get() * (1 - np.tanh(x.get()) ** 2)
    assert np.allclose(nnkit.to_numpy(g), expected)


# ------------------------------------------------------------------ layers
LAYERS = {
    "linear": (lambda: nn.Linear(4, 3), (5, 4)),
    "mlp": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2), nn.Sigmoid()), (5, 4)),
    "activations": (lambda: nn.Sequential(nn.ReLU(), nn.LeakyReLU(0.1), nn.Softplus(), nn.HardTanh()), (5, 4)),
    "prelu_maxout": (lambda: nn.Sequential(nn.PReLU(), nn.Maxout(4, 3, 2)), (5, 4)),
    "softmax": (lambda: nn.Softmax(), (5, 4)),
    "rbf": (lambda: nn.RBFLayer(4, 3), (5, 4)),
    "batchnorm": (lambda: nn.BatchNorm1d(4), (6, 4)),
    "elu_gelu": (lambda: nn.Sequential(nn.ELU(), nn.GELU(), nn.GELU(approximate="tanh")), (5, 4)),
    "batchnorm_sequences_images": (lambda: nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3)), (4, 2, 6)),
    "batchnorm2d": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)), (2, 2, 5, 5)),
    "dropout": (lambda: nn.Dropout(0.3), (6, 4)),
    "rrelu_training": (lambda: nn.RReLU(), (6, 4)),
    "step_sign_ramp": (lambda: nn.Sequential(nn.Linear(4, 4), nn.Ramp(), nn.Tanh()), (6, 4)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)),
    "conv2d_stride_dilation": (lambda: nn.Conv2d(2, 4, 3, stride=2, dilation=2, groups=2, padding="same"), (2, 2, 7, 7)),
    "conv1d_causal": (lambda: nn.Conv1d(2, 3, 3, dilation=2, causal=True), (2, 2, 9)),
    "maxpool": (lambda: nn.MaxPool2d(2), (2, 3, 4, 6)),
    "avgpool_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 5, 5)),
    "lenet_block": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)),
                    (2, 1, 6, 6)),
    "rnn": (lambda: _first(nn.RNN(3, 4)), (2, 5, 3)),
    "lstm": (lambda: _first(nn.LSTM(3, 4)), (2, 5, 3)),
    "lstm_peephole": (lambda: _first(nn.LSTM(3, 4, peephole=True)), (2, 4, 3)),
    "lstm_coupled": (lambda: _first(nn.LSTM(3, 4, coupled=True)), (2, 4, 3)),
    "gru": (lambda: _first(nn.GRU(3, 4)), (2, 5, 3)),
    "bidirectional": (lambda: _first(nn.Bidirectional(nn.LSTM(3, 4), nn.GRU(3, 4))), (2, 4, 3)),
    "additive_attention_masked": (lambda: _SelfAttend(nn.AdditiveAttention(3, 3, 5)), (2, 4, 3)),
    "dot_attention": (lambda: _SelfAttend(nn.DotProductAttention()), (2, 4, 3)),
}


class _SelfAttend(nn.Module):
    """Attention from every position of x to the positions of x, the last one masked out."""

    def __init__(self, attention):
        super().__init__()
        self.attention = attention

    def forward(self, x):
        mask = np.ones((x.shape[0], x.shape[1]), dtype=bool)
        mask[:, -1] = False
        return self.attention(x, x, x, mask=nnkit.to_device(mask))[0]


class _first(nn.Module):
    """The output sequence of a recurrent layer (its first return value)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)[0]


def _forward_backward(make, x, seed=3):
    """Build the layer from ``seed``, run it on ``x`` and backpropagate a fixed upstream gradient."""
    def run():
        nnkit.seed(seed)
        layer = make()
        xt = Tensor(nnkit.to_device(x), requires_grad=True)
        out = layer(xt)
        g = np.random.default_rng(1).standard_normal(out.shape)
        out.backward(nnkit.to_device(g))
        return [out.data, xt.grad] + [p.grad for p in layer.parameters()]
    return run


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_numpy_and_input_gradient_checks(backend_name, name):
    make, shape = LAYERS[name]
    x = rand(*shape, seed=4)
    ours = on(backend_name, _forward_backward(make, x))
    reference = on("numpy", _forward_backward(make, x))
    assert len(ours) == len(reference) and ours[0].shape == reference[0].shape
    for a, b in zip(ours, reference):  # the output, the input's gradient, every parameter's gradient
        assert np.allclose(a, b, rtol=1e-10, atol=1e-12)
    nnkit.seed(3)
    layer = make()
    if name in ("dropout", "rrelu_training"):  # fresh random draws per call: check the gradient in evaluation mode
        layer.eval()
    fd_check(layer, [x])


@pytest.mark.parametrize("kernels", ["fast", "reference"])
def test_convolution_on_the_backend_matches_the_naive_loops(backend_name, kernels):
    """The naive loops run on the host (NumPy only); both conv2d implementations run on the backend."""
    from naive_loops import conv2d_loops

    from nnkit.nn.conv import conv2d

    x, w, b = rand(2, 4, 6, 5, seed=10), rand(6, 2, 3, 2, seed=11), rand(6, seed=12)
    args = [Tensor(nnkit.to_device(a), requires_grad=True) for a in (x, w, b)]
    nnkit.use(kernels=kernels)
    try:
        out = conv2d(*args, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    finally:
        nnkit.use(kernels="fast")
    assert isinstance(out.data, backend.array_type())
    expected, _ = conv2d_loops(x, w, b, stride=(2, 1), pads=(1, 1, 2, 2), dilation=(1, 2), groups=2)
    assert np.allclose(nnkit.to_numpy(out), expected)


# ---------------------------------------------------------- losses, optimizers
LOSSES = {
    "mse": (lambda p, t: losses.mse(p, t), False), "huber": (lambda p, t: losses.huber(p, t), False),
    "bce_logits": (lambda p, t: losses.binary_cross_entropy_with_logits(p, t), False),
    "cross_entropy": (lambda p, y: losses.cross_entropy(p, y), True),
    "nll": (lambda p, y: losses.nll(ops.log_softmax(p), y), True),
    "multiclass_hinge": (lambda p, y: losses.multiclass_hinge(p, y), True),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss(backend_name, name):
    f, labels = LOSSES[name]
    p = rand(5, 3, seed=5)
    target = np.array([0, 2, 1, 1, 0]) if labels else rand(5, 3, seed=6, low=0.0)
    ours = on(backend_name, lambda: f(Tensor(p), nnkit.to_device(target)))
    assert np.allclose(ours, on("numpy", lambda: f(Tensor(p), target)))
    fd_check(lambda t: f(t, nnkit.to_device(target)), [p])


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Momentum(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Nesterov(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adagrad(ps, lr=0.1),
    lambda ps: optim.RMSprop(ps, lr=0.01), lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.Adadelta(ps), lambda ps: optim.Rprop(ps),
], ids=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adadelta", "rprop"])
def test_optimizer_steps_match_numpy(backend_name, make):
    x, y = rand(8, 3, seed=7), np.array([0, 1, 2, 0, 1, 2, 0, 1])

    def train():
        nnkit.seed(1)
        model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3))
        opt = make(model.parameters())
        xs, ys = Tensor(nnkit.to_device(x)), nnkit.to_device(y)
        for _ in range(5):
            loss = losses.cross_entropy(model(xs), ys)
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
        return [p.data for p in model.parameters()] + [loss]

    ours, reference = on(backend_name, train), on("numpy", train)
    for a, b in zip(ours, reference):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert not np.allclose(ours[0], on("numpy", lambda: (nnkit.seed(1), nn.Linear(3, 5).weight.data)[1]))


def test_annealing_and_gradient_noise_match_numpy(backend_name):
    x, y = rand(6, 2, seed=8), rand(6, 1, seed=9)

    def anneal():
        nnkit.seed(5)
        model = nn.Linear(2, 1)
        xs, ys = Tensor(nnkit.to_device(x)), Tensor(nnkit.to_device(y))
        cost = lambda: losses.mse(model(xs), ys).item()
        opt = optim.SimulatedAnnealing(model.parameters(), T0=0.5)
        for _ in range(20):
            opt.step(cost)
        losses.mse(model(xs), ys).backward()
        optim.add_gradient_noise(model.parameters(), t=3)
        return [model.weight.data, model.weight.grad, opt.cost]

    ours, reference = on(backend_name, anneal), on("numpy", anneal)
    for a, b in zip(ours, reference):
        assert np.allclose(a, b, rtol=1e-10)


def test_embedding_scatters_repeated_indices(backend_name):
    nnkit.seed(2)
    emb = nn.Embedding(5, 3)
    idx = nnkit.to_device(np.array([[1, 1], [4, 1]]))
    out = emb(idx)
    out.backward(nnkit.to_device(np.ones((2, 2, 3))))
    grad = nnkit.to_numpy(emb.weight.grad)
    assert np.allclose(grad[:, 0], [0, 3, 0, 0, 1])
    assert np.allclose(nnkit.to_numpy(out)[0, 0], nnkit.to_numpy(emb.weight)[1])


# ------------------------------------------------------- moving data, errors
def test_mixing_a_numpy_array_into_an_op_names_both_libraries(backend_name):
    t = Tensor(nnkit.to_device(np.ones(3)), requires_grad=True)
    with pytest.raises(backend.BackendMismatchError, match=r"numpy\.ndarray.*to_device"):
        t + np.ones(3)
    with pytest.raises(backend.BackendMismatchError, match=r"numpy\.ndarray"):
        ops.matmul(t, np.ones((3, 2)))


def test_numbers_mix_with_tensors_on_every_backend(backend_name):
    t = Tensor(nnkit.to_device(np.array([1.0, 2.0])), requires_grad=True)
    out = (t * np.float32(2) + 1.5) / np.float64(4) - 3
    out.sum().backward()
    assert np.allclose(nnkit.to_numpy(out), [-2.125, -1.625]) and np.allclose(nnkit.to_numpy(t.grad), [0.5, 0.5])


def test_a_tensor_from_the_numpy_backend_is_refused_until_moved(backend_name):
    nnkit.use("numpy")
    old = Tensor(np.arange(3.0), requires_grad=True)
    nnkit.seed(0)
    model = nn.Linear(3, 2)
    nnkit.use(backend_name)
    new = Tensor(nnkit.to_device(np.ones(3)))
    with pytest.raises(backend.BackendMismatchError, match="numpy.ndarray") as err:
        new * old
    assert backend.array_type().__name__ in str(err.value)
    with pytest.raises(backend.BackendMismatchError, match=r"Linear: 'weight' is a numpy\.ndarray.*to_device\(model\)"):
        model(new)
    with pytest.raises(backend.BackendMismatchError, match=r"linear\(\) got a numpy\.ndarray"):
        ops.linear(new, model.weight)
    nnkit.to_device(model)
    nnkit.to_device(old)
    out = model(new * old)
    assert isinstance(out.data, backend.array_type())
    out.sum().backward()
    assert np.allclose(nnkit.to_numpy(old.grad), nnkit.to_numpy(model.weight).sum(axis=0))


def test_to_numpy_and_back(backend_name):
    a = nnkit.to_device(np.arange(6.0).reshape(2, 3))
    assert isinstance(a, backend.array_type())
    host = nnkit.to_numpy(Tensor(a))
    assert type(host) is np.ndarray and host.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError):
        np.asarray(a)  # implicit conversion is refused, as CuPy refuses it


def test_seed_makes_the_backend_generator_repeatable(backend_name):
    xp = backend.xp()
    nnkit.seed(7)
    a = nnkit.to_numpy(xp.random.standard_normal(4))
    nnkit.seed(7)
    assert np.array_equal(a, nnkit.to_numpy(xp.random.standard_normal(4)))


def test_numpy_backend_checks_nothing():
    nnkit.use("numpy")
    assert not backend.is_foreign()
    assert (Tensor(np.ones(2)) + np.ones(2)).data.tolist() == [2.0, 2.0]
