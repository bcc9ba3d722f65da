"""Neural-network layers: ``Module``, ``Parameter`` and the layers built on them."""
from nnkit.nn import init
from nnkit.nn.module import Module, Parameter, Sequential, ShapeError
from nnkit.nn.linear import Linear
from nnkit.nn.activations import (
    ELU, GELU, GaussianRBF, HardTanh, LeakyReLU, Maxout, PReLU, Ramp, RBFLayer, ReLU, Ricker, RReLU,
    Sigmoid, Sign, Softmax, Softplus, Step, Tanh,
    elu, gaussian_rbf, gelu, hardtanh, leaky_relu, log_softmax, ramp, relu, ricker, sigmoid, sign,
    softmax, softplus, step, tanh,
)
from nnkit.nn.normalization import BatchNorm1d, BatchNorm2d
from nnkit.nn.regularization import Dropout
from nnkit.nn.embedding import Embedding
from nnkit.nn.conv import Conv1d, Conv2d, conv1d, conv2d
from nnkit.nn.pooling import AvgPool2d, Flatten, MaxPool2d, avg_pool2d, max_pool2d
from nnkit.nn.recurrent import GRU, LSTM, RNN, Bidirectional, gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell
from nnkit.nn.attention import AdditiveAttention, DotProductAttention
from nnkit.nn.residual import ResidualBlock

__all__ = [
    "init", "Module", "Parameter", "Sequential", "ShapeError", "Linear",
    "ELU", "GELU", "GaussianRBF", "HardTanh", "LeakyReLU", "Maxout", "PReLU", "Ramp", "RBFLayer", "ReLU", "Ricker",
    "RReLU", "Sigmoid", "Sign", "Softmax", "Softplus", "Step", "Tanh",
    "elu", "gaussian_rbf", "gelu", "hardtanh", "leaky_relu", "log_softmax", "ramp", "relu", "ricker", "sigmoid",
    "sign", "softmax", "softplus", "step", "tanh", "BatchNorm1d", "BatchNorm2d", "Dropout",
    "Embedding",
    "Conv1d", "Conv2d", "conv1d", "conv2d", "AvgPool2d", "Flatten", "MaxPool2d", "avg_pool2d", "max_pool2d",
    "RNN", "LSTM", "GRU", "Bidirectional", "rnn", "lstm", "gru", "rnn_cell", "lstm_cell", "gru_cell",
    "AdditiveAttention", "DotProductAttention", "ResidualBlock",
]
