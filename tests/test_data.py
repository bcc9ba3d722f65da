"""Toy data sets, batching, splits, folds, the offline digits and the IDX reader."""
import gzip
import struct

import numpy as np
import pytest

import nnkit
from nnkit import data


def test_xor_truth_table():
    X, y = data.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert X.dtype == np.float64 and y.dtype == np.float64
    _, ys = data.xor(signed=True)
    np.testing.assert_array_equal(ys, [-1, 1, 1, -1])


def test_hackers_guide_points_both_versions():
    X, y = data.hackers_guide_points()
    assert X.shape == (6, 2) and y.shape == (6,)
    np.testing.assert_array_equal(y, [1, -1, 1, -1, -1, 1])
    # initial classifier of the guide, a=1, b=-2, c=-1: scores and 4/6 accuracy on the code set
    scores = X @ np.array([1.0, -2.0]) - 1.0
    np.testing.assert_allclose(scores, [-1.2, -0.3, 1.8, 0.9, -4.2, 7.1], atol=1e-12)
    assert np.mean(np.sign(scores) == y) == pytest.approx(4 / 6)
    Xt, yt = data.hackers_guide_points("table")
    np.testing.assert_array_equal(Xt[1], [-0.3, 0.5])
    assert (np.abs(Xt - X).sum(axis=1) > 0).sum() == 4  # the two printed sets differ in four points
    assert np.mean(np.sign(Xt @ np.array([1.0, -2.0]) - 1.0) == yt) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="'code' or 'table'"):
        data.hackers_guide_points("book")


@pytest.mark.parametrize("make", [
    lambda **kw: data.moons(101, noise=0.1, **kw),
    lambda **kw: data.circles(101, noise=0.05, **kw),
    lambda **kw: data.spirals(101, classes=3, noise=0.2, **kw),
])
def test_toy_sets_shapes_balance_and_seeding(make):
    X, y = make(seed=3)
    assert X.shape == (101, 2) and y.shape == (101,) and X.dtype == np.float64
    counts = np.bincount(y.astype(int))
    assert counts.max() - counts.min() <= 1
    X2, y2 = make(seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make(seed=4)[0], X)
    # without seed= the shared generator is used, reset by nnkit.seed
    nnkit.seed(11)
    a = make()[0]
    nnkit.seed(11)
    np.testing.assert_array_equal(a, make()[0])


def test_moons_geometry_without_noise():
    X, y = data.moons(200, noise=0.0, seed=0)
    top, bottom = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(top[:, 0], top[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(bottom[:, 0] - 1, bottom[:, 1] - 0.5), 1.0)
    assert top[:, 1].min() >= -1e-12 and bottom[:, 1].max() <= 0.5 + 1e-12


def test_circles_radii_without_noise():
    X, y = data.circles(100, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)


def test_spirals_radius_grows_along_each_arm():
    X, y = data.spirals(300, classes=3, noise=0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() == pytest.approx(0.0) and r.max() == pytest.approx(1.0)
    for k in range(3):
        arm = X[y == k]
        rk = np.hypot(arm[:, 0], arm[:, 1])
        theta = np.arctan2(arm[:, 0], arm[:, 1])  # x = r sin t, y = r cos t
        expect = 4 * (k + rk)
        np.testing.assert_allclose(np.cos(theta[rk > 0]), np.cos(expect[rk > 0]), atol=1e-9)


def test_spirals_are_not_linearly_separable():
    """A least-squares linear classifier (one-hot targets) gets well under 70% right."""
    X, y = data.spirals(300, classes=3, noise=0.1, seed=0)
    Xb = np.column_stack([X, np.ones(len(X))])
    W, *_ = np.linalg.lstsq(Xb, np.eye(3)[y.astype(int)], rcond=None)
    assert np.mean((Xb @ W).argmax(axis=1) == y) < 0.7
    Xm, ym = data.moons(200, noise=0.0, seed=0)  # the same tool is not blind: moons are mostly linear
    Xb = np.column_stack([Xm, np.ones(len(Xm))])
    W, *_ = np.linalg.lstsq(Xb, np.eye(2)[ym.astype(int)], rcond=None)
    assert np.mean((Xb @ W).argmax(axis=1) == ym) > 0.8


def test_regression_1d():
    X, t = data.regression_1d(40, noise=0.0, fn="sin", seed=1)
    assert X.shape == (40, 1) and t.shape == (40, 1)
    assert np.all(np.diff(X[:, 0]) >= 0) and X.min() >= -1 and X.max() <= 1
    np.testing.assert_allclose(t, np.sin(2 * np.pi * X))
    X, t = data.regression_1d(2000, noise=0.5, fn=lambda x: 3 * x, seed=2)
    assert np.std(t - 3 * X) == pytest.approx(0.5, rel=0.1)
    with pytest.raises(ValueError, match="unknown fn"):
        data.regression_1d(5, fn="tan")


def test_minibatches_cover_every_example_once():
    X = np.arange(23.0)[:, None]
    y = np.arange(23.0) * 10
    batches = list(data.minibatches(X, y, batch_size=5, seed=0))
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[0][:, 0] for b in batches])
    assert sorted(seen) == list(range(23)) and not np.array_equal(seen, np.arange(23))
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, xb[:, 0] * 10)  # pairs stay together
    ordered = list(data.minibatches(X, y, batch_size=10, shuffle=False, drop_last=True))
    assert [b[0][0, 0] for b in ordered] == [0, 10] and len(ordered) == 2
    with pytest.raises(ValueError, match="X has 23 examples but y has 3"):
        next(data.minibatches(X, y[:3], 4))


