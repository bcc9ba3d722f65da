"""Exercises, self-checks and the batch grader.

- ``nnkit.grading.release``   solutions/ -> exercises/ (stubs, no hidden tests, no outputs)
- ``nnkit.check``             the learner's instant self-check (``nnkit.grading.selfcheck``)
- ``nnkit.grading.hidden_test`` declares one graded test inside a ``### HIDDEN TESTS`` cell
- ``nnkit.grading.grade``     grades a batch of submitted notebooks into a CSV gradebook

The format of a solutions notebook is described in ``solutions/README.md``.  Importing this
package is cheap: the notebook machinery (nbformat) loads only when it is used.
"""
from nnkit.grading.spec import HiddenTest, hidden_test


def release(solutions_dir="solutions", out_dir="exercises"):
    """Write one exercise notebook per solutions notebook; see ``nnkit.grading.release``."""
    from nnkit.grading.release import release_dir

    return release_dir(solutions_dir, out_dir)


def grade(source, submissions, out_dir, **options):
    """Grade submitted notebooks against ``source``; see ``nnkit.grading.batch.grade``."""
    from nnkit.grading.batch import grade as _grade

    return _grade(source, submissions, out_dir, **options)


__all__ = ["HiddenTest", "hidden_test", "release", "grade"]
