"""nnkit: a small, readable neural-network library for learning.

The pieces, from the bottom up:

- ``nnkit.backend``   the array namespace (NumPy, or CuPy on request) and seeding
- ``nnkit.gates``     scalar units and gates: the circuits of the hacker's guide
- ``nnkit.autodiff``  ``Tensor`` with a tape, primitives with their vector-Jacobian products
- ``nnkit.gradcheck`` finite-difference checks of any gradient
- ``nnkit.nn``        modules and layers, ``nnkit.losses``, ``nnkit.optim``
- ``nnkit.train``     a small fit loop; ``nnkit.data`` toy and offline data sets
"""
from nnkit import backend as _backend
from nnkit.backend import default_dtype, seed, set_default_dtype, to_device, to_numpy

__version__ = "0.1.0"

__all__ = ["check", "default_dtype", "seed", "set_default_dtype", "to_device", "to_numpy", "use", "__version__"]


def use(backend: str | None = None, *, kernels: str | None = None) -> None:
    """Choose the array backend and/or the kernels of the heavy primitives.

    ``backend``: "numpy" (default) or "cupy" (see ``nnkit.backend.use``).
    ``kernels``: "fast" (default) or "reference", the textbook code of convolution, pooling
    and the recurrent layers (see ``nnkit.kernels``).  Both kernels compute the same numbers.
    """
    if backend is not None:
        _backend.use(backend)
    if kernels is not None:
        from nnkit import kernels as _kernels  # noqa: PLC0415 - import nnkit stays light

        _kernels.use(kernels)


def __getattr__(name):
    """``nnkit.check``, the exercises' self-check, is loaded on first use: ``import nnkit``
    does not load the grading package."""
    if name == "check":
        from nnkit.grading.selfcheck import check  # noqa: PLC0415 - loaded on first use

        return check
    raise AttributeError(f"module 'nnkit' has no attribute {name!r}")
