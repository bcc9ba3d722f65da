"""``nnkit.check``: instant feedback on an exercise function, without revealing answers.

    nnkit.check(relu, cases={"batch": (x,)})                  # expected results stored by release
    nnkit.check(tanh_grad, grad_of=np.tanh, cases=...)        # central finite differences
    nnkit.check(softmax, props=[("rows sum to 1", lambda p, z: np.allclose(p.sum(-1), 1))],
                cases=...)
    nnkit.check("softmax", softmax)                           # a named check (nnkit.grading.checks)

``cases`` is a dict {name: (arg, ...)} or, better, a function of a random generator returning
one (it is called with a fixed seed, so re-running the cell gives the same cases).  The expected
result of each case comes from the exercise's ``.checks.json`` file (see
``nnkit.grading.checkdata``), never from code in the notebook.  Options: ``name=`` (needed for a
lambda), ``rtol=``, ``atol=``, ``hints=[...]``, ``expect=False`` (the answer is not unique: only
the properties are checked), ``digest=True/False`` (store only a fingerprint of the expected
result, or the values themselves), ``exact=True``.

Each case is run; the first failure is explained (which case, expected vs actual shape, the
largest error and where, a hint for the usual mistake, the typical mistake it looks like).
A function that still raises ``NotImplementedError`` gets a friendly "not implemented yet".
"""
from __future__ import annotations

import contextlib

from nnkit.grading import checkdata
from nnkit.grading.cases import CheckReport, evaluate, numerical_grad, resolve_cases

__all__ = ["Check", "CheckReport", "check", "evaluate", "numerical_grad"]

_STORE_OPTIONS = ("digest", "expect", "exact")
_REPORTS: list | None = None


@contextlib.contextmanager
def collecting_reports():
    """Inside the block ``nnkit.check(...)`` prints nothing; its reports go to the yielded list."""
    global _REPORTS
    previous, _REPORTS = _REPORTS, []
    try:
        yield _REPORTS
    finally:
        _REPORTS = previous


class Check:
    """The callable behind ``nnkit.check``; see the module docstring."""

    def __call__(self, target, fn=None, **spec) -> None:
        report = self.report(target, fn, **spec)
        if _REPORTS is not None:
            _REPORTS.append(report)
        else:
            print(report.text())

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
            raise TypeError("nnkit.check(fn, cases=..., grad_of=/props=): cases missing")
        cases = spec.pop("cases")
        options = {k: spec.pop(k) for k in _STORE_OPTIONS if k in spec}
        name = spec.pop("name", None) or getattr(target, "__name__", "your function")
        if checkdata.is_recording():
            checkdata.record(name, target, resolve_cases(cases),
                             dict(options, rtol=spec.get("rtol", 1e-6), atol=spec.get("atol", 1e-9)))
            return CheckReport(name, passed=True, lines=[f"{name}: recorded"])
        return evaluate(target, cases, name=name, expected=checkdata.lookup(name), **spec)

    def __repr__(self) -> str:
        return "<nnkit.check: nnkit.check(fn, cases=..., props=/grad_of=) or nnkit.check('name', fn)>"


check = Check()
