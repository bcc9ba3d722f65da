"""Ready-made models built from ``nnkit.nn`` layers."""
from nnkit.models.language import NeuralLanguageModel
from nnkit.models.lenet import LeNet5
