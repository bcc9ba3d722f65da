"""download(): cache, checksum, atomic rename, progress; MNIST-style loading from a local server.

Nothing here touches the network: files come from file:// URLs or from an
http.server bound to 127.0.0.1 that serves a folder this test writes.
"""
import functools
import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

from nnkit import data
from nnkit.data import mnist


@pytest.fixture
def served(tmp_path):
    """A local HTTP server over tmp_path/www; yields (folder, base_url, request_log)."""
    root = tmp_path / "www"
    root.mkdir()
    log = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            log.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_download_file_url_and_cache(tmp_path):
    payload = b"weights " * 1000
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    cache = tmp_path / "cache"
    got = data.download(src.as_uri(), sha256=sha(payload), cache_dir=cache, progress=False)
    assert got == cache / "src.bin" and got.read_bytes() == payload
    src.unlink()  # a verified cached copy is used without fetching again
    assert data.download(src.as_uri(), sha256=sha(payload), cache_dir=cache, progress=False) == got
    assert [p.name for p in cache.iterdir()] == ["src.bin"]  # no temporary files left


def test_download_http_with_progress_and_reuse(served, tmp_path, capsys):
    root, base, log = served
    payload = bytes(range(256)) * 700
    (root / "blob.bin").write_bytes(payload)
    cache = tmp_path / "cache"
    path = data.download(base + "blob.bin", path="sub/blob.bin", sha256=sha(payload).upper(),
                         cache_dir=cache, progress=True)
    assert path == cache / "sub" / "blob.bin" and path.read_bytes() == payload
    assert "blob.bin" in capsys.readouterr().err  # the tqdm bar writes to stderr in a terminal
    assert log == ["/blob.bin"]
    data.download(base + "blob.bin", path="sub/blob.bin", sha256=sha(payload), cache_dir=cache,
                  progress=False)
    assert log == ["/blob.bin"]  # cache hit: no second request


def test_download_checksum_mismatch_is_clear_and_leaves_nothing(served, tmp_path):
    root, base, _ = served
    (root / "f.bin").write_bytes(b"actual content")
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(data.ChecksumError) as info:
        data.download(base + "f.bin", sha256=wrong, cache_dir=cache, progress=False)
    msg = str(info.value)
    assert wrong in msg and sha(b"actual content") in msg and "f.bin" in msg
    assert list(cache.iterdir()) == []


def test_download_replaces_a_corrupt_cached_copy(served, tmp_path):
    root, base, log = served
    good = b"good bytes"
    (root / "g.bin").write_bytes(good)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "g.bin").write_bytes(b"truncated")
    path = data.download(base + "g.bin", sha256=sha(good), cache_dir=cache, progress=False)
    assert path.read_bytes() == good and log == ["/g.bin"]


def test_download_uses_nnkit_data_env(tmp_path, monkeypatch):
    src = tmp_path / "x.txt"
    src.write_bytes(b"x")
    monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "envcache"))
    assert data.get_cache_dir() == tmp_path / "envcache"
    assert data.download(src.as_uri(), progress=False) == tmp_path / "envcache" / "x.txt"


def test_download_missing_file_error_names_url_and_target(served, tmp_path):
    _, base, _ = served
    with pytest.raises(data.DownloadError, match=r"could not download .*nothere\.bin.*put the file at"):
        data.download(base + "nothere.bin", cache_dir=tmp_path / "c", progress=False)
    assert list((tmp_path / "c").iterdir()) == []


def idx_gz(array):
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(raw + array.astype(np.uint8).tobytes())


def test_mnist_style_loader_from_local_mirrors(served, tmp_path):
    """The loader falls back to the second mirror, checks sums and scales pixels to [0, 1]."""
    root, base, log = served
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5])
    (root / "m2").mkdir()
    files = {"img.gz": idx_gz(images), "lab.gz": idx_gz(labels)}
    for name, blob in files.items():
        (root / "m2" / name).write_bytes(blob)
    spec = {
        "name": "tiny",
        "mirrors": [base + "m1/", base + "m2/"],  # m1 does not exist: 404
        "files": {"train": (("img.gz", sha(files["img.gz"])), ("lab.gz", sha(files["lab.gz"])))},
    }
    X, y = mnist.load_idx_dataset(spec, "train", cache_dir=tmp_path / "c", progress=False)
    assert X.shape == (5, 28, 28) and X.dtype == np.float32
    np.testing.assert_allclose(X, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert (tmp_path / "c" / "tiny" / "img.gz").exists()
    Xf, _ = mnist.load_idx_dataset(spec, "train", cache_dir=tmp_path / "c", flatten=True,
                                   progress=False)
    assert Xf.shape == (5, 784)
    assert log.count("/m2/img.gz") == 1  # second load came from the cache
    with pytest.raises(ValueError, match="split must be one of"):
        mnist.load_idx_dataset(spec, "valid", cache_dir=tmp_path / "c")


def test_known_checksums_are_well_formed():
    for spec in (mnist.MNIST, mnist.FASHION_MNIST):
        for split in ("train", "test"):
            for name, digest in spec["files"][split]:
                assert name.endswith("-ubyte.gz")
                assert len(digest) == 64 and int(digest, 16) >= 0
    assert mnist.MNIST["files"]["train"][0][1].startswith("440fcabf")
