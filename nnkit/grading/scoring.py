"""Score one hidden test: a learner's result against the expected one, with a feedback line.

Runs in the grader's process (never in a learner's kernel), and in ``nnkit release --audit``,
which grades mutants of the solutions without a kernel.  ``match_misconception`` tells whether a
failing result is one of the typical wrong answers (the ``### MISCONCEPTION`` cells of the
solutions notebook, run on the same inputs).
"""
from __future__ import annotations

from nnkit.grading.compare import compare
from nnkit.grading.spec import HiddenTest


def score_test(test: HiddenTest, result: dict, expected, args=None) -> tuple[bool, str]:
    """Compare one test's result with its expected value: (passed, feedback line).

    ``args`` are the test's inputs (decoded), handed to a custom ``check``.
    """
    if "error" in result:
        kind, message = result["error"], result.get("message", "")
        if kind == "NotImplementedError":
            why = "not implemented (the function still raises NotImplementedError)"
        elif kind == "NameError" and test.call:
            why = f"your notebook does not define `{test.call}`"
        elif kind in ("timeout", "KeyboardInterrupt"):
            why = "ran past the time limit"
        elif kind == "MemoryError":
            why = "ran out of memory"
        elif kind in ("died", "flood", "skipped", "no result", "too large"):
            why = message
        else:
            why = f"raised {kind}: {message}"
        return False, why
    actual = result.get("value")
    if test.check is not None:
        try:
            test.check(actual, expected, args)
            message = None
        except AssertionError as err:
            message = str(err) or "the check failed"
        except Exception as err:  # noqa: BLE001 - the learner's result broke the check
            message = f"your result could not be checked ({type(err).__name__})"
    else:
        message = compare(actual, expected, test.rtol, test.atol, exact=test.compare == "equal")
    if message:
        return False, message
    return True, "passed"


def match_misconception(test: HiddenTest, result: dict, wrong, args=None) -> str | None:
    """The hint of the first misconception whose result ``result`` reproduces, or None.

    ``wrong`` is a list of (hint, value) pairs: each misconception's result on the same inputs
    (value None where it raised).  ``result`` reproduces a misconception when it would pass the
    test with that misconception's result as the expected one, as the grader decides: within the
    test's tolerances, or accepted by the test's own ``check`` (which must therefore compare with
    its ``expected`` argument, not only test properties, for a misconception to be named).
    """
    if "value" not in result:
        return None
    for hint, value in wrong:
        if value is not None and score_test(test, result, value, args)[0]:
            return hint
    return None


def with_misconception(line: str, hint: str | None) -> str:
    """A feedback line with the misconception it looks like, if any."""
    return f"{line} — this looks like: {hint}" if hint else line
