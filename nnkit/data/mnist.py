"""MNIST and Fashion-MNIST: 28x28 grey images, 10 classes, 60,000 training and 10,000 test images.

The gzipped IDX files are downloaded once (checked against the SHA-256 sums
below), cached, and read with :func:`nnkit.data.idx.read_idx`.  Lecture 10,
§2.1 (MNIST); Xiao, Rasul & Vollgraf (2017) for Fashion-MNIST.
"""
from __future__ import annotations

import numpy as np

from nnkit.data.download import DownloadError, download
from nnkit.data.idx import read_idx

MNIST = {
    "name": "mnist",
    "mirrors": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "files": {
        "train": (("train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
                  ("train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c")),
        "test": (("t10k-images-idx3-ubyte.gz",
                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
                 ("t10k-labels-idx1-ubyte.gz",
                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")),
    },
}

FASHION_MNIST = {
    "name": "fashion-mnist",
    "mirrors": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ],
    "files": {
        "train": (("train-images-idx3-ubyte.gz",
                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
                  ("train-labels-idx1-ubyte.gz",
                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845")),
        "test": (("t10k-images-idx3-ubyte.gz",
                  "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
                 ("t10k-labels-idx1-ubyte.gz",
                  "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5")),
    },
}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _fetch(spec, file_name, sha256, cache_dir, progress):
    errors = []
    for base in spec["mirrors"]:
        try:
            return download(base + file_name, path=f"{spec['name']}/{file_name}", sha256=sha256,
                            cache_dir=cache_dir, progress=progress)
        except DownloadError as err:
            errors.append(str(err))
    raise DownloadError(f"{spec['name']}: every mirror failed for {file_name}:\n  " + "\n  ".join(errors))


def load_idx_dataset(spec: dict, split: str = "train", cache_dir=None, flatten: bool = False,
                     dtype=np.float32, progress: bool = True):
    """Load one split of an image data set described by ``spec`` (see :data:`MNIST`).

    Returns ``X`` of shape (N, 28, 28) (or (N, 784) with ``flatten``) scaled to
    [0, 1], and ``y`` of shape (N,) with the labels as floats.
    """
    if split not in spec["files"]:
        raise ValueError(f"{spec['name']}: split must be one of {sorted(spec['files'])}, got {split!r}")
    (img_file, img_sha), (lab_file, lab_sha) = spec["files"][split]
    images = read_idx(_fetch(spec, img_file, img_sha, cache_dir, progress))
    labels = read_idx(_fetch(spec, lab_file, lab_sha, cache_dir, progress))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{spec['name']}: expected images (N, h, w) and labels (N,), "
                         f"got {images.shape} and {labels.shape}")
    X = images.astype(dtype) / 255.0
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(dtype)


def load_mnist(split: str = "train", cache_dir=None, flatten: bool = False, dtype=np.float32,
               progress: bool = True):
    """MNIST handwritten digits (LeCun et al.): ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000)."""
    return load_idx_dataset(MNIST, split, cache_dir, flatten, dtype, progress)


def load_fashion_mnist(split: str = "train", cache_dir=None, flatten: bool = False,
                       dtype=np.float32, progress: bool = True):
    """Fashion-MNIST clothing images; class names in :data:`FASHION_CLASSES`."""
    return load_idx_dataset(FASHION_MNIST, split, cache_dir, flatten, dtype, progress)
