"""Fixtures shared by the unit tests."""
import pytest

import nnkit


@pytest.fixture
def float64_seeded():
    """New parameters in float64 (for tight gradient checks) and every generator seeded with 0."""
    nnkit.set_default_dtype("float64")
    nnkit.seed(0)
    yield
    nnkit.set_default_dtype("float32")


@pytest.fixture(params=["fast", "reference"])
def both_kernels(request):
    """Run the test once with the fast kernels and once with the textbook reference code."""
    from nnkit import kernels

    with kernels.using(request.param):
        yield request.param
