"""Helpers for testing nnkit itself.

``nnkit.testing.strict`` is an array namespace that behaves like a GPU array
library (CuPy) on top of NumPy, so that tests on any machine catch code that
would break on the GPU.  Importing this package registers it as the backend
``"strict"``; select it with ``nnkit.use("strict")``.
"""
from nnkit import backend
from nnkit.testing import strict

backend.register("strict", lambda: strict.namespace)

__all__ = ["strict"]
