"""Check an analytic gradient against finite differences.

The central difference (f(x + h) - f(x - h)) / 2h has error O(h^2), against
O(h) for the one-sided difference of the hacker's guide (Lecture 2.3,
"Gradient checking").  Two checks are offered:

- **entrywise**: perturb every input entry in turn (exact, costs 2 evaluations per entry);
- **random directions**: compare the directional derivative d/dt f(x + t v)
  with <grad f, v> for a few random v (cheap for large inputs, as in HIPS
  autograd's ``check_grads``).

A function with a non-scalar output is reduced to the scalar
``sum(f(x) * r)`` with a fixed random ``r``, which checks the full
vector-Jacobian product.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnkit.autodiff import Tensor
from nnkit.backend import to_numpy


@dataclass
class GradReport:
    """What a gradient check found."""

    ok: bool
    max_abs_error: float
    max_rel_error: float
    where: str
    details: list = field(default_factory=list)

    def __str__(self) -> str:
        verdict = "passed" if self.ok else "FAILED"
        lines = [
            f"gradient check {verdict}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e} at {self.where}"
        ]
        lines += [f"  {d}" for d in self.details]
        return "\n".join(lines)


class GradientCheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def _scalarize(f, inputs, seed):
    """Return (scalar function of arrays, analytic gradients at ``inputs``)."""
    out = f(*[Tensor(x) for x in inputs])
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(np.shape(out.data)) if out.size > 1 else np.ones(np.shape(out.data))

    def scalar(*arrays):
        return float(np.sum(to_numpy(f(*[Tensor(a) for a in arrays]).data).astype(np.float64) * r))

    tensors = [Tensor(x, requires_grad=True) for x in inputs]
    y = f(*tensors)
    y.backward(r.astype(y.data.dtype))
    # gradients come back to the host, whichever backend computed them
    grads = [to_numpy(t.grad) if t.grad is not None else np.zeros(t.shape) for t in tensors]
    return scalar, grads


def check_grad(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, mode="entrywise", n_directions=4, seed=0) -> GradReport:
    """Compare the autodiff gradient of ``f`` with finite differences.

    Parameters
    ----------
    f : callable taking Tensors and returning a Tensor of any shape.
    inputs : float arrays (use float64 for tight tolerances).
    mode : "entrywise" or "directions".

    Returns a :class:`GradReport`; its ``ok`` is True when every compared
    value satisfies ``|a - n| <= atol + rtol * |n|``.
    """
    inputs = [np.array(x, dtype=np.float64) if np.asarray(x).dtype.kind != "f" else np.array(x) for x in inputs]
    scalar, grads = _scalarize(f, inputs, seed)
    worst = (0.0, 0.0, "nowhere")
    details = []
    ok = True

    def compare(analytic, numeric, label):
        nonlocal worst, ok
        abs_err = abs(analytic - numeric)
        rel_err = abs_err / max(abs(analytic), abs(numeric), 1e-12)
        if abs_err > worst[0]:
            worst = (abs_err, rel_err, label)
        if abs_err > atol + rtol * abs(numeric):
            ok = False
            if len(details) < 10:
                details.append(f"{label}: analytic {analytic:.6g} vs numerical {numeric:.6g}")

    if mode == "entrywise":
        for i, x in enumerate(inputs):
            flat = x.reshape(-1)
            for j in range(flat.size):
                old = flat[j]
                flat[j] = old + eps
                plus = scalar(*inputs)
                flat[j] = old - eps
                minus = scalar(*inputs)
                flat[j] = old
                index = np.unravel_index(j, x.shape) if x.ndim else ()
                compare(float(grads[i].reshape(-1)[j]), (plus - minus) / (2 * eps),
                        f"input {i} index {tuple(int(k) for k in index)}")
    elif mode == "directions":
        rng = np.random.default_rng(seed + 1)
        for d in range(n_directions):
            vs = [rng.standard_normal(x.shape) for x in inputs]
            plus = scalar(*[x + eps * v for x, v in zip(inputs, vs)])
            minus = scalar(*[x - eps * v for x, v in zip(inputs, vs)])
            analytic = float(sum(np.sum(g.astype(np.float64) * v) for g, v in zip(grads, vs)))
            compare(analytic, (plus - minus) / (2 * eps), f"random direction {d}")
    else:
        raise ValueError(f"check_grad: mode must be 'entrywise' or 'directions', got {mode!r}")
    return GradReport(ok, worst[0], worst[1], worst[2], details)


def assert_grad(f, *inputs, **kwargs) -> GradReport:
    """Like :func:`check_grad`, but raise :class:`GradientCheckError` with the report on failure."""
    report = check_grad(f, *inputs, **kwargs)
    if not report.ok:
        raise GradientCheckError(str(report))
    return report


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference gradient of a scalar function of one array (plain NumPy)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        plus = float(f(x))
        flat[j] = old - eps
        minus = float(f(x))
        flat[j] = old
        gflat[j] = (plus - minus) / (2 * eps)
    return g
