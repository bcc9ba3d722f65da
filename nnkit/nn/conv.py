"""Convolution layers: ``Conv2d`` and ``Conv1d`` (causal and dilated too).

What the layers compute is *filtering* (cross-correlation), as in every deep
learning library (Lecture 9, §3, eq. (9)); the true convolution of signal
processing flips the kernel first (Lecture 9, §2, eqs. (2)-(3)):

    correlation:  (x ⋆ w)[s, t] = sum_{a,b} x[s + a, t + b] w[a, b]
    convolution:  (x * w)[s, t] = sum_{a,b} x[s - a, t - b] w[a, b]  =  (x ⋆ flip(w))

A layer with C input maps and O output maps computes (Lecture 9, eq. (10))

    z[n, o] = b[o] + sum_c x[n, c] ⋆ w[o, c]

Shapes: x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,), output (N, O, Ho, Wo) with,
per axis (stride s, dilation d, padding p_before + p_after),

    Ho = floor((H + p_top + p_bottom - d_h (kh - 1) - 1) / s_h) + 1       (and Wo alike).

:func:`conv2d` below is the textbook implementation (im2col, one matrix product, col2im).
A faster kernel computes the same function (``nnkit.kernels``); ``nnkit.use(kernels=...)``
picks which one runs.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nnkit import backend, kernels
from nnkit.autodiff import Tensor, ops
from nnkit.nn.init import get as initializer
from nnkit.nn.module import Module, Parameter, ShapeError, as_input


# ------------------------------------------------------------------ arguments
def _pair(v, name="argument"):
    """An int or a pair as a pair of ints: 2 -> (2, 2), (1, 3) -> (1, 3)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv_output_size(n: int, k: int, stride: int = 1, pad_total: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis.

        n_out = floor((n + pad_total - dilation*(k - 1) - 1) / stride) + 1

    ``pad_total`` counts both sides (2p for symmetric padding p).  With stride 1,
    no dilation and no padding this is the notes' "input - filter + 1".
    """
    return (n + pad_total - dilation * (k - 1) - 1) // stride + 1


def resolve_padding(padding, kernel_size, dilation=(1, 1)):
    """Padding as (top, bottom, left, right).

    ``padding`` may be an int p (p on every side), a pair (ph, pw), a 4-tuple, or a
    border mode of the neural-nets notes ("Local receptive fields"):

    - ``"valid"`` (narrow): no padding, output = input - filter + 1;
    - ``"same"`` (half): pad d(k-1) in total, split evenly, output = input (stride 1);
    - ``"full"``: pad d(k-1) on each side, output = input + filter - 1.
    """
    kh, kw = kernel_size
    dh, dw = _pair(dilation, "dilation")
    if isinstance(padding, str):
        eh, ew = dh * (kh - 1), dw * (kw - 1)  # effective kernel extent minus one
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            return (eh // 2, eh - eh // 2, ew // 2, ew - ew // 2)
        if padding == "full":
            return (eh, eh, ew, ew)
        raise ValueError(f"padding must be an int, a pair, 'valid', 'same' or 'full'; got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        pads = tuple(int(p) for p in padding)
    else:
        ph, pw = _pair(padding, "padding")
        pads = (ph, ph, pw, pw)
    if min(pads) < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return pads


class ConvGeometry(NamedTuple):
    """Everything about a convolution but the numbers: pairs (h, w) and pads (top, bottom, left, right)."""
    stride: tuple
    dilation: tuple
    pads: tuple
    groups: int
    out_hw: tuple


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups, who="conv2d") -> ConvGeometry:
    """Check the shapes of a convolution and work out its geometry; errors name ``who`` and both shapes."""
    if len(x_shape) != 4:
        raise ShapeError(f"{who}: expected input of shape (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ShapeError(f"{who}: expected weight of shape (O, C/groups, kh, kw), got shape {tuple(w_shape)}")
    if x_shape[1] != w_shape[1] * groups:
        raise ShapeError(f"{who}: input has {x_shape[1]} channels but the weight of shape {tuple(w_shape)} "
                         f"with groups={groups} expects {w_shape[1] * groups}; input shape {tuple(x_shape)}")
    if w_shape[0] % groups:
        raise ShapeError(f"{who}: {w_shape[0]} output channels are not divisible by groups={groups}")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{who}: stride and dilation must be >= 1, got {stride} and {dilation}")
    kh, kw = w_shape[2:]
    pads = resolve_padding(padding, (kh, kw), dilation)
    Ho = conv_output_size(x_shape[2], kh, stride[0], pads[0] + pads[1], dilation[0])
    Wo = conv_output_size(x_shape[3], kw, stride[1], pads[2] + pads[3], dilation[1])
    if Ho < 1 or Wo < 1:
        raise ShapeError(f"{who}: the {kh}x{kw} kernel (dilation {dilation}) does not fit the padded input: "
                         f"input shape {tuple(x_shape)}, padding {pads}")
    return ConvGeometry(stride, dilation, pads, int(groups), (Ho, Wo))


# ------------------------------------------------------- im2col and col2im
def pad(a, pads, fill=0.0):
    """``a`` (N, C, H, W) inside a border of ``fill``: pads = (top, bottom, left, right)."""
    top, bottom, left, right = pads
    N, C, H, W = a.shape
    out = backend.xp().full((N, C, H + top + bottom, W + left + right), fill, dtype=a.dtype)
    out[:, :, top:top + H, left:left + W] = a
    return out


def unpad(a, pads):
    """The inverse of :func:`pad`: the (N, C, H, W) interior, a view."""
    top, bottom, left, right = pads
    return a[:, :, top:a.shape[2] - bottom, left:a.shape[3] - right]


def window(a, i, j, stride, dilation, out_hw):
    """Kernel offset (i, j) of every window: the strided slice a[:, :, y*sh + i*dh, x*sw + j*dw], (N, C, Ho, Wo)."""
    (sh, sw), (dh, dw), (Ho, Wo) = _pair(stride), _pair(dilation), out_hw
    return a[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh, j * dw:j * dw + sw * (Wo - 1) + 1:sw]


def im2col(x_pad, kh, kw, stride=1, dilation=1, out_hw=None):
    """Every window as one column: cols[(c, i, j), (n, y, x)] = x_pad[n, c, y*sh + i*dh, x*sw + j*dw].

    x_pad (N, C, Hp, Wp) -> cols (C*kh*kw, N*Ho*Wo).  With it a convolution is ONE matrix
    product (Lecture 10, §4: convolutions are matrix products "beneath the hood").  The loop
    runs over the kh*kw kernel offsets, each filling a block of rows for the whole batch.
    """
    N, C, Hp, Wp = x_pad.shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    Ho, Wo = out_hw or (conv_output_size(Hp, kh, sh, 0, dh), conv_output_size(Wp, kw, sw, 0, dw))
    cols = backend.xp().empty((C, kh, kw, N, Ho, Wo), dtype=x_pad.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = window(x_pad, i, j, stride, dilation, (Ho, Wo)).transpose(1, 0, 2, 3)
    return cols.reshape(C * kh * kw, N * Ho * Wo)


def col2im(cols, padded_shape, kh, kw, stride=1, dilation=1, out_hw=None):
    """The adjoint of :func:`im2col`: add every column back onto the window it came from.

    cols (C*kh*kw, N*Ho*Wo) -> (N, C, Hp, Wp), where overlapping windows sum.
    """
    N, C, Hp, Wp = padded_shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    Ho, Wo = out_hw or (conv_output_size(Hp, kh, sh, 0, dh), conv_output_size(Wp, kw, sw, 0, dw))
    acc = backend.xp().zeros(padded_shape, dtype=cols.dtype)
    c6 = cols.reshape(C, kh, kw, N, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            target = window(acc, i, j, stride, dilation, (Ho, Wo))
            target += c6[:, i, j].transpose(1, 0, 2, 3)
    return acc


# ----------------------------------------------------------- the primitive
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of a batch of multi-channel images.

        out[n, o, y, x] = bias[o] + sum_{c,i,j} x_pad[n, c, y*sh + i*dh, x*sw + j*dw] weight[o, c, i, j]

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None -> (N, O, Ho, Wo).
    ``stride`` and ``dilation``: an int or a pair (h, w); ``padding``: see :func:`resolve_padding`.
    Lecture 9, §3; neural-nets notes, "Shared weights".

    As matrices, with cols = im2col(x_pad) (C*kh*kw, N*Ho*Wo), W = weight as (O, C*kh*kw) and
    G = dL/dout as (O, N*Ho*Wo), each group of channels computes

        forward:   out = W cols + b
        backward:  dL/dW = G cols^T,   dL/db = G 1,   dL/dx_pad = col2im(W^T G).
    """
    geo = conv_geometry(x.shape, weight.shape, stride, padding, dilation, groups, "conv2d")
    fast = kernels.implementation("conv2d")
    if fast is not None:
        return fast(x, weight, bias, geo)
    xp = backend.xp()
    N, O, G, (kh, kw), (Ho, Wo) = x.shape[0], weight.shape[0], geo.groups, weight.shape[2:], geo.out_hw
    x_pad = pad(x.data, geo.pads)
    cols = im2col(x_pad, kh, kw, geo.stride, geo.dilation, geo.out_hw)       # (C*kh*kw, N*Ho*Wo)
    cols = cols.reshape(G, -1, N * Ho * Wo)                                  # rows of each group
    w = weight.data.reshape(G, O // G, -1)                                   # (G, O/G, C/G*kh*kw)
    out = xp.matmul(w, cols).reshape(O, N, Ho, Wo).transpose(1, 0, 2, 3)     # W cols
    if bias is not None:
        out = out + bias.data.reshape(O, 1, 1)

    def vjp(g):
        g_mat = g.transpose(1, 0, 2, 3).reshape(G, O // G, N * Ho * Wo)     # G
        gw = xp.matmul(g_mat, cols.transpose(0, 2, 1)).reshape(weight.shape)  # G cols^T
        gb = None if bias is None else g.sum(axis=(0, 2, 3))                  # G 1
        gcols = xp.matmul(w.transpose(0, 2, 1), g_mat).reshape(-1, N * Ho * Wo)   # W^T G
        gx_pad = col2im(gcols, x_pad.shape, kh, kw, geo.stride, geo.dilation, geo.out_hw)
        return unpad(gx_pad, geo.pads), gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(xp.ascontiguousarray(out), parents, vjp, "conv2d")


# ---------------------------------------------------- single-channel helpers
def correlate2d(x, w, mode: str = "valid"):
    """Cross-correlation of one 2-D array with one kernel (arrays in, array out).

    ``mode``: "valid", "same" or "full", as ``scipy.signal.correlate2d``.
    """
    x = backend.xp().asarray(x, dtype=np.float64)
    w = backend.xp().asarray(w, dtype=np.float64)
    if x.ndim != 2 or w.ndim != 2:
        raise ShapeError(f"correlate2d: expected two 2-D arrays, got shapes {x.shape} and {w.shape}")
    out = conv2d(Tensor(x[None, None]), Tensor(w[None, None]), padding=mode)
    return out.data[0, 0].copy()


def flip(w):
    """The kernel rotated by 180 degrees: flip(w)[a, b] = w[-1 - a, -1 - b]."""
    return w[..., ::-1, ::-1]


def convolve2d(x, w, mode: str = "full"):
    """True 2-D convolution (Lecture 9, eq. (3)): correlation with the flipped kernel.

    ``mode``: "full" (default, every overlap), "valid" or "same", as ``scipy.signal.convolve2d``.
    """
    w = backend.xp().asarray(w)
    if mode == "same":  # scipy centres a "same" convolution on the unflipped kernel
        full = correlate2d(x, flip(w), "full")
        kh, kw = w.shape
        H, W = np.shape(x)
        return full[(kh - 1) // 2:(kh - 1) // 2 + H, (kw - 1) // 2:(kw - 1) // 2 + W].copy()
    return correlate2d(x, flip(w), mode)


# ---------------------------------------------------------------------- layers
def _as_float_input(x, layer):
    x = as_input(x, layer, layer.weight.dtype)
    if x.dtype != layer.weight.dtype:
        x = x.astype(layer.weight.dtype)
    return x


def _compact(pair):
    """(2, 2) -> 2 and (1, 2) -> (1, 2), for short reprs."""
    return pair[0] if pair[0] == pair[1] else pair


class Conv2d(Module):
    """A 2-D convolution layer: out = bias + sum_c x[:, c] ⋆ weight[:, c].

    Shapes: x (N, in_channels, H, W) -> (N, out_channels, Ho, Wo);
    weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,), as in PyTorch.
    ``stride``, ``dilation``: an int or a pair (h, w); ``padding``: int, pair, 4-tuple
    (top, bottom, left, right), or "valid" / "same" / "full".  (Lecture 9, §3; neural-nets
    notes, "Local receptive fields" and "Shared weights".)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, init_fn="xavier", dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels={in_channels} and out_channels={out_channels} "
                             f"must both be divisible by groups={groups}")
        self.stride, self.dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        if min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"Conv2d: stride and dilation must be >= 1, got {stride} and {dilation}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, int(groups)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.padding = padding
        resolve_padding(padding, self.kernel_size, self.dilation)  # validate now, not at the first call
        dtype = dtype or backend.default_dtype()
        make = initializer(init_fn) if isinstance(init_fn, str) else init_fn
        self.weight = Parameter(make((out_channels, in_channels // groups, *self.kernel_size), dtype=dtype))
        self.bias = Parameter(backend.xp().zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        x = _as_float_input(x, self)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got shape {x.shape}")
        try:
            return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        except ShapeError as err:
            raise ShapeError(f"{self!r}: {err}") from None

    def output_shape(self, input_shape):
        """(C, H, W) of one example -> (out_channels, Ho, Wo)."""
        C, H, W = input_shape
        geo = conv_geometry((1, C, H, W), self.weight.shape, self.stride, self.padding, self.dilation,
                            self.groups, repr(self))
        return (self.out_channels, *geo.out_hw)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={_compact(self.stride)}, padding={self.padding!r}")
        if self.dilation != (1, 1):
            s += f", dilation={_compact(self.dilation)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, padding=0,
           dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation: out[n, o, t] = bias[o] + sum_{c, k} x_pad[n, c, t*s + k*d] weight[o, c, k].

    x (N, C, L), weight (O, C/groups, k) -> (N, O, L_out).  ``padding`` is an int, a pair
    (left, right), "valid", "same", "full" or "causal" (d(k-1) zeros on the left only, so
    out[t] sees x[t], x[t-d], ... and nothing later: Lecture 15's autoregressive models).
    Computed as a 2-D convolution of height 1.
    """
    if x.ndim != 3:
        raise ShapeError(f"conv1d: expected input of shape (N, C, L), got shape {x.shape}")
    if weight.ndim != 3:
        raise ShapeError(f"conv1d: expected weight of shape (O, C/groups, k), got shape {weight.shape}")
    k = weight.shape[2]
    if padding == "causal":
        pads = (0, 0, dilation * (k - 1), 0)
    elif isinstance(padding, str):
        pads = resolve_padding(padding, (1, k), (1, dilation))
    elif isinstance(padding, (tuple, list)):
        pads = (0, 0, int(padding[0]), int(padding[1]))
    else:
        pads = (0, 0, int(padding), int(padding))
    N, C, L = x.shape
    x4 = ops.reshape(x, (N, C, 1, L))
    w4 = ops.reshape(weight, (weight.shape[0], weight.shape[1], 1, k))
    out = conv2d(x4, w4, bias, (1, stride), pads, (1, dilation), groups)
    return ops.reshape(out, (N, weight.shape[0], out.shape[3]))


class Conv1d(Module):
    """A 1-D convolution layer over sequences: (N, in_channels, L) -> (N, out_channels, L_out).

    weight (out_channels, in_channels/groups, kernel_size), bias (out_channels,).
    ``causal=True`` pads dilation*(kernel_size - 1) zeros on the left only, so that output t
    depends on inputs t, t-d, ..., never on the future; stacking such layers with dilations
    1, 2, 4, ... gives the WaveNet-style receptive field of Lecture 15, §3.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding=0,
                 dilation: int = 1, groups: int = 1, bias: bool = True, causal: bool = False,
                 init_fn="xavier", dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d: in_channels={in_channels} and out_channels={out_channels} "
                             f"must both be divisible by groups={groups}")
        if causal and padding not in (0, "causal"):
            raise ValueError(f"Conv1d: causal=True sets its own padding; got padding={padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation, self.groups = int(kernel_size), int(stride), int(dilation), int(groups)
        self.causal = bool(causal)
        self.padding = "causal" if causal else padding
        dtype = dtype or backend.default_dtype()
        make = initializer(init_fn) if isinstance(init_fn, str) else init_fn
        self.weight = Parameter(make((out_channels, in_channels // groups, self.kernel_size), dtype=dtype))
        self.bias = Parameter(backend.xp().zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        x = _as_float_input(x, self)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ShapeError(f"{self!r} expects input of shape (N, {self.in_channels}, L), got shape {x.shape}")
        try:
            return conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        except ShapeError as err:
            raise ShapeError(f"{self!r}: {err}") from None

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        s += ", causal=True" if self.causal else f", padding={self.padding!r}"
        if self.dilation != 1:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


def receptive_field(layers):
    """Receptive-field size of the last layer's units, for a stack of (kernel, stride[, dilation]).

    Going up one layer: r <- r + d (k - 1) j and j <- j s, where j is the distance
    (in input pixels) between neighbouring units.  Starts from r = 1, j = 1.
    Returns the list of r after each layer.  (Lecture 9, §4; Lecture 15, §3.)
    """
    r, j, sizes = 1, 1, []
    for layer in layers:
        k, s, d = (tuple(layer) + (1,))[:3]
        r += d * (k - 1) * j
        j *= s
        sizes.append(r)
    return sizes
