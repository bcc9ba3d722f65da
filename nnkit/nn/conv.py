"""Convolution layers: ``Conv2d`` and ``Conv1d`` (causal and dilated too).

What the layers compute is *filtering* (cross-correlation), as in every deep
learning library (Lecture 9, §3, eq. (9)); the true convolution of signal
processing flips the kernel first (Lecture 9, §2, eqs. (2)-(3)):

    correlation:  (x ⋆ w)[s, t] = sum_{a,b} x[s + a, t + b] w[a, b]
    convolution:  (x * w)[s, t] = sum_{a,b} x[s - a, t - b] w[a, b]  =  (x ⋆ flip(w))

A layer with C input maps and O output maps computes (Lecture 9, eq. (10))

    z[n, o] = b[o] + sum_c x[n, c] ⋆ w[o, c]

Shapes: x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,), output
(N, O, Ho, Wo) with Ho = floor((H + pad_top + pad_bottom - d (kh - 1) - 1) / s) + 1.

Two implementations of the same primitive sit side by side:

- :func:`conv2d` — the fast path: im2col (``nnkit.nn._im2col``) and one batched matrix
  product, with a hand-written vector-Jacobian product;
- :func:`conv2d_naive` — loops over every output entry, kept as the reference the fast
  path is tested against.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, ops
from nnkit.nn import init
from nnkit.nn._im2col import (WORKSPACE, as_strided, col2im, col2im_rows, conv_output_size, im2col_per_image,
                             over_batch, pad_into, row_length)
from nnkit.nn.module import Module, Parameter, ShapeError, as_input


# ------------------------------------------------------------------ arguments
def _pair(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def resolve_padding(padding, kernel_size, dilation=(1, 1)):
    """Padding as (top, bottom, left, right).

    ``padding`` may be an int p (p on every side), a pair (ph, pw), a 4-tuple, or a
    border mode of the neural-nets notes ("Local receptive fields"):

    - ``"valid"`` (narrow): no padding, output = input - filter + 1;
    - ``"same"`` (half): pad d(k-1) in total, split evenly, output = input (stride 1);
    - ``"full"``: pad d(k-1) on each side, output = input + filter - 1.
    """
    kh, kw = kernel_size
    dh, dw = dilation
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


def _output_hw(x_shape, w_shape, stride, pads, dilation, who):
    N, C, H, W = x_shape
    kh, kw = w_shape[2:]
    Ho = conv_output_size(H, kh, stride, pads[0] + pads[1], dilation)
    Wo = conv_output_size(W, kw, stride, pads[2] + pads[3], dilation)
    if Ho < 1 or Wo < 1:
        raise ShapeError(f"{who}: the {kh}x{kw} kernel (dilation {dilation}) does not fit the padded input: "
                         f"input shape {tuple(x_shape)}, padding {pads}")
    return Ho, Wo


def _check_shapes(x, w, groups, who):
    if x.ndim != 4:
        raise ShapeError(f"{who}: expected input of shape (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ShapeError(f"{who}: expected weight of shape (O, C/groups, kh, kw), got shape {w.shape}")
    if x.shape[1] != w.shape[1] * groups:
        raise ShapeError(f"{who}: input has {x.shape[1]} channels but the weight of shape {w.shape} "
                         f"with groups={groups} expects {w.shape[1] * groups}; input shape {x.shape}")
    if w.shape[0] % groups:
        raise ShapeError(f"{who}: {w.shape[0]} output channels are not divisible by groups={groups}")


# -------------------------------------------------------------- the fast path
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, padding=0,
           dilation: int = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of a batch of multi-channel images (im2col + batched GEMM).

        out[n, o] = bias[o] + sum_c x_pad[n, c] ⋆_(s, d) weight[o, c]

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None -> (N, O, Ho, Wo).
    ``padding``: see :func:`resolve_padding`.  Lecture 9, §3; neural-nets notes, "Shared weights".

    With cols_n = im2col(x_pad[n]) of shape (C*kh*kw, Ho*Wo) and W2 = weight as (O, C*kh*kw),
    the forward pass is out_n = W2 cols_n + b for every image n, and the backward pass
    (g_n = dL/dout_n as (O, Ho*Wo)) is, per group:

        dL/dW2 = sum_n g_n cols_n^T,   dL/db = sum_n g_n 1,   dL/dx_pad[n] = col2im(W2^T g_n)

    Every image is independent until the sums over n, so the work is done in blocks of
    images, on several threads (``nnkit.nn._im2col.over_batch``).
    """
    who = "conv2d"
    _check_shapes(x, weight, groups, who)
    xp = backend.xp()
    O, Cg, kh, kw = weight.shape
    N, C, H, W = x.shape
    pads = resolve_padding(padding, (kh, kw), (dilation, dilation))
    Ho, Wo = _output_hw(x.shape, weight.shape, stride, pads, dilation, who)
    G, K, L = groups, Cg * kh * kw, Ho * Wo
    Og = O // G
    dtype = np.result_type(x.dtype, weight.dtype)
    # a bias is folded into the product as an extra weight column times a row of ones in cols:
    # that saves a pass over the whole output here, and gives dL/db for free in the backward pass
    fold_bias = bias is not None and G == 1
    Kr = G * K + int(fold_bias)   # rows of each image's window matrix

    x_pad = pad_into(x.data, pads, "conv.pad")
    padded_shape = x_pad.shape
    cols_buffer = WORKSPACE.get("conv.cols", (N, Kr, row_length(L, x_pad.dtype.itemsize)), x_pad.dtype)
    cols = cols_buffer[:, :, :L]   # (N, Kr, L); the vjp keeps cols_buffer itself, so it is not handed out again
    out = WORKSPACE.get("conv.out", (N, O, Ho, Wo), dtype)   # the tensor's data is this very array
    out3 = out.reshape(N, O, L)
    w2 = weight.data.reshape(O, K)
    if fold_bias:
        w2 = xp.concatenate([w2, bias.data.reshape(O, 1)], axis=1)          # (O, K + 1)

    def forward_part(lo, hi):
        im2col_per_image(x_pad[lo:hi], kh, kw, stride, dilation, (Ho, Wo), cols[lo:hi], ones_row=fold_bias)
        for gi in range(G):  # one batched GEMM per group (a single one for an ordinary convolution)
            rows = slice(gi * K, (gi + 1) * K + int(fold_bias))
            xp.matmul(w2[gi * Og:(gi + 1) * Og], cols[lo:hi, rows], out=out3[lo:hi, gi * Og:(gi + 1) * Og])

    over_batch(forward_part, N, N * Kr * L)
    if bias is not None and not fold_bias:
        out3 += bias.data.reshape(O, 1)
    del x_pad

    def vjp(g):
        cols = cols_buffer[:, :, :L]
        g3 = g.reshape(N, O, L)  # free when g is stored in (N, O, Ho, Wo) order, as out is
        need_w = weight.requires_grad or (fold_bias and bias.requires_grad)
        fast_dx = x.requires_grad and stride == 1
        dx = _InputGradStride1(g, weight.data, padded_shape, dilation, G) if fast_dx else None

        def backward_part(lo, hi):
            gwb = None
            if need_w:  # dL/d[W2 | b] = sum_n g_n [cols_n; 1]^T, per group: a batched GEMM, summed over n
                gwb = xp.empty((O, K + int(fold_bias)), dtype=g.dtype)
                for gi in range(G):
                    outs, rows = slice(gi * Og, (gi + 1) * Og), slice(gi * K, (gi + 1) * K + int(fold_bias))
                    gwb[outs] = xp.matmul(g3[lo:hi, outs], cols[lo:hi, rows].transpose(0, 2, 1)).sum(axis=0)
            if dx is not None:
                dx.part(lo, hi)
            return gwb

        parts = over_batch(backward_part, N, N * (Kr + O) * L)
        gw = gx = gb = None
        if need_w:
            gwb = parts[0]
            for p in parts[1:]:
                gwb = gwb + p                                            # (O, K [+ 1])
            gw = gwb[:, :K].reshape(weight.shape) if weight.requires_grad else None
            gb = gwb[:, K].copy() if fold_bias and bias.requires_grad else None
        if bias is not None and not fold_bias and bias.requires_grad:
            gb = g3.sum(axis=(0, 2))
        if x.requires_grad:
            if fast_dx:
                dpad = dx.result()
            else:
                dcols = WORKSPACE.get("conv.dcols", (N, G * K, L), g.dtype)
                for gi in range(G):  # dL/dcols_n = W2^T g_n, per group
                    rows, outs = slice(gi * K, (gi + 1) * K), slice(gi * Og, (gi + 1) * Og)
                    xp.matmul(w2[outs, :K].T, g3[:, outs], out=dcols[:, rows])
                dpad = col2im(dcols, padded_shape, kh, kw, stride, dilation, (Ho, Wo), tag="conv.dpad")
            gx = dpad[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W]
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, vjp, "conv2d")


