"""The fast kernel of ``conv2d``: the function of ``nnkit.nn.conv.conv2d``, computed faster.

The textbook form builds one window matrix for the whole batch, (C*kh*kw, N*Ho*Wo), and
transposes the product back to (N, O, Ho, Wo).  Here:

- **One window matrix per image**, cols (N, C*kh*kw, Ho*Wo): ``W @ cols`` is then a batched
  product whose result is already laid out as (N, O, Ho*Wo), so neither the output nor its
  gradient is ever transposed.  The windows are copied in one call from a strided view of
  the padded input (:func:`image_windows`), not kh*kw slices.
- **Blocks of images on several threads** (``STATE.map_blocks``): every image is independent
  until the sums over the batch, and NumPy releases Python's lock inside products and copies.
- **The bias folded into the product**: an extra column of W times a row of ones in cols,
  which saves a pass over the output, and gives dL/db from the weight-gradient product.
- **The stride-1 input gradient without col2im's strided adds** (:class:`InputGradStride1`).
- **Scratch arrays from the workspace** (``STATE.workspace``), handed back explicitly: the
  padded input and the backward's temporaries at the end of each call, the window matrix
  when the graph that saved it is collected.  Outputs and gradients are fresh arrays.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor
from nnkit.kernels.state import STATE, register


def as_strided(a, shape, strides):
    """A view of ``a`` with the given shape and byte strides (NumPy or CuPy)."""
    return backend.xp().lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def pad_into(x, pads, fill=0.0):
    """``x`` (N, C, H, W) inside a border of ``fill``, in a workspace array; ``x`` itself when pads are 0.

    The caller gives the array back to ``STATE.workspace`` when it is done with it.
    """
    top, bottom, left, right = pads
    if not any(pads):
        return x
    N, C, H, W = x.shape
    out = STATE.workspace.take((N, C, H + top + bottom, W + left + right), x.dtype)
    out[:, :, :top] = fill                  # the border is written every time: a lent array holds anything
    out[:, :, H + top:] = fill
    out[:, :, :, :left] = fill
    out[:, :, :, W + left:] = fill
    out[:, :, top:top + H, left:left + W] = x
    return out


def image_windows(x_pad, kh, kw, stride, dilation, out_hw):
    """Strided view (N, C, kh, kw, Ho, Wo) of every window, no copy.

    ``view[n, c, i, j, y, x] = x_pad[n, c, y*sh + i*dh, x*sw + j*dw]``.
    """
    N, C, _, _ = x_pad.shape
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    sN, sC, sH, sW = x_pad.strides
    return as_strided(x_pad, (N, C, kh, kw, Ho, Wo), (sN, sC, sH * dh, sW * dw, sH * sh, sW * sw))


def row_length(n: int, itemsize: int) -> int:
    """Room for a matrix row of ``n`` numbers: n, or 64 bytes more when n*itemsize is a multiple of 1 KiB.

    Rows a power-of-two number of KiB apart map to the same few cache sets, so a product that
    walks down a column of such a matrix evicts its own data; the gap spreads the rows out.
    """
    return n + 64 // itemsize if (n * itemsize) % 1024 == 0 else n


def col2im(dcols, padded_shape, kh, kw, stride, dilation, out_hw):
    """Adjoint of the per-image im2col: dcols (N, C*kh*kw, Ho*Wo) -> a new (N, C, Hp, Wp) array.

    One strided add of an (N, C, Ho, Wo) block per kernel offset.
    """
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    N, C = padded_shape[:2]
    acc = backend.xp().zeros(padded_shape, dtype=dcols.dtype)
    c6 = dcols.reshape(N, C, kh, kw, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            acc[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh, j * dw:j * dw + sw * (Wo - 1) + 1:sw] += c6[:, :, i, j]
    return acc


def col2im_rows(acc, dcols, padded_shape, kh, kw, dilation):
    """col2im for stride 1, where every kernel offset is ONE shift of each flattened image.

    Output position (y, x) and kernel offset (i, j) meet at padded pixel (y + i*dh, x + j*dw),
    whose index in the image flattened row by row is (y*Wp + x) + (i*dh*Wp + j*dw).  So with the
    gradient columns laid out like the padded image,

        dcols (n, kh, kw, C, Hp*Wp):  dcols[m, i, j, c, y*Wp + x],  zero wherever y >= Ho or x >= Wo,

    offset (i, j) adds ``dcols[:, i, j]`` to the flattened image gradients shifted by
    i*dh*Wp + j*dw: kh*kw adds of n rows of C*Hp*Wp numbers, instead of kh*kw*n*C*Ho rows of Wo
    (NumPy's cost is per row more than per number).  The zeros spill into the next row or
    channel and add nothing.  ``acc`` (n, C*Hp*Wp + tail), zeroed, tail >= the largest shift.
    """
    _, C, Hp, Wp = padded_shape
    dh, dw = dilation
    n, span = dcols.shape[0], C * Hp * Wp
    for i in range(kh):
        for j in range(kw):
            shift = i * dh * Wp + j * dw
            acc[:, shift:shift + span] += dcols[:, i, j].reshape(n, span)
    return acc


@register("conv2d")
def conv2d(x: Tensor, weight: Tensor, bias, geo) -> Tensor:
    """``nnkit.nn.conv.conv2d`` for a checked geometry ``geo`` (stride, dilation, pads, groups, out_hw).

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None -> (N, O, Ho, Wo).  Per image n
    and group, with cols_n (K, Ho*Wo) and W2 (O/G, K):

        out_n = W2 cols_n + b;   dL/dW2 = sum_n g_n cols_n^T,   dL/dx_pad[n] = col2im(W2^T g_n).
    """
    xp, ws = backend.xp(), STATE.workspace
    O, Cg, kh, kw = weight.shape
    N, C, H, W = x.shape
    pads, (Ho, Wo), G = geo.pads, geo.out_hw, geo.groups
    K, L, Og = Cg * kh * kw, Ho * Wo, O // G
    dtype = np.result_type(x.dtype, weight.dtype)
    fold_bias = bias is not None and G == 1
    Kr = G * K + int(fold_bias)   # rows of each image's window matrix

    x_pad = pad_into(x.data, pads)
    padded_shape = x_pad.shape
    cols_buffer = ws.take((N, Kr, row_length(L, x_pad.dtype.itemsize)), x_pad.dtype)
    cols = cols_buffer[:, :, :L]                                   # (N, Kr, L)
    out = xp.empty((N, O, Ho, Wo), dtype)
    out3 = out.reshape(N, O, L)
    w2 = weight.data.reshape(O, K)
    if fold_bias:
        w2 = xp.concatenate([w2, bias.data.reshape(O, 1)], axis=1)          # (O, K + 1)

    def forward_part(lo, hi):
        # every row of cols is contiguous, so this reshape is a view
        xp.copyto(cols[lo:hi, :G * K].reshape(hi - lo, C, kh, kw, Ho, Wo),
                  image_windows(x_pad[lo:hi], kh, kw, geo.stride, geo.dilation, (Ho, Wo)))
        if fold_bias:
            cols[lo:hi, K] = 1
        for gi in range(G):  # one batched product per group (a single one without groups)
            rows = slice(gi * K, (gi + 1) * K + int(fold_bias))
            xp.matmul(w2[gi * Og:(gi + 1) * Og], cols[lo:hi, rows], out=out3[lo:hi, gi * Og:(gi + 1) * Og])

    STATE.map_blocks(forward_part, N, N * Kr * L)
    if bias is not None and not fold_bias:
        out3 += bias.data.reshape(O, 1)
    if x_pad is not x.data:
        ws.give(x_pad)
    del x_pad

    def vjp(g):
        g3 = g.reshape(N, O, L)
        need_w = weight.requires_grad or (fold_bias and bias.requires_grad)
        stride1 = x.requires_grad and geo.stride == (1, 1)
        dx = InputGradStride1(g, weight.data, padded_shape, geo.dilation, G) if stride1 else None

        def backward_part(lo, hi):
            gwb = None
            if need_w:  # dL/d[W2 | b] = sum_n g_n [cols_n; 1]^T, per group
                # formed transposed, sum_n [cols_n; 1] g_n^T: the faster order for OpenBLAS here
                gwb = xp.empty((O, K + int(fold_bias)), dtype=g.dtype)
                for gi in range(G):
                    outs, rows = slice(gi * Og, (gi + 1) * Og), slice(gi * K, (gi + 1) * K + int(fold_bias))
                    gwb[outs] = xp.matmul(cols[lo:hi, rows], g3[lo:hi, outs].transpose(0, 2, 1)).sum(axis=0).T
            if dx is not None:
                dx.part(lo, hi)
            return gwb

        parts = STATE.map_blocks(backward_part, N, N * (Kr + O) * L)
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
            if stride1:
                dpad = dx.result()
            else:
                dcols = ws.take((N, G * K, L), g.dtype)
                for gi in range(G):  # dL/dcols_n = W2^T g_n, per group
                    rows, outs = slice(gi * K, (gi + 1) * K), slice(gi * Og, (gi + 1) * Og)
                    xp.matmul(w2[outs, :K].T, g3[:, outs], out=dcols[:, rows])
                dpad = col2im(dcols, padded_shape, kh, kw, geo.stride, geo.dilation, (Ho, Wo))
                ws.give(dcols)
            gx = dpad[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W]
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    result = Tensor.from_op(out, parents, vjp, "conv2d")
    if result.requires_grad:
        ws.give_when_dead(vjp, cols_buffer)     # the windows are needed until the graph is gone
    else:
        ws.give(cols_buffer)
    return result


class InputGradStride1:
    """dL/dx_pad of a stride-1 convolution, image block by image block.

    g (N, O, Ho, Wo), w (O, C/groups, kh, kw) -> (N, C, Hp, Wp):

        dx_pad[n, c, y + i*dh, x + j*dw] += sum_o w[o, c, i, j] g[n, o, y, x]    for every i, j, y, x

    g is first copied into a zeroed (N, O, Hp, Wp) array g_pad, so that in the images flattened
    row by row each kernel offset (i, j) is one shift by i*dh*Wp + j*dw (see :func:`col2im_rows`).
    Two arrangements of the same sums; the one that writes fewer numbers is used:

    - "weights first": dcols = W^T g_pad, (N, kh*kw*C, Hp*Wp), then kh*kw shifted adds;
    - "shift g first" (no groups): gj = the kw shifts of g_pad by j*dw, (N, O*kw, Hp*Wp), one copy
      through a strided view; then W_i^T gj, (N, kh*C, Hp*Wp), holds every column offset's sum
      already, and kh shifted adds remain.  It wins when O is small next to C*kh (LeNet's C3).

    ``part(lo, hi)`` does images lo..hi-1 and touches nothing else; ``result()`` returns the
    (N, C, Hp, Wp) gradient (a new array) once every part is done, and hands the scratch back.
    """

    def __init__(self, g, w, padded_shape, dilation, groups):
        N, O, Ho, Wo = g.shape
        _, C, Hp, Wp = padded_shape
        kh, kw = w.shape[2:]
        dh, dw = dilation
        ws = STATE.workspace
        self.g, self.w, self.groups, self.dilation, self.padded_shape = g, w, groups, dilation, padded_shape
        self.shift_g_first = groups == 1 and O * kw + kh * C < kh * kw * C
        S, head = Hp * Wp, (kw - 1) * dw   # head: zeros read by the shifts of g_pad
        self.g_flat = ws.take((N, O, head + S), g.dtype)
        self.scratch = [self.g_flat]
        if self.shift_g_first:
            self.w_mat = w.transpose(2, 1, 0, 3).reshape(kh * C, O * kw)      # rows (i, c), columns (o, j)
            self.gj = ws.take((N, O, kw, S), g.dtype)
            self.prod = ws.take((N, kh, 1, C, S), g.dtype)
            self.scratch += [self.gj, self.prod]
        else:
            self.w_ijc = w.transpose(0, 2, 3, 1)                              # (O, kh, kw, C/groups)
            self.prod = ws.take((N, kh, kw, C, S), g.dtype)
            self.scratch.append(self.prod)
        tail = (kh - 1) * dh * Wp + (kw - 1) * dw                          # the largest shift
        self.acc = backend.xp().empty((N, C * S + tail), g.dtype)

    def part(self, lo, hi):
        xp = backend.xp()
        N, O, Ho, Wo = self.g.shape
        _, C, Hp, Wp = self.padded_shape
        kh, kw, n, S = self.w.shape[2], self.w.shape[3], hi - lo, Hp * Wp
        dh, dw = self.dilation
        head = self.g_flat.shape[2] - S
        g_flat = self.g_flat[lo:hi]
        g_flat[:, :, :head] = 0
        g_pad = g_flat[:, :, head:].reshape(n, O, Hp, Wp)
        g_pad[:, :, :Ho, :Wo] = self.g[lo:hi]
        g_pad[:, :, :Ho, Wo:] = 0
        g_pad[:, :, Ho:] = 0
        prod = self.prod[lo:hi]
        if self.shift_g_first:
            # gj[m, o, j, q] = g_pad[m, o, q - j*dw]: a view with a negative step along j, one copy
            sm, so, sq = g_flat.strides
            shifted = as_strided(g_flat[:, :, head:], (n, O, kw, S), (sm, so, -dw * sq, sq))
            xp.copyto(self.gj[lo:hi], shifted)
            xp.matmul(self.w_mat, self.gj[lo:hi].reshape(n, O * kw, S), out=prod.reshape(n, kh * C, S))
            shifts = (kh, 1)   # the column offsets are summed already
        else:
            Og, Cg = O // self.groups, C // self.groups
            g_pad = g_pad.reshape(n, O, S)
            if self.groups == 1:  # prod[m, i, j, c] = sum_o w[o, c, i, j] g_pad[m, o]: one batched product
                xp.matmul(self.w_ijc.reshape(O, kh * kw * C).T, g_pad, out=prod.reshape(n, kh * kw * C, S))
            for gi in range(self.groups if self.groups > 1 else 0):  # the same, per group
                outs, chans = slice(gi * Og, (gi + 1) * Og), slice(gi * Cg, (gi + 1) * Cg)
                p = xp.matmul(self.w_ijc[outs].reshape(Og, kh * kw * Cg).T, g_pad[:, outs])
                prod[:, :, :, chans] = p.reshape(n, kh, kw, Cg, S)
            shifts = (kh, kw)
        acc = self.acc[lo:hi]
        acc[...] = 0
        col2im_rows(acc, prod, self.padded_shape, *shifts, (dh, dw))

    def result(self):
        STATE.workspace.give(*self.scratch)
        self.scratch = []
        N, C, Hp, Wp = self.padded_shape
        return self.acc[:, :C * Hp * Wp].reshape(N, C, Hp, Wp)
