"""Helpers for testing nnkit itself.

``nnkit.testing.strict`` is an array namespace that behaves like a GPU array
library (CuPy) on top of NumPy, so that tests on any machine catch code that
would break on the GPU.  Select it with ``nnkit.use("strict")``.
"""