class _InputGradStride1:
    """dL/dx_pad of a stride-1 convolution, image block by image block.

    g (N, O, Ho, Wo), w (O, C/groups, kh, kw) -> (N, C, Hp, Wp):

        dx_pad[n, c, y + i*d, x + j*d] += sum_o w[o, c, i, j] g[n, o, y, x]    for every i, j, y, x

    g is first copied into a zeroed (N, O, Hp, Wp) array g_pad, so that in the images flattened
    row by row each kernel offset (i, j) is one shift by i*d*Wp + j*d (see :func:`col2im_rows`).
    Two ways to arrange the same sums; the one that writes fewer numbers is used:

    - "weights first": dcols = W^T g_pad, (N, kh*kw*C, Hp*Wp), then kh*kw shifted adds;
    - "shift g first" (no groups): gj = the kw shifts of g_pad by j*d, (N, O*kw, Hp*Wp), one copy
      through a strided view; then W_i^T gj, (N, kh*C, Hp*Wp), holds every column offset's
      sum already, and kh shifted adds remain.  Better when O is small next to C*kh
      (LeNet's C3: 2x faster); worse for few input channels.

    ``part(lo, hi)`` does images lo..hi-1 and touches nothing else; ``result()`` returns the
    (N, C, Hp, Wp) gradient once every part is done.
    """

    def __init__(self, g, w, padded_shape, dilation, groups):
        N, O, Ho, Wo = g.shape
        _, C, Hp, Wp = padded_shape
        kh, kw = w.shape[2:]
        self.g, self.w, self.groups, self.dilation, self.padded_shape = g, w, groups, dilation, padded_shape
        self.shift_g_first = groups == 1 and O * kw + kh * C < kh * kw * C
        S, head = Hp * Wp, (kw - 1) * dilation   # head: zeros read by the shifts of g_pad
        self.g_flat = WORKSPACE.get("conv.gpad", (N, O, head + S), g.dtype)
        if self.shift_g_first:
            self.w_mat = w.transpose(2, 1, 0, 3).reshape(kh * C, O * kw)      # rows (i, c), columns (o, j)
            self.gj = WORKSPACE.get("conv.gj", (N, O, kw, S), g.dtype)
            self.prod = WORKSPACE.get("conv.dcols1", (N, kh, 1, C, S), g.dtype)
        else:
            self.w_ijc = w.transpose(0, 2, 3, 1)                              # (O, kh, kw, C/groups)
            self.prod = WORKSPACE.get("conv.dcols1", (N, kh, kw, C, S), g.dtype)
        tail = (kh - 1) * dilation * Wp + (kw - 1) * dilation              # the largest shift
        self.acc = WORKSPACE.get("conv.dpad", (N, C * S + tail), g.dtype)

    def part(self, lo, hi):
        xp = backend.xp()
        N, O, Ho, Wo = self.g.shape
        _, C, Hp, Wp = self.padded_shape
        kh, kw, d, n, S = self.w.shape[2], self.w.shape[3], self.dilation, hi - lo, Hp * Wp
        head = self.g_flat.shape[2] - S
        g_flat = self.g_flat[lo:hi]
        g_flat[:, :, :head] = 0
        g_pad = g_flat[:, :, head:].reshape(n, O, Hp, Wp)
        g_pad[:, :, :Ho, :Wo] = self.g[lo:hi]
        g_pad[:, :, :Ho, Wo:] = 0
        g_pad[:, :, Ho:] = 0
        prod = self.prod[lo:hi]
        if self.shift_g_first:
            # gj[m, o, j, q] = g_pad[m, o, q - j*d]: a view with a negative step along j, one copy
            sm, so, sq = g_flat.strides
            shifted = as_strided(g_flat[:, :, head:], (n, O, kw, S), (sm, so, -d * sq, sq))
            xp.copyto(self.gj[lo:hi], shifted)
            xp.matmul(self.w_mat, self.gj[lo:hi].reshape(n, O * kw, S), out=prod.reshape(n, kh * C, S))
            shifts = (kh, 1)   # the column offsets are already summed
        else:
            Og, Cg = O // self.groups, C // self.groups
            g_pad = g_pad.reshape(n, O, S)
            if self.groups == 1:  # prod[m, i, j, c] = sum_o w[o, c, i, j] g_pad[m, o]: one batched GEMM
                xp.matmul(self.w_ijc.reshape(O, kh * kw * C).T, g_pad, out=prod.reshape(n, kh * kw * C, S))
            for gi in range(self.groups if self.groups > 1 else 0):  # the same, per group
                outs, chans = slice(gi * Og, (gi + 1) * Og), slice(gi * Cg, (gi + 1) * Cg)
                p = xp.matmul(self.w_ijc[outs].reshape(Og, kh * kw * Cg).T, g_pad[:, outs])
                prod[:, :, :, chans] = p.reshape(n, kh, kw, Cg, S)
            shifts = (kh, kw)
        acc = self.acc[lo:hi]
        acc[...] = 0
        col2im_rows(acc, prod, self.padded_shape, *shifts, d)

    def result(self):
        N, C, Hp, Wp = self.padded_shape
        return self.acc[:, :C * Hp * Wp].reshape(N, C, Hp, Wp)


