"""Checks of *how* a learner's function computes, for hidden tests whose task prescribes a method.

A hidden test with ``code=`` runs in the learner's kernel; these helpers let its snippet see
which functions the answer calls (``counting``), rule some out while it runs (``forbidding``),
or list the library functions it reaches (``library_calls``).  A broken rule raises
``MethodError`` with a sentence for the learner, which the grader reports as the test's failure.

    from nnkit.grading.probes import counting, forbidding, no_library
    with counting(parity_network, "step") as calls:
        result = parity_network(X)
    calls.at_least(X.shape[1] - 1, "build parity from threshold units: call step(...) in every block")

This module imports nothing beyond the standard library at import time.
"""
from __future__ import annotations

import contextlib
import importlib
import types


class MethodError(AssertionError):
    """The answer is computed in a way the exercise rules out."""


class Calls:
    """How often a wrapped function was called."""

    def __init__(self, name: str):
        self.name, self.count = name, 0

    def at_least(self, n: int, message: str) -> None:
        if self.count < n:
            raise MethodError(f"{message} ({self.name} was called {self.count} times, expected at least {n})")


@contextlib.contextmanager
def counting(fn, name: str):
    """Count the calls ``fn`` makes to the global ``name`` of its module (the learner's namespace)."""
    scope = fn.__globals__
    if name not in scope:
        raise MethodError(f"`{name}` is not defined: the exercise asks you to use it")
    original = scope[name]
    calls = Calls(name)

    def counted(*args, **kwargs):
        calls.count += 1
        return original(*args, **kwargs)

    scope[name] = counted
    try:
        yield calls
    finally:
        scope[name] = original


@contextlib.contextmanager
def forbidding(*names: str, reason: str = "the exercise asks you to write it yourself"):
    """While the block runs, calling any of ``names`` ("numpy.cumsum", "builtins.sum", ...) fails."""
    patched = []
    try:
        for dotted in names:
            module_name, attr = dotted.rsplit(".", 1)
            module = importlib.import_module(module_name)
            original = getattr(module, attr)

            def refuse(*args, _name=dotted, **kwargs):
                raise MethodError(f"your answer calls {_name}: {reason}")

            setattr(module, attr, refuse)
            patched.append((module, attr, original))
        yield
    finally:
        for module, attr, original in reversed(patched):
            setattr(module, attr, original)


def library_calls(fn, package: str = "nnkit", *, _seen=None) -> set[str]:
    """Names of ``package``'s functions and modules that ``fn`` reaches through its globals.

    Follows the learner's own helper functions (defined in the same namespace) recursively.
    """
    seen = set() if _seen is None else _seen
    found: set[str] = set()
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return found
    seen.add(id(fn))
    scope = fn.__globals__
    names = _global_names(code)
    for name in names:
        value = scope.get(name)
        if value is None:
            continue
        module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", "") or ""
        if module == package or module.startswith(package + "."):
            if not module.startswith(package + ".grading"):
                found.add(f"{module}.{getattr(value, '__name__', name)}" if not isinstance(value, types.ModuleType) else module)
        elif isinstance(value, types.FunctionType) and value.__globals__ is scope:
            found |= library_calls(value, package, _seen=seen)
    return found


def _global_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def no_library(fn, package: str = "nnkit") -> None:
    """Raise ``MethodError`` when ``fn`` uses ``package`` (the exercise asks for plain NumPy)."""
    used = sorted(library_calls(fn, package))
    if used:
        raise MethodError(f"your answer uses {', '.join(used)}: the exercise asks for plain NumPy")
