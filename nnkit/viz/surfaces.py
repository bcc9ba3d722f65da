"""Cost surfaces of two parameters and the paths optimizers take across them.

A cost of two parameters J(u, v) is drawn by evaluating it on a grid and
shading or contouring the values; an optimizer's path is the sequence of
points it visits, drawn on top.  ("How neural networks are trained": "Cost
function", "The gradient descent method", "AlecRad's gradient descent
methods"; the notes' "Training algorithms".)

    U, V, J = grid_values(cost, (-2, 4), (-6, 8))
    path = descent_path(grad, start=(0, 0), lr=0.05, steps=200)
    fig, ax = plt.subplots()
    plot_cost_contours(ax, U, V, J, log=True)
    plot_path(ax, path, label="lr = 0.05")

Only NumPy and matplotlib are used to draw; :func:`optimizer_path` drives any
``nnkit.optim`` optimizer on a single 2-vector parameter.
"""
from __future__ import annotations

import numpy as np


def _pair(name, value):
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (2,):
        raise ValueError(f"{name}: expected a pair (low, high) or a point (u, v) of shape (2,), "
                         f"got shape {arr.shape}")
    return arr


def grid_values(cost, u_range, v_range, n: int = 150):
    """Evaluate ``cost(U, V)`` on an ``n x n`` grid: returns ``(U, V, J)``, each of shape (n, n).

    ``cost`` takes two arrays of the same shape and returns the cost elementwise
    (write it with NumPy operations so that it broadcasts).  ``U`` varies along
    axis 1 (columns) and ``V`` along axis 0 (rows), as ``np.meshgrid`` gives them.
    """
    lo_u, hi_u = _pair("grid_values: u_range", u_range)
    lo_v, hi_v = _pair("grid_values: v_range", v_range)
    if int(n) != n or n < 2:
        raise ValueError(f"grid_values: n must be an integer >= 2, got {n}")
    U, V = np.meshgrid(np.linspace(lo_u, hi_u, int(n)), np.linspace(lo_v, hi_v, int(n)))
    J = np.asarray(cost(U, V), dtype=np.float64)
    if J.shape != U.shape:
        raise ValueError(f"grid_values: cost(U, V) must return shape {U.shape} "
                         f"(elementwise over the grid), got {J.shape}")
    return U, V, J


def descent_path(grad, start, lr: float, steps: int, stop_above: float = 1e6):
    """Plain gradient descent from ``start``: ``w_{k+1} = w_k - lr * grad(w_k)``.

    ``grad`` maps a point of shape (2,) to the gradient, shape (2,).  Returns the
    visited points, shape (k + 1, 2) with ``k <= steps``: the path stops early
    once a coordinate's magnitude exceeds ``stop_above`` or is not finite, so a
    diverging run (learning rate too large) still draws.
    """
    w = _pair("descent_path: start", start)
    if lr < 0:
        raise ValueError(f"descent_path: lr must be >= 0, got {lr}")
    path = [w.copy()]
    for _ in range(int(steps)):
        g = np.asarray(grad(w), dtype=np.float64)
        if g.shape != (2,):
            raise ValueError(f"descent_path: grad(w) must have shape (2,), got {g.shape}")
        w = w - lr * g
        path.append(w.copy())
        if not np.all(np.isfinite(w)) or np.abs(w).max() > stop_above:
            break
    return np.array(path)


def optimizer_path(loss, start, make_optimizer, steps: int, stop_above: float = 1e6):
    """Run an ``nnkit.optim`` optimizer on a single 2-vector parameter; return its path (k + 1, 2).

    ``loss`` maps a Tensor ``w`` of shape (2,) to a scalar Tensor (built from
    Tensor operations so that ``backward()`` works); ``make_optimizer`` takes
    the parameter list and returns an optimizer, e.g.
    ``lambda ps: nnkit.optim.Adam(ps, lr=0.1)``.  Stops early like :func:`descent_path`.
    """
    from nnkit.nn import Parameter  # the drawing helpers above need no autodiff

    w = Parameter(_pair("optimizer_path: start", start), dtype="float64")
    opt = make_optimizer([w])
    path = [w.data.copy()]
    for _ in range(int(steps)):
        opt.zero_grad()
        value = loss(w)
        if getattr(value, "size", 1) != 1:
            raise ValueError(f"optimizer_path: loss(w) must be a scalar Tensor, got shape "
                             f"{getattr(value, 'shape', None)}")
        value.backward()
        opt.step()
        path.append(np.array(w.data, dtype=np.float64))
        if not np.all(np.isfinite(w.data)) or np.abs(w.data).max() > stop_above:
            break
    return np.array(path)


def log_levels(J, count: int = 20, floor: float | None = None):
    """``count`` contour levels spaced evenly in log scale from ``min J`` (or ``floor``) to ``max J``.

    A bowl-shaped cost rises steeply away from its minimum; logarithmic spacing
    keeps the rings around the minimum visible.  Needs a positive maximum.
    """
    J = np.asarray(J, dtype=np.float64)
    top = float(np.nanmax(J))
    low = float(np.nanmin(J)) if floor is None else float(floor)
    if top <= 0:
        raise ValueError(f"log_levels: the largest value must be > 0, got {top}")
    low = max(low, top * 1e-6)
    return np.geomspace(low, top, int(count))


def plot_cost_contours(ax, U, V, J, levels=20, log: bool = True, cmap: str = "viridis",
                       filled: bool = True, colorbar: bool = True):
    """Contour plot of a cost on a grid (from :func:`grid_values`); returns the contour set.

    With ``log=True`` and an integer ``levels`` the levels are :func:`log_levels`
    and the colours follow a logarithmic scale.
    """
    from matplotlib.colors import LogNorm

    norm = None
    if log and np.ndim(levels) == 0:
        levels = log_levels(J, int(levels))
    if log:
        norm = LogNorm(vmin=levels[0], vmax=levels[-1])
    draw = ax.contourf if filled else ax.contour
    cs = draw(U, V, J, levels=levels, cmap=cmap, norm=norm, extend="both" if filled else "neither")
    if colorbar:
        bar = ax.figure.colorbar(cs, ax=ax, label="cost")
        if log:  # ticks at the powers of ten inside the range, written plainly
            lo, hi = np.log10(levels[0]), np.log10(levels[-1])
            ticks = [10.0 ** k for k in range(int(np.ceil(lo)), int(np.floor(hi)) + 1)]
            bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    return cs


def plot_path(ax, path, color: str = "tab:red", label: str | None = None, markers: bool = True):
    """Draw an optimizer's path (shape (k, 2)) with its start (circle) and end (cross)."""
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2:
        raise ValueError(f"plot_path: expected a path of shape (k, 2), got {path.shape}")
    line, = ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.5, label=label,
                    marker="." if markers else None, ms=4)
    ax.plot(*path[0], "o", color=color, ms=7, mfc="white")
    ax.plot(*path[-1], "x", color=color, ms=9, mew=2)
    return line
