"""Neural Turing Machine addressing (neural-nets notes, "Neural Turing Machines")."""
import numpy as np
import pytest

from nnkit.models import ntm


def test_read_one_hot_and_uniform():
    M = np.arange(20.0).reshape(5, 4)
    assert np.array_equal(ntm.read(M, np.eye(5)[3]), M[3])
    assert np.allclose(ntm.read(M, np.full(5, 0.2)), M.mean(axis=0))


def test_erase_and_add():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(4, 3))
    w = np.array([1.0, 0.0, 0.5, 0.0])
    out = ntm.erase(M, w, np.ones(3))
    assert np.allclose(out[0], 0) and np.allclose(out[1], M[1]) and np.allclose(out[2], 0.5 * M[2])
    assert np.allclose(ntm.erase(M, w, np.zeros(3)), M)
    a = np.array([1.0, 2.0, 3.0])
    assert np.allclose(ntm.write(M, w, np.ones(3), a)[2], 0.5 * M[2] + 0.5 * a)


def test_content_addressing():
    M = np.array([[1.0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    k = np.array([0.0, 2.0, 0.1])
    assert np.allclose(ntm.content_addressing(M, k, 0.0), 0.25)
    w = ntm.content_addressing(M, k, 100.0)
    assert w.argmax() == 1 and w[1] > 0.999 and np.isclose(w.sum(), 1)
    cos = ntm.cosine_similarity(k, M)
    ref = np.exp(3 * cos) / np.exp(3 * cos).sum()
    assert np.allclose(ntm.content_addressing(M, k, 3.0), ref)


def test_interpolation_gate():
    wc, wp = np.array([0.7, 0.2, 0.1]), np.array([0.0, 0.0, 1.0])
    assert np.allclose(ntm.interpolate(wc, wp, 0.0), wp)
    assert np.allclose(ntm.interpolate(wc, wp, 1.0), wc)


def test_shift_and_sharpen_numbers_from_the_notes():
    w = ntm.shift(np.eye(5)[2], [0.1, 0.8, 0.1])
    assert np.allclose(w, [0, 0.1, 0.8, 0.1, 0])
    assert np.allclose(ntm.sharpen(w, 2), [0, 1 / 66, 64 / 66, 1 / 66, 0])
    assert np.allclose(ntm.sharpen(w, 2), [0, 0.01515, 0.96970, 0.01515, 0], atol=1e-5)
    # the shift is circular: a focus on the last location spills onto the first
    assert np.allclose(ntm.shift(np.eye(5)[4], [0.1, 0.8, 0.1]), [0.1, 0, 0, 0.1, 0.8])
    # against the formula w~(i) = sum_j w(j) s((i - j) mod N) with s indexed by shift -1, 0, 1
    rng = np.random.default_rng(0)
    wg = rng.dirichlet(np.ones(6))
    s = {-1: 0.2, 0: 0.5, 1: 0.3}
    ref = [sum(wg[j] * s.get(((i - j + 1) % 6) - 1, 0.0) for j in range(6)) for i in range(6)]
    assert np.allclose(ntm.shift(wg, [0.2, 0.5, 0.3]), ref)


def test_errors_name_the_function():
    with pytest.raises(ValueError, match="ntm.read"):
        ntm.read(np.zeros((4, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="gamma"):
        ntm.sharpen(np.ones(3) / 3, 0.5)