# ---------------------------------------------------------- the naive reference
def _conv2d_naive_arrays(x, w, b, stride, pads, dilation, groups):
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Ho, Wo = _output_hw(x.shape, w.shape, stride, pads, dilation, "conv2d_naive")
    xp_ = np.zeros((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]), dtype=x.dtype)
    xp_[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W] = x
    out = np.zeros((N, O, Ho, Wo), dtype=np.result_type(x, w))
    per = O // groups
    for n in range(N):
        for o in range(O):
            c0 = (o // per) * Cg
            for r in range(Ho):
                for c in range(Wo):
                    rows = slice(r * stride, r * stride + dilation * (kh - 1) + 1, dilation)
                    colsl = slice(c * stride, c * stride + dilation * (kw - 1) + 1, dilation)
                    out[n, o, r, c] = np.sum(xp_[n, c0:c0 + Cg, rows, colsl] * w[o])
            if b is not None:
                out[n, o] += b[o]
    return out, xp_, (Ho, Wo)


def conv2d_naive(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, padding=0,
                 dilation: int = 1, groups: int = 1) -> Tensor:
    """The same function as :func:`conv2d`, written with loops over every output entry.

    Slow; it exists so that the fast path can be tested against it.  Its
    backward pass is also a loop: every output entry sends ``g * w`` back to the
    input window it read and ``g * window`` to the weights.  NumPy only.
    """
    _check_shapes(x, weight, groups, "conv2d_naive")
    kh, kw = weight.shape[2:]
    pads = resolve_padding(padding, (kh, kw), (dilation, dilation))
    xd, wd = backend.to_numpy(x.data), backend.to_numpy(weight.data)
    bd = None if bias is None else backend.to_numpy(bias.data)
    out, x_pad, (Ho, Wo) = _conv2d_naive_arrays(xd, wd, bd, stride, pads, dilation, groups)
    N, C, H, W = xd.shape
    O, Cg = wd.shape[:2]
    per = O // groups

    def vjp(g):
        g = backend.to_numpy(g)
        gx_pad, gw = np.zeros_like(x_pad), np.zeros_like(wd)
        for n in range(N):
            for o in range(O):
                c0 = (o // per) * Cg
                for r in range(Ho):
                    for c in range(Wo):
                        rows = slice(r * stride, r * stride + dilation * (kh - 1) + 1, dilation)
                        colsl = slice(c * stride, c * stride + dilation * (kw - 1) + 1, dilation)
                        gx_pad[n, c0:c0 + Cg, rows, colsl] += g[n, o, r, c] * wd[o]
                        gw[o] += g[n, o, r, c] * x_pad[n, c0:c0 + Cg, rows, colsl]
        gx = gx_pad[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W]
        gb = None if bias is None else g.sum(axis=(0, 2, 3))
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(backend.to_device(out), parents, vjp, "conv2d_naive")


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


class Conv2d(Module):
    """A 2-D convolution layer: out = bias + sum_c x[:, c] ⋆ weight[:, c].

    Shapes: x (N, in_channels, H, W) -> (N, out_channels, Ho, Wo);
    weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,), as in PyTorch.
    ``padding``: int, pair, or "valid" / "same" / "full".  (Lecture 9, §3; neural-nets notes,
    "Local receptive fields" and "Shared weights".)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1, padding=0,
                 dilation: int = 1, groups: int = 1, bias: bool = True, init_fn="xavier", dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels={in_channels} and out_channels={out_channels} "
                             f"must both be divisible by groups={groups}")
        if stride < 1 or dilation < 1:
            raise ValueError(f"Conv2d: stride and dilation must be >= 1, got {stride} and {dilation}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.dilation, self.groups = int(stride), int(dilation), int(groups)
        self.padding = padding
        resolve_padding(padding, self.kernel_size)  # validate now, not at the first call
        dtype = dtype or backend.default_dtype()
        make = init.get(init_fn) if isinstance(init_fn, str) else init_fn
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

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding!r}")
        if self.dilation != 1:
            s += f", dilation={self.dilation}"
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
    out = conv2d(x4, w4, bias, stride, pads, dilation, groups)
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
        make = init.get(init_fn) if isinstance(init_fn, str) else init_fn
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
