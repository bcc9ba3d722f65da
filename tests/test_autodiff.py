"""Every autodiff primitive against finite differences, plus the tape's semantics."""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnkit.autodiff as ad
from nnkit.autodiff import Tensor, grad, no_grad, value_and_grad
from nnkit.gradcheck import GradientCheckError, assert_grad, check_grad, numerical_gradient

rng = np.random.default_rng(0)


def positive(shape):
    return rng.uniform(0.5, 2.0, size=shape)


def normal(shape):
    return rng.standard_normal(shape)


# (name, function of tensors, input makers): shapes chosen so broadcasting is exercised
UNARY = {
    "neg": lambda a: -a,
    "exp": ad.exp,
    "log": ad.log,
    "sqrt": ad.sqrt,
    "tanh": ad.tanh,
    "sigmoid": ad.sigmoid,
    "softplus": ad.softplus,
    "sin": ad.sin,
    "cos": ad.cos,
    "square": lambda a: a ** 2,
    "cube_root_pow": lambda a: a ** (1 / 3),
    "sum": lambda a: a.sum(),
    "sum_axis0": lambda a: a.sum(axis=0),
    "sum_keepdims": lambda a: a.sum(axis=-1, keepdims=True),
    "mean": lambda a: a.mean(axis=1),
    "max_axis": lambda a: a.max(axis=1),
    "min_all": lambda a: a.min(),
    "logsumexp": lambda a: ad.logsumexp(a, axis=-1),
    "softmax": lambda a: ad.softmax(a, axis=-1),
    "softmax_axis0": lambda a: ad.softmax(a, axis=0),
    "log_softmax": lambda a: ad.log_softmax(a, axis=-1),
    "reshape": lambda a: a.reshape(-1) * ad.Tensor(np.arange(a.size, dtype=a.dtype)),
    "transpose": lambda a: a.T @ ad.Tensor(np.ones((a.shape[0], 2), dtype=a.dtype)),
    "transpose_axes": lambda a: a.reshape(a.shape[0], 1, a.shape[1]).transpose(2, 0, 1),
    "getitem_slice": lambda a: a[1:, ::2],
    "getitem_fancy": lambda a: a[np.array([0, 0, 2]), np.array([1, 1, 0])],
    "clip": lambda a: ad.clip(a, -0.5, 0.5),
    "abs": ad.abs,
    "relu": ad.relu,
    "astype32_64": lambda a: a.astype(np.float64),
}

BINARY = {
    "add_broadcast": (lambda a, b: a + b, (3, 4), (4,)),
    "sub_broadcast": (lambda a, b: a - b, (3, 1), (1, 4)),
    "mul_broadcast": (lambda a, b: a * b, (2, 3, 4), (3, 1)),
    "div": (lambda a, b: a / b, (3, 4), "positive(4,)"),
    "pow_tensor": (lambda a, b: a ** b, "positive(3,)", (3,)),
    "matmul_2d": (lambda a, b: a @ b, (3, 4), (4, 5)),
    "matmul_batched": (lambda a, b: a @ b, (2, 3, 4), (4, 2)),
    "matmul_vec_left": (lambda a, b: a @ b, (4,), (4, 3)),
    "matmul_vec_right": (lambda a, b: a @ b, (3, 4), (4,)),
    "matmul_vec_vec": (lambda a, b: a @ b, (4,), (4,)),
    "matmul_vec_batched": (lambda a, b: a @ b, (4,), (2, 4, 3)),
    "maximum": (lambda a, b: ad.maximum(a, b), (3, 4), (4,)),
    "minimum": (lambda a, b: ad.minimum(a, b), (3, 4), (3, 4)),
    "where": (lambda a, b: ad.where(a.data > 0, a, b), (3, 4), (3, 4)),
    "concatenate": (lambda a, b: ad.concatenate([a, b], axis=1), (3, 2), (3, 4)),
    "stack": (lambda a, b: ad.stack([a, b], axis=1), (3, 4), (3, 4)),
}


def make(spec):
    if isinstance(spec, str):
        return eval(spec)  # "positive(shape)" for inputs that must stay positive
    return normal(spec)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_primitive_gradients(name):
    f = UNARY[name]
    x = positive((4, 3)) if name in ("log", "sqrt", "cube_root_pow") else normal((4, 3))
    if name in ("abs", "relu", "clip"):
        x = x + np.sign(x) * 0.05  # keep away from the kink, where the derivative jumps
    assert_grad(f, x)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_primitive_gradients(name):
    f, sa, sb = BINARY[name]
    a, b = make(sa), make(sb)
    if name in ("maximum", "minimum"):
        b = b + 0.3  # ties have no derivative
    assert_grad(f, a, b)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    inner=st.integers(1, 4),
    broadcast_row=st.booleans(),
)
def test_random_shapes_composite(rows, cols, inner, broadcast_row):
    """A small network-like expression on hypothesis-chosen shapes."""
    r = np.random.default_rng(rows * 100 + cols * 10 + inner)
    x = r.standard_normal((rows, inner))
    w = r.standard_normal((inner, cols))
    b = r.standard_normal((cols,) if broadcast_row else (1, cols))

    def f(x, w, b):
        h = ad.tanh(x @ w + b)
        return ad.log_softmax(h * 2.0, axis=-1).sum(axis=0) + ad.sigmoid(h).mean()

    assert_grad(f, x, w, b)


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,)])
def test_fused_linear_gradients(x_shape):
    w, b = normal((3, 4)), normal((3,))
    assert_grad(lambda x, w, b: ad.linear(x, w, b), normal(x_shape), w, b)
    assert_grad(lambda x, w: ad.linear(x, w), normal(x_shape), w)
    np.testing.assert_allclose(ad.linear(Tensor(np.ones((2, 4))), Tensor(w), Tensor(b)).data, np.ones((2, 4)) @ w.T + b)


