"""Run a learner's function on named cases and explain the first failure.

The engine behind ``nnkit.check``.  Each case is compared, in this order, with
- the expected result that ``nnkit release`` stored for it (a value, or only a fingerprint
  where even the value would give the answer away),
- a trusted ``reference`` callable (for authors and unit tests; released exercises use none),
- central finite differences of a function (``grad_of``: usually the learner's own forward),
- properties (``props``: "rows sum to 1", "f(x) = x", ...; a property returns a bool or raises
  ``AssertionError("why")``).
A failing result that matches a stored typical mistake gets that mistake's hint.  Expected values
are never printed.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np

from nnkit.grading import fingerprint
from nnkit.grading.compare import compare

NOT_IMPLEMENTED = ("not implemented yet — replace the `raise NotImplementedError(...)` line in its "
                   "cell with your code, run that cell, then this one again.")


@dataclass
class CheckReport:
    """What a check found: ``passed``, the ``lines`` it prints, ``implemented``."""

    name: str
    passed: bool = False
    implemented: bool = True
    lines: list = field(default_factory=list)
    misconception: str = ""

    def text(self) -> str:
        return "\n".join(self.lines)


def describe_args(args) -> str:
    parts = []
    for a in args:
        parts.append(f"array {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__)
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


def resolve_cases(cases) -> dict:
    """A dict of case name -> list of arguments (``cases`` may be a function of a generator)."""
    if callable(cases):
        cases = cases(np.random.default_rng(1234))
    if not isinstance(cases, dict) or not cases:
        raise TypeError("cases must be a non-empty dict {name: (arg, ...)} or a function of rng returning one")
    return {str(k): list(v) if isinstance(v, (list, tuple)) else [v] for k, v in cases.items()}


def materialized(out):
    """A generator's items as a list (a generator can be read only once)."""
    return list(out) if inspect.isgenerator(out) else out


def copy_args(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _against_stored(out, entry, rtol, atol) -> str | None:
    if "value" in entry:
        return compare(out, entry["value"], rtol, atol, exact=entry.get("exact", False), where="your result")
    fp = entry["fingerprint"]
    shape = fingerprint.structure_message(out, fp)
    if shape:
        return f"your result: {shape}"
    if not fingerprint.matches(out, fp, salt=entry.get("salt", "")):
        return ("your result: wrong values (this check keeps only a fingerprint of the expected "
                "result, so it cannot show where they differ)")
    return None


def _misconception(out, entry) -> str:
    for wrong in entry.get("misconceptions", ()):
        if fingerprint.matches(out, wrong["fingerprint"], salt=entry.get("salt", "")):
            return wrong["hint"]
    return ""


def evaluate(fn, cases, *, name=None, reference=None, grad_of=None, wrt=0, props=(),
             rtol=1e-6, atol=1e-9, hints=(), expected=None) -> CheckReport:
    """Run a check and return its report (``nnkit.check`` prints it).

    ``expected(case, args)`` returns the stored entry of a case (or None when there is none).
    """
    name = name or getattr(fn, "__name__", "your function")
    report = CheckReport(name)
    if not callable(fn):
        report.lines.append(f"{name}: expected a function, got a {type(fn).__name__}")
        return report
    count, compared = 0, 0
    for case, args in resolve_cases(cases).items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = materialized(fn(*copy_args(args)))
            except NotImplementedError:
                report.implemented = False
                report.lines.append(f"{name}: {NOT_IMPLEMENTED}")
                return report
            except Exception as err:  # noqa: BLE001 - report any learner error
                report.lines.append(f"{name}: case '{case}' ({describe_args(args)}) raised "
                                    f"{type(err).__name__}: {err}")
                return report
        overflow = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        entry = expected(case, args) if expected is not None else None
        failure = None
        if entry is not None and ("value" in entry or "fingerprint" in entry):
            compared += 1
            failure = _against_stored(out, entry, rtol, atol)
        if failure is None and reference is not None:
            compared += 1
            failure = compare(out, reference(*args), rtol, atol, where="your result")
        if failure is None and grad_of is not None:
            compared += 1
            failure = compare(out, numerical_grad(grad_of, args, wrt), max(rtol, 1e-5),
                              max(atol, 1e-7), where="your gradient (vs finite differences)")
        if failure is None:
            for text, prop in props:
                compared += 1
                try:
                    ok = bool(prop(out, *args))
                except AssertionError as err:       # a property may explain itself
                    ok, text = False, f"{text} ({err})" if str(err) else text
                except Exception:  # noqa: BLE001 - a property that cannot even be evaluated
                    ok = False
                if not ok:
                    failure = f"your result does not satisfy: {text}"
                    break
        count += 1
        if failure:
            report.lines.append(f"{name}: case '{case}' ({describe_args(args)}) failed")
            report.lines.append(f"  {failure}")
            report.misconception = _misconception(out, entry) if entry else ""
            if report.misconception:
                report.lines.append(f"  this looks like: {report.misconception}")
            if overflow:
                report.lines.append(f"  NumPy warned: {overflow[0].message}")
            report.lines.extend(f"  hint: {h}" for h in hints)
            return report
        if overflow:
            report.lines.append(f"{name}: case '{case}' gives the right numbers, but NumPy warned "
                                f"'{overflow[0].message}': a numerically stable form avoids it")
    if not compared:
        report.lines.append(f"{name}: ran on all {count} cases, but found nothing to compare with: the "
                            "expected values come in a .checks.json file beside the exercise notebook")
        return report
    report.passed = True
    report.lines.append(f"{name}: all {count} checks passed ✔")
    return report
