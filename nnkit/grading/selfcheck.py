"""``nnkit.check``: instant feedback on an exercise function, without revealing answers.

    nnkit.check("softmax", softmax)                     # a named check (nnkit.grading.checks)
    nnkit.check(relu, reference=nnkit_relu, cases={"batch": (x,)})
    nnkit.check(tanh_grad, grad_of=np.tanh, cases=...)  # central finite differences
    nnkit.check(softmax, props=[("rows sum to 1", lambda p, z: np.allclose(p.sum(-1), 1))],
                cases=...)

Each case is run; the first failure is explained (which case, expected vs actual shape, the
largest error and where, a hint for the usual mistake) and expected values are never printed.
A function that still raises ``NotImplementedError`` gets a friendly "not implemented yet".
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from nnkit.grading.compare import compare


@dataclass
class CheckReport:
    """What a check found: ``passed``, the ``lines`` it prints, ``implemented``."""

    name: str
    passed: bool = False
    implemented: bool = True
    lines: list = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines)


def _describe_args(args) -> str:
    parts = []
    for a in args:
        if isinstance(a, np.ndarray):
            parts.append(f"array {a.shape}")
        else:
            parts.append(type(a).__name__)
    return ", ".join(parts)


def numerical_grad(f, args, wrt=0, h=1e-6):
    """Central differences of sum(f(*args)) with respect to args[wrt] (float64)."""
    args = [np.array(a, dtype=np.float64) if isinstance(a, (np.ndarray, float)) else a for a in args]
    x = args[wrt]
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = float(np.sum(f(*args)))
        flat[i] = old - h
        down = float(np.sum(f(*args)))
        flat[i] = old
        g[i] = (up - down) / (2 * h)
    return grad


def evaluate(fn, cases, *, name=None, reference=None, grad_of=None, wrt=0, props=(),
             rtol=1e-6, atol=1e-9, hints=()) -> CheckReport:
    """Run a check and return its report (``check`` prints it)."""
    name = name or getattr(fn, "__name__", "your function")
    report = CheckReport(name)
    if not callable(fn):
        report.lines.append(f"{name}: expected a function, got a {type(fn).__name__}")
        return report
    if callable(cases):
        cases = cases(np.random.default_rng(1234))
    count = 0
    for case, args in cases.items():
        args = list(args) if isinstance(args, (list, tuple)) else [args]
        given = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = fn(*given)
            except NotImplementedError:
                report.implemented = False
                report.lines.append(
                    f"{name}: not implemented yet — replace the `raise NotImplementedError(...)` "
                    "line in its cell with your code, run that cell, then this one again.")
                return report
            except Exception as err:  # noqa: BLE001 - report any learner error
                report.lines.append(f"{name}: case '{case}' ({_describe_args(args)}) raised "
                                    f"{type(err).__name__}: {err}")
                return report
        overflow = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        failure = None
        if reference is not None:
            failure = compare(out, reference(*args), rtol, atol, where="your result")
        if failure is None and grad_of is not None:
            failure = compare(out, numerical_grad(grad_of, args, wrt), max(rtol, 1e-5),
                              max(atol, 1e-7), where="your gradient (vs finite differences)")
        if failure is None:
            for text, prop in props:
                try:
                    ok = bool(prop(out, *args))
                except Exception:  # noqa: BLE001 - a property that cannot even be evaluated
                    ok = False
                if not ok:
                    failure = f"your result does not satisfy: {text}"
                    break
        count += 1
        if failure:
            report.lines.append(f"{name}: case '{case}' ({_describe_args(args)}) failed")
            report.lines.append(f"  {failure}")
            if overflow:
                report.lines.append(f"  NumPy warned: {overflow[0].message}")
            report.lines.extend(f"  hint: {h}" for h in hints)
            return report
        if overflow:
            report.lines.append(f"{name}: case '{case}' gives the right numbers, but NumPy warned "
                                f"'{overflow[0].message}': a numerically stable form avoids it")
    report.passed = True
    report.lines.append(f"{name}: all {count} checks passed ✔")
    return report


class Check:
    """The callable behind ``nnkit.check``; see the module docstring."""

    def __call__(self, target, fn=None, **spec) -> None:
        print(self.report(target, fn, **spec).text())

    def report(self, target, fn=None, **spec) -> CheckReport:
        """Like calling the check, but return the report instead of printing it."""
        if isinstance(target, str):
            from nnkit.grading.checks import CHECKS

            if target not in CHECKS:
                raise KeyError(f"nnkit.check: no check named {target!r}; known: {sorted(CHECKS)}")
            if fn is None:
                raise TypeError(f"nnkit.check({target!r}, fn): pass your function as well")
            return CHECKS[target](fn, **spec)
        if "cases" not in spec:
            raise TypeError("nnkit.check(fn, cases=..., reference=/grad_of=/props=): cases missing")
        cases = spec.pop("cases")
        return evaluate(target, cases, **spec)

    def __repr__(self) -> str:
        return "<nnkit.check: nnkit.check('name', fn) or nnkit.check(fn, cases=..., reference=...)>"


check = Check()
