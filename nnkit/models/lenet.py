"""LeNet-5, the digit-reading conv net of Lecture 10, §3 (LeCun et al., 1998).

    input 1 x 32 x 32
    C1  convolution, 6 maps, 5x5 (valid)     -> 6 x 28 x 28
    S2  subsampling (2x2 mean, stride 2)     -> 6 x 14 x 14
    C3  convolution, 16 maps, 5x5            -> 16 x 10 x 10   (every C3 map sees all 6 S2 maps)
    S4  subsampling                          -> 16 x 5 x 5 = 400
    F5  fully connected                      -> 120
    F6  fully connected                      -> 84
    output  fully connected (+ softmax in the loss) -> 10

The 1998 network had a scaled tanh, trainable coefficients in its subsampling
layers, a partial C3 connection table and RBF output units; like the lecture,
this version keeps the layer sizes and simplifies the rest (parameter-free
pooling, full C3 connectivity, a linear output layer).  With those choices the
model has 61,470 weights and 236 biases: 61,706 parameters.

``input_size=28`` pads C1 by 2 so that MNIST-sized images give the same maps.
"""
from __future__ import annotations

from nnkit.autodiff import ops
from nnkit.nn.conv import Conv2d
from nnkit.nn.linear import Linear
from nnkit.nn.module import Module, ShapeError, as_input
from nnkit.nn.pooling import AvgPool2d, Flatten, MaxPool2d


_ACTIVATIONS = {"tanh": ops.tanh, "relu": ops.relu, "sigmoid": ops.sigmoid}


class LeNet5(Module):
    """LeNet-5: (N, 1, S, S) images, S = ``input_size`` (32 or 28) -> (N, num_classes) scores.

    ``activation``: "tanh" (as in 1998), "relu" or "sigmoid"; ``pool``: "avg" (subsampling) or "max".
    The scores are logits: train with ``nnkit.losses.cross_entropy``.
    """

    def __init__(self, input_size: int = 32, num_classes: int = 10, activation: str = "tanh",
                 pool: str = "avg", dtype=None):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"LeNet5: input_size must be 32 (the lecture's) or 28 (MNIST), got {input_size}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"LeNet5: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if pool not in ("avg", "max"):
            raise ValueError(f"LeNet5: pool must be 'avg' or 'max', got {pool!r}")
        Pool = AvgPool2d if pool == "avg" else MaxPool2d
        self.input_size, self.activation = input_size, activation
        self.c1 = Conv2d(1, 6, 5, padding=(32 - input_size) // 2, dtype=dtype)
        self.s2 = Pool(2)
        self.c3 = Conv2d(6, 16, 5, dtype=dtype)
        self.s4 = Pool(2)
        self.flatten = Flatten()
        self.f5 = Linear(400, 120, dtype=dtype)
        self.f6 = Linear(120, 84, dtype=dtype)
        self.output = Linear(84, num_classes, dtype=dtype)
        self._phi = _ACTIVATIONS[activation]

    def forward(self, x):
        x = as_input(x, self)
        S = self.input_size
        if x.ndim != 4 or x.shape[1:] != (1, S, S):
            raise ShapeError(f"LeNet5(input_size={S}) expects input of shape (N, 1, {S}, {S}), got shape {x.shape}")
        phi = self._phi
        h = self.s2(phi(self.c1(x)))
        h = self.s4(phi(self.c3(h)))
        h = phi(self.f5(self.flatten(h)))
        h = phi(self.f6(h))
        return self.output(h)

    def layer_table(self):
        """Lecture 10's Table 1 for this model: see :func:`layer_table`."""
        S = self.input_size
        layers = [("C1", self.c1), ("S2", self.s2), ("C3", self.c3), ("S4", self.s4),
                  ("", self.flatten), ("F5", self.f5), ("F6", self.f6), ("output", self.output)]
        return [row for row in layer_table(layers, (1, S, S)) if row["layer"]]

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, activation={self.activation!r}"


def layer_table(named_layers, input_shape):
    """Units, connections, weights and biases of each layer of a feed-forward stack.

    ``named_layers``: list of (name, module) in order; ``input_shape``: (C, H, W) or (D,)
    for one example.  Per layer (one example, Lecture 10, §3):

    - units: number of outputs;
    - connections: multiply-adds, i.e. units x inputs seen by each unit
      (a convolution unit sees C/groups x kh x kw inputs, a pooling unit kh x kw,
      a fully connected unit all of them; connections to zero padding are counted);
    - weights and biases: learned numbers (pooling has none here).

    Returns a list of dicts with keys layer, type, shape, units, connections, weights, biases.
    """
    shape = tuple(input_shape)
    rows = []
    for name, m in named_layers:
        if isinstance(m, Conv2d):
            kh, kw = m.kernel_size
            fan_in = (shape[0] // m.groups) * kh * kw
            shape = m.output_shape(shape)
            kind, weights, biases = "convolution", m.weight.size, (m.bias.size if m.bias is not None else 0)
        elif isinstance(m, MaxPool2d):  # AvgPool2d is a subclass
            kh, kw = (m.kernel_size, m.kernel_size) if isinstance(m.kernel_size, int) else m.kernel_size
            shape = m.output_shape(shape)
            fan_in = kh * kw
            kind, weights, biases = "subsampling", 0, 0
        elif isinstance(m, Flatten):
            n = 1
            for d in shape:
                n *= d
            shape = (n,)
            rows.append({"layer": name, "type": "flatten", "shape": shape, "units": n,
                         "connections": 0, "weights": 0, "biases": 0})
            continue
        elif isinstance(m, Linear):
            fan_in = m.in_features
            shape = (m.out_features,)
            kind, weights, biases = "fully connected", m.weight.size, (m.bias.size if m.bias is not None else 0)
        else:
            raise TypeError(f"layer_table: cannot count a {type(m).__name__}")
        units = 1
        for d in shape:
            units *= d
        rows.append({"layer": name, "type": kind, "shape": shape, "units": units,
                     "connections": units * fan_in, "weights": weights, "biases": biases})
    return rows
