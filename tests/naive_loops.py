"""Convolution and pooling written as loops over every output entry, forward and backward.

NumPy arrays in, NumPy arrays out; no nnkit code is used, so the tests can hold both of
nnkit's implementations (the textbook one and the fast kernels) to an independent answer.
Each function returns the output and a function that maps the output's gradient g to the
inputs' gradients, also by loops.
"""
import numpy as np


def conv2d_loops(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """out[n, o, y, x] = b[o] + sum_{c,i,j} x_pad[n, c0 + c, y*sh + i*dh, x*sw + j*dw] w[o, c, i, j]."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    top, bottom, left, right = pads
    x_pad = np.zeros((N, C, H + top + bottom, W + left + right))
    x_pad[:, :, top:top + H, left:left + W] = x
    Ho = (x_pad.shape[2] - dh * (kh - 1) - 1) // sh + 1
    Wo = (x_pad.shape[3] - dw * (kw - 1) - 1) // sw + 1
    per_group = O // groups

    def windows():
        """(n, o, first input channel of o's group, the rows and columns of output (y, q)'s window, y, q)."""
        for n in range(N):
            for o in range(O):
                for y in range(Ho):
                    for q in range(Wo):
                        yield (n, o, (o // per_group) * Cg, slice(y * sh, y * sh + dh * (kh - 1) + 1, dh),
                               slice(q * sw, q * sw + dw * (kw - 1) + 1, dw), y, q)

    out = np.zeros((N, O, Ho, Wo))
    for n, o, c0, rows, cols, y, q in windows():
        out[n, o, y, q] = np.sum(x_pad[n, c0:c0 + Cg, rows, cols] * w[o]) + (0.0 if b is None else b[o])

    def vjp(g):
        gx_pad, gw = np.zeros_like(x_pad), np.zeros_like(w, dtype=float)
        for n, o, c0, rows, cols, y, q in windows():
            gx_pad[n, c0:c0 + Cg, rows, cols] += g[n, o, y, q] * w[o]
            gw[o] += g[n, o, y, q] * x_pad[n, c0:c0 + Cg, rows, cols]
        gb = None if b is None else g.sum(axis=(0, 2, 3))
        return gx_pad[:, :, top:top + H, left:left + W], gw, gb

    return out, vjp


def pool2d_loops(x, kernel, stride, padding, mode="max", ceil_mode=False, count_include_pad=True):
    """Max or average pooling, PyTorch's conventions, counted cell by cell.

    A window of output (y, q) covers rows y*sh - ph .. y*sh - ph + kh - 1 (and columns alike).
    Max: over the real inputs of the window.  Average: the sum of the real inputs divided by
    the number of window cells inside the padded input (count_include_pad) or inside the input.
    """
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding

    def starts(n, k, s, p):
        # floor mode: every window lies inside the padded input [-p, n + p);
        # ceil mode: a window is added while the one before it has not reached the end of the
        # padded input, unless it would start in the right padding
        out, start = [], -p
        while (start < n and start - s + k < n + p) if ceil_mode else (start + k <= n + p):
            out.append(start)
            start += s
        return out

    rows_at, cols_at = starts(H, kh, sh, ph), starts(W, kw, sw, pw)
    out = np.zeros((N, C, len(rows_at), len(cols_at)))
    winner, divisor = {}, {}
    for y, r0 in enumerate(rows_at):
        for q, c0 in enumerate(cols_at):
            cells = [(r, c) for r in range(r0, r0 + kh) for c in range(c0, c0 + kw)]
            real = [(r, c) for r, c in cells if 0 <= r < H and 0 <= c < W]
            if count_include_pad:
                divisor[y, q] = sum(1 for r, c in cells if -ph <= r < H + ph and -pw <= c < W + pw)
            else:
                divisor[y, q] = len(real)
            for n in range(N):
                for ch in range(C):
                    values = [x[n, ch, r, c] for r, c in real]
                    if mode == "max":
                        # the first maximum in row-by-row order; padding (-inf) never wins
                        k = int(np.argmax(values))
                        winner[n, ch, y, q] = real[k]
                        out[n, ch, y, q] = values[k]
                    else:
                        out[n, ch, y, q] = sum(values) / divisor[y, q]

    def vjp(g):
        gx = np.zeros((N, C, H, W))
        for y, r0 in enumerate(rows_at):
            for q, c0 in enumerate(cols_at):
                for n in range(N):
                    for ch in range(C):
                        if mode == "max":
                            gx[(n, ch) + winner[n, ch, y, q]] += g[n, ch, y, q]
                        else:
                            for r in range(max(r0, 0), min(r0 + kh, H)):
                                for c in range(max(c0, 0), min(c0 + kw, W)):
                                    gx[n, ch, r, c] += g[n, ch, y, q] / divisor[y, q]
        return gx

    return out, vjp
