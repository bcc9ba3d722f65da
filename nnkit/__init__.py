"""nnkit: a small, readable neural-network library for learning.

The pieces, from the bottom up:

- ``nnkit.backend``   the array namespace (NumPy, or CuPy on request) and seeding
- ``nnkit.gates``     scalar units and gates: the circuits of the hacker's guide
- ``nnkit.autodiff``  ``Tensor`` with a tape, primitives with their vector-Jacobian products
- ``nnkit.gradcheck`` finite-difference checks of any gradient
- ``nnkit.nn``        modules and layers, ``nnkit.losses``, ``nnkit.optim``
- ``nnkit.train``     a small fit loop; ``nnkit.data`` toy and offline data sets
"""
from nnkit.backend import default_dtype, seed, set_default_dtype, to_device, to_numpy, use
from nnkit.grading.selfcheck import check  # instant self-checks for the exercises

__version__ = "0.1.0"

__all__ = ["default_dtype", "seed", "set_default_dtype", "to_device", "to_numpy", "use", "__version__"]
