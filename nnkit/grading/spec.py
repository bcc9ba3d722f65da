"""Hidden tests: what the grader feeds a learner's function and how it compares.

A ``### HIDDEN TESTS`` cell calls ``hidden_test(...)`` once per graded test.  The grader runs
those cells in its own process (never in a learner's kernel) with ``collecting()`` active, so
each call is recorded.  Run inside the solutions notebook, a call instead tries the test on the
solution at once, so an author sees immediately that it is well-formed.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

_COLLECTOR: list | None = None


@dataclass
class HiddenTest:
    """One graded test: call ``call(*args)`` (or run ``code``), compare with the solution."""

    name: str
    points: float
    args: Callable[[Any], Any]
    call: str | None = None
    code: str | None = None
    rtol: float = 1e-6
    atol: float = 1e-9
    compare: str = "allclose"
    check: Callable | None = None
    hint: str = ""
    draws: int = 1
    fixed: tuple = ()
    extra: dict = field(default_factory=dict)

    def make_args(self, rng):
        """Draw this test's inputs: a list (positional) or a dict (variables for ``code``)."""
        args = self.args(rng) if callable(self.args) else self.args
        if self.code is None and isinstance(args, dict):
            raise TypeError(f"hidden test {self.name!r}: a dict of args needs code=, not call=")
        if isinstance(args, tuple):
            args = list(args)
        if not isinstance(args, (list, dict)):
            args = [args]
        return args

    def all_args(self, rng) -> list:
        """Every input set the test is graded on: the ``fixed`` ones, then ``draws`` fresh draws.

        The test passes only when the result is right on every one of them.
        """
        sets = [self._as_args(a) for a in self.fixed]
        sets += [self.make_args(rng) for _ in range(self.draws)]
        return sets

    def input_sets(self, seed: int, index: int) -> list:
        """The input sets of grading run ``seed`` for the test at position ``index`` in its notebook.

        Drawn from ``np.random.default_rng([seed, index])``, so a run is repeated exactly by
        giving its seed again.
        """
        import numpy as np

        return self.all_args(np.random.default_rng([int(seed), int(index)]))

    def _as_args(self, args):
        if isinstance(args, tuple):
            args = list(args)
        return args if isinstance(args, (list, dict)) else [args]


def hidden_test(name, points=1, *, args, call=None, code=None, rtol=1e-6, atol=1e-9,
                compare="allclose", check=None, hint="", draws=1, fixed=()):
    """Declare one graded test (see solutions/README.md, section 3).

    name:    column name in grades.csv (letters, digits, _ and -)
    points:  what the test is worth
    args:    ``lambda rng: [...]`` drawing fresh inputs from a NumPy Generator
    call:    name of the learner's function, called as ``call(*args)``; or
    code:    a snippet run in the learner's namespace with the args (a dict) as variables,
             which must set ``result``
    rtol, atol, compare ("allclose" or "equal"), check(actual, expected, args): the comparison
    hint:    shown to the learner when the test fails
    draws:   how many independent input sets ``args`` draws per grading run (all must pass)
    fixed:   input sets used on every run besides the draws (edge cases a draw may miss)
    """
    if (call is None) == (code is None):
        raise ValueError(f"hidden test {name!r}: give exactly one of call= or code=")
    if compare not in ("allclose", "equal"):
        raise ValueError(f"hidden test {name!r}: compare must be 'allclose' or 'equal', not {compare!r}")
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"hidden test name {name!r}: use letters, digits, _ and - only")
    if int(draws) < 0 or (int(draws) == 0 and not fixed):
        raise ValueError(f"hidden test {name!r}: needs draws >= 1 or at least one fixed input set")
    test = HiddenTest(name, float(points), args, call, code, rtol, atol, compare, check, hint,
                      int(draws), tuple(fixed))
    if _COLLECTOR is not None:
        _COLLECTOR.append(test)
    else:
        _try_on_solution(test, inspect.currentframe().f_back.f_globals)
    return test


@contextlib.contextmanager
def collecting():
    """Record every ``hidden_test`` call made inside the block into the yielded list."""
    global _COLLECTOR
    previous, _COLLECTOR = _COLLECTOR, []
    try:
        yield _COLLECTOR
    finally:
        _COLLECTOR = previous


def _try_on_solution(test: HiddenTest, namespace: dict) -> None:
    """Author's convenience: run the test once on the solution in ``namespace``."""
    import numpy as np

    from nnkit.grading import codec

    sets = test.all_args(np.random.default_rng(0))
    for args in sets:
        result = run_case(test.call, test.code, args, namespace)
        codec.encode(result)  # raises if the result cannot travel back to the grader
    print(f"hidden test {test.name} ({test.points:g} pt): runs on the solution "
          f"({len(sets)} input set{'s' if len(sets) > 1 else ''}), result {codec.describe(result)}")


def run_case(call, code, args, namespace):
    """Evaluate one test in ``namespace``: ``namespace[call](*args)`` or ``exec(code)``."""
    if call is not None:
        if call not in namespace:
            raise NameError(f"name {call!r} is not defined")
        return namespace[call](*args)
    scope = dict(namespace)
    scope.update(args)
    exec(code, scope)  # noqa: S102 - the snippet comes from the solutions notebook
    if "result" not in scope:
        raise NameError("the test snippet did not set `result`")
    return scope["result"]