def test_directional_check_on_larger_input():
    x = normal((20, 30))
    w = normal((30, 10))
    report = check_grad(lambda x, w: ad.relu(x @ w).sum(axis=1), x, w, mode="directions")
    assert report.ok, str(report)


def test_gradcheck_detects_a_wrong_vjp():
    def bad_square(a):  # claims d(a^2)/da = a instead of 2a
        return Tensor.from_op(a.data ** 2, (a,), lambda g: (g * a.data,), "bad_square")

    with pytest.raises(GradientCheckError, match="analytic"):
        assert_grad(bad_square, normal((3,)))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_runs_in_float32(name):
    x = (positive((4, 3)) if name in ("log", "sqrt", "cube_root_pow") else normal((4, 3))).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    out = UNARY[name](t)
    assert out.dtype in (np.float32, np.float64)
    if name != "astype32_64":
        assert out.dtype == np.float32, f"{name} promoted float32 to {out.dtype}"
    out.sum().backward()
    assert t.grad.dtype == np.float32 and t.grad.shape == x.shape


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_runs_in_float32(name):
    f, sa, sb = BINARY[name]
    a = Tensor(make(sa).astype(np.float32), requires_grad=True)
    b = Tensor(make(sb).astype(np.float32), requires_grad=True)
    out = f(a, b)
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32


def test_scalar_constants_keep_float32():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = 2.0 * x + np.float64(1.5) - x / 3 + 1
    assert y.dtype == np.float32


def test_known_values():
    """Outputs against hand-computed numbers: the hacker's guide circuit f = (x + y) z."""
    x, y, z = (Tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad, y.grad, z.grad) == (-4.0, -4.0, 3.0)


def test_softmax_is_stable_for_huge_logits():
    logits = Tensor(np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]]), requires_grad=True)
    p = ad.softmax(logits)
    e = np.exp([-1.0, 0.0, -2.0])
    np.testing.assert_allclose(p.data[0], e / e.sum())
    np.testing.assert_allclose(p.data[1], [1 / 3] * 3)
    lsm = ad.log_softmax(logits)
    assert np.all(np.isfinite(lsm.data))
    np.testing.assert_allclose(ad.logsumexp(logits).data[0], 1001 + np.log(e.sum()))


def test_long_chain_has_no_recursion_limit():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 10_000, rtol=1e-10)


def test_backward_twice_accumulates_until_zero_grad():
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    np.testing.assert_allclose(w.grad, [2.0, -4.0])
    loss = (w * w).sum()
    loss.backward()
    np.testing.assert_allclose(w.grad, [4.0, -8.0])  # accumulated
    w.zero_grad()
    (w * 3).sum().backward()
    np.testing.assert_allclose(w.grad, [3.0, 3.0])


def test_shared_subexpression_gradient_adds_up():
    x = Tensor(3.0, requires_grad=True)
    y = x * x
    z = y + y * x  # dz/dx = 2x + 3x^2
    z.backward()
    assert x.grad == pytest.approx(2 * 3 + 3 * 9)


def test_retain_grad_keeps_intermediate_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)


def test_no_grad_records_nothing():
    w = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        y = (w * 2).sum()
    assert not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        y.backward()


def test_no_grad_blocks_nest_and_restore_the_setting():
    w = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        with no_grad():
            assert not ad.is_grad_enabled()
        assert not ad.is_grad_enabled() and not (w * 2).requires_grad
    assert ad.is_grad_enabled() and (w * 2).requires_grad
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0
    assert ad.is_grad_enabled()


def test_no_grad_holds_for_its_own_thread_only():
    """As in PyTorch: evaluation under no_grad() in one thread leaves another thread's tape alone."""
    w = Tensor(np.ones(2), requires_grad=True)
    inside, entered, other_done = {}, threading.Event(), threading.Event()

    def evaluate():
        with no_grad():
            entered.set()
            other_done.wait(5)
            inside["records"] = (w * 2).requires_grad

    t = threading.Thread(target=evaluate)
    t.start()
    entered.wait(5)
    records_here = (w * 2).requires_grad  # this thread is not inside no_grad()
    other_done.set()
    t.join(5)
    assert records_here is True and inside["records"] is False


def test_backward_on_non_scalar_needs_gradient():
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (w * 2).backward()


def test_getitem_repeated_indices_accumulate():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([1, 1, 3])].sum().backward()
    np.testing.assert_allclose(x.grad, [0, 2, 0, 1])


def test_functional_grad_matches_finite_differences():
    def f(w):
        return ad.log(1 + ad.exp(-(w * w).sum())) + ad.sin(w).sum()

    w0 = normal((5,))
    g = grad(f)(w0)
    num = numerical_gradient(lambda w: f(Tensor(w)).item(), w0)
    np.testing.assert_allclose(g, num, atol=1e-7)
    value, (gx, gy) = value_and_grad(lambda x, y: (x * y).sum(), argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert value == 11.0
    np.testing.assert_allclose(gx, [3, 4])
    np.testing.assert_allclose(gy, [1, 2])


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 2\)"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        Tensor(np.ones((2, 3))).reshape(4)