def test_train_val_test_split_partitions():
    X = np.arange(100.0)[:, None]
    y = np.arange(100.0)
    (xtr, ytr), (xv, yv), (xte, yte) = data.train_val_test_split(X, y, val=0.2, test=0.1, seed=0)
    assert (len(xtr), len(xv), len(xte)) == (70, 20, 10)
    assert sorted(np.concatenate([ytr, yv, yte])) == list(range(100))
    np.testing.assert_array_equal(xv[:, 0], yv)
    with pytest.raises(ValueError, match="val \\+ test < 1"):
        data.train_val_test_split(X, y, val=0.6, test=0.5)


def test_kfold():
    folds = list(data.kfold(11, k=3, seed=0))
    assert [len(v) for _, v in folds] == [4, 4, 3]
    assert sorted(np.concatenate([v for _, v in folds])) == list(range(11))
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 11


def test_load_digits_plain_and_upscaled():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.unique(y), np.arange(10))
    X28, y28 = data.load_digits(size=28, flatten=False)
    assert X28.shape == (1797, 1, 28, 28)
    np.testing.assert_array_equal(y28, y)
    # the 4-pixel frame is empty and the mean grey level is kept by the resize
    assert X28[:, :, :4].max() == 0 and X28[:, :, :, 24:].max() == 0
    np.testing.assert_allclose(X28[:, 0, 4:24, 4:24].mean(axis=(1, 2)), X.mean(axis=1), atol=0.03)


def test_resize_bilinear_known_values():
    img = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    out = data.resize_bilinear(img, 4)
    # centres of the 4 output pixels map to u = -0.25, 0.25, 0.75, 1.25 -> clamped 0, .25, .75, 1
    np.testing.assert_allclose(out[0, 0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(out[0, :, 0], [0.0, 0.5, 1.5, 2.0])
    np.testing.assert_allclose(data.resize_bilinear(img, 2), img)


# -- IDX files, written here byte by byte -------------------------------------------------------
def write_idx(path, array, code, compress):
    shape = array.shape
    raw = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    fmt = {0x08: "B", 0x0B: "h", 0x0D: "f"}[code]
    raw += struct.pack(f">{array.size}{fmt}", *array.ravel().tolist())
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as fh:
        fh.write(raw)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_ubyte_images_and_labels(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    labels = np.array([7, 2], dtype=np.uint8)
    write_idx(tmp_path / "img", images, 0x08, compress)
    write_idx(tmp_path / "lab", labels, 0x08, compress)
    got = data.read_idx(tmp_path / "img")
    assert got.shape == (2, 3, 4) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "lab"), [7, 2])


def test_read_idx_big_endian_types(tmp_path):
    shorts = np.array([[-2, 300], [1, -32000]], dtype=np.int16)
    floats = np.array([1.5, -0.25, 3e10], dtype=np.float32)
    write_idx(tmp_path / "s", shorts, 0x0B, False)
    write_idx(tmp_path / "f", floats, 0x0D, True)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "s"), shorts)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f"), floats)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "a").write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"\x00\x00")
    with pytest.raises(data.IDXFormatError, match="two zero bytes"):
        data.read_idx(tmp_path / "a")
    (tmp_path / "b").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00\x00")
    with pytest.raises(data.IDXFormatError, match="needs 5 data bytes, found 2"):
        data.read_idx(tmp_path / "b")
    (tmp_path / "c").write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(data.IDXFormatError, match="type code 0x07"):
        data.read_idx(tmp_path / "c")
