"""Ready-made models built from ``nnkit.nn`` layers."""
from nnkit.models.lenet import LeNet5
