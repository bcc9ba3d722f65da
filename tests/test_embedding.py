"""Embedding layer and the neural probabilistic language model (Lecture 5)."""
import numpy as np
import pytest

import nnkit
import nnkit.optim
from nnkit.gradcheck import check_grad
from nnkit.models.language import NeuralLanguageModel, perplexity, unigram_perplexity
from nnkit.nn import Embedding, Linear, ShapeError


@pytest.fixture(autouse=True)
def float64():
    nnkit.seed(0)
    old = nnkit.default_dtype()
    nnkit.set_default_dtype("float64")
    yield
    nnkit.set_default_dtype(old)


def test_lookup_equals_one_hot_product():
    emb = Embedding(7, 3)
    idx = np.array([[0, 6, 2], [2, 2, 5]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    one_hot = np.eye(7)[idx]                       # (2, 3, 7)
    np.testing.assert_allclose(out.data, one_hot @ emb.weight.data)
    np.testing.assert_array_equal(out.data[1, 0], emb.weight.data[2])


def test_gradient_is_scatter_add_with_repeats():
    emb = Embedding(5, 2)
    idx = np.array([3, 1, 3, 3])
    g = np.arange(8.0).reshape(4, 2)
    emb(idx).backward(g)
    expected = np.zeros((5, 2))
    expected[3] = g[0] + g[2] + g[3]
    expected[1] = g[1]
    np.testing.assert_array_equal(emb.weight.grad, expected)


def test_gradient_matches_finite_differences():
    """The layer's VJP against central differences of sum(out * w_out)."""
    idx = np.array([[1, 4], [4, 0], [2, 2]])
    emb = Embedding(6, 3)
    w_out = np.random.default_rng(1).normal(size=(3, 2, 3))
    weight = emb.weight.data.copy()
    emb(idx).backward(w_out)
    numeric = np.zeros_like(weight)
    eps = 1e-6
    for k in np.ndindex(weight.shape):
        for sign in (1, -1):
            w = weight.copy()
            w[k] += sign * eps
            numeric[k] += sign * np.sum(w[idx] * w_out) / (2 * eps)
    np.testing.assert_allclose(emb.weight.grad, numeric, rtol=1e-7, atol=1e-9)
    assert np.all(emb.weight.grad[[3, 5]] == 0)  # rows nobody looked up


def test_composes_with_other_layers_gradcheck():
    emb = Embedding(4, 3)
    lin = Linear(6, 2)
    idx = np.array([[0, 3], [3, 3], [1, 2]])

    def f(weight):
        emb.weight = weight  # the checked tensor becomes the table
        return lin(emb(idx).reshape(3, 6)).tanh()

    report = check_grad(f, emb.weight.data.copy())
    assert report.ok, str(report)


def test_out_of_range_and_bad_dtype_errors_name_layer_and_range():
    emb = Embedding(10, 4)
    with pytest.raises(IndexError, match=r"Embedding\(num_embeddings=10, dim=4\).*0\.\.9.*-1 to 12"):
        emb(np.array([3, -1, 12]))
    with pytest.raises(TypeError, match="integer indices"):
        emb(np.array([0.5, 1.0]))
    np.testing.assert_array_equal(emb(np.array([1.0, 2.0])).data, emb.weight.data[[1, 2]])


def test_float32_default():
    nnkit.set_default_dtype("float32")
    emb = Embedding(3, 2)
    assert emb.weight.dtype == np.float32 and emb(np.array([0, 2])).dtype == np.float32


def test_language_model_shapes_gradients_and_learning():
    V, K = 6, 2
    model = NeuralLanguageModel(V, K, embed_dim=3, hidden=5)
    X = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    y = np.array([2, 3, 4, 5, 0])
    assert model(X).shape == (5, V)
    # every parameter gets a gradient that matches finite differences
    for name, p in model.named_parameters():
        # autodiff against central differences of the loss, entry by entry
        loss = nnkit.losses.cross_entropy(model(X), y)
        model.zero_grad()
        loss.backward()
        analytic = p.grad.copy()
        numeric = np.zeros_like(p.data)
        for k in np.ndindex(p.data.shape):
            old = p.data[k]
            p.data[k] = old + 1e-6
            up = nnkit.losses.cross_entropy(model(X), y).item()
            p.data[k] = old - 1e-6
            down = nnkit.losses.cross_entropy(model(X), y).item()
            p.data[k] = old
            numeric[k] = (up - down) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8, err_msg=name)
    # it learns this deterministic sequence: perplexity falls far below the unigram baseline
    opt = nnkit.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        nnkit.losses.cross_entropy(model(X), y).backward()
        opt.step()
    assert perplexity(model, X, y) < 1.2
    assert unigram_perplexity(y, y, V, alpha=0) == pytest.approx(5.0)
    with pytest.raises(ShapeError, match=r"\(N, 2\)"):
        model(np.array([1, 2, 3]))


def test_parameter_count_is_linear_in_context():
    counts = [NeuralLanguageModel(50, K, embed_dim=8, hidden=16).num_parameters() for K in (1, 2, 3, 4)]
    steps = np.diff(counts)
    assert np.all(steps == steps[0]) and steps[0] == 8 * 16 + 8 * 50
