"""Data sets: toy 2-D problems, the offline digits, MNIST downloads, and batching helpers.

- toy sets: :func:`xor`, :func:`hackers_guide_points`, :func:`spirals`, :func:`moons`,
  :func:`circles`, :func:`regression_1d`
- splitting: :func:`minibatches`, :func:`train_val_test_split`, :func:`kfold`
- real images: :func:`load_digits` (bundled, offline), :func:`load_mnist`,
  :func:`load_fashion_mnist` (downloaded once through :func:`download`)
- augmentation: :func:`pad`, :func:`shift`, :func:`random_shift`, :func:`hflip`
"""
from nnkit.data.augment import hflip, pad, random_shift, shift
from nnkit.data.batching import kfold, minibatches, train_val_test_split
from nnkit.data.digits import load_digits, resize_bilinear
from nnkit.data.download import ChecksumError, DownloadError, download, get_cache_dir, sha256sum
from nnkit.data.idx import IDXFormatError, parse_idx, read_idx
from nnkit.data.mnist import (
    FASHION_CLASSES,
    FASHION_MNIST,
    MNIST,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
)
from nnkit.data.toy import circles, hackers_guide_points, moons, regression_1d, spirals, xor

__all__ = [
    "xor", "hackers_guide_points", "spirals", "moons", "circles", "regression_1d",
    "minibatches", "train_val_test_split", "kfold",
    "load_digits", "resize_bilinear", "pad", "shift", "random_shift", "hflip",
    "download", "get_cache_dir", "sha256sum", "ChecksumError", "DownloadError",
    "read_idx", "parse_idx", "IDXFormatError",
    "load_mnist", "load_fashion_mnist", "load_idx_dataset", "MNIST", "FASHION_MNIST",
    "FASHION_CLASSES",
]
