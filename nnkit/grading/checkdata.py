"""The expected results of the self-checks, stored beside each exercise notebook.

``nnkit release`` runs every solutions notebook with the self-checks *recording*: each
``nnkit.check(fn, cases=...)`` call runs the solution on its cases and keeps the results.  It then
runs every ``### MISCONCEPTION`` cell (a typical wrong answer) on the same cases.  What it writes,
``exercises/NAME.checks.json``, holds per check and case

- ``inputs``: a fingerprint of the case's arguments (an edited check cell finds no entry);
- ``value`` (the expected result) or ``fingerprint`` (only a tolerance-robust hash of it, for
  results that would give the answer away: single numbers, integers, very small arrays);
- ``misconceptions``: the hint and the fingerprint of each wrong variant's result.

In a learner's kernel ``nnkit.check`` finds the entry by check name, case name and inputs in
the ``*.checks.json`` files of the working folder (and of ``../exercises``, so a solutions
notebook run by its author finds them too).
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from nnkit.grading import fingerprint

SUFFIX = ".checks.json"
FORMAT = 1
INPUT_RTOL, INPUT_ATOL = 1e-9, 1e-12
SIGNIFICANT = 12
SMALL = 4            # results with fewer numbers than this are stored as fingerprints

_RECORDING: list | None = None
_CACHE: dict = {}


# ------------------------------------------------------------------------------- recording

class Recorded:
    """One ``nnkit.check`` call seen while recording: the function, its cases and results."""

    def __init__(self, name, fn, cases, options):
        self.name, self.fn, self.cases, self.options = name, fn, cases, options
        self.results: dict = {}
        self.wrong: dict = {}     # misconception hint -> {case: result}
        self.bound = False        # fn is a global of the notebook, under its own name

    def run(self, into: dict, namespace: dict | None = None) -> None:
        """Run the check's function on every case.  With ``namespace``, a function that was
        passed by name (``nnkit.check(sigmoid, ...)``) is looked up again, so a redefinition
        (a misconception cell) is the one that runs."""
        from nnkit.grading.cases import copy_args, materialized

        fn = self.fn
        name = getattr(fn, "__name__", "")
        if namespace is not None and self.bound and callable(namespace.get(name)):
            fn = namespace[name]
        for case, args in self.cases.items():
            try:
                into[case] = ("value", materialized(fn(*copy_args(args))))
            except Exception as err:  # noqa: BLE001 - recorded, reported by release
                into[case] = ("error", f"{type(err).__name__}: {err}")


def is_recording() -> bool:
    return _RECORDING is not None


@contextlib.contextmanager
def recording():
    """Inside the block every ``nnkit.check`` call is recorded (into the yielded list)."""
    global _RECORDING
    previous, _RECORDING = _RECORDING, []
    try:
        yield _RECORDING
    finally:
        _RECORDING = previous


def record(name, fn, cases: dict, options: dict) -> None:
    item = Recorded(name, fn, cases, options)
    item.run(item.results)
    _RECORDING.append(item)


# -------------------------------------------------------------------------------- building

def input_fingerprint(args) -> dict:
    return fingerprint.make(_plain_args(args), rtol=INPUT_RTOL, atol=INPUT_ATOL, salt="inputs")


def _plain_args(args):
    """Arguments with callables replaced by their names (a fingerprint needs plain data)."""
    def plain(a):
        if callable(a) and not isinstance(a, np.ndarray):
            return f"<callable {getattr(a, '__name__', type(a).__name__)}>"
        if isinstance(a, (list, tuple)):
            return type(a)(plain(x) for x in a)
        if isinstance(a, dict):
            return {str(k): plain(v) for k, v in a.items()}
        if hasattr(a, "__next__"):
            return "<iterator>"
        return a
    return [plain(a) for a in args]


def _count_numbers(value) -> int:
    if isinstance(value, dict):
        return sum(_count_numbers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_count_numbers(v) for v in value)
    if value is None or isinstance(value, str):
        return 0
    return int(np.size(value))


def _is_discrete(value) -> bool:
    if isinstance(value, dict):
        return all(_is_discrete(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_discrete(v) for v in value)
    if value is None or isinstance(value, str):
        return True
    return np.asarray(value).dtype.kind in "biu"


def _rounded(data):
    """JSON data with every float cut to SIGNIFICANT digits (smaller, stable files)."""
    if isinstance(data, float):
        return float(f"{data:.{SIGNIFICANT}g}")
    if isinstance(data, list):
        return [_rounded(v) for v in data]
    if isinstance(data, dict):
        return {k: _rounded(v) for k, v in data.items()}
    return data


def build(exercise: str, recorded: list) -> dict:
    """The JSON-ready contents of ``NAME.checks.json`` (raises ValueError on a broken check)."""
    from nnkit.grading import codec

    checks: dict = {}
    for item in recorded:
        if item.name in ("<lambda>", "") or not item.name.isprintable():
            raise ValueError(f"{exercise}: a check of a lambda needs name='...'")
        opts = item.options
        entry = checks.setdefault(item.name, {"cases": {}})
        for case, (kind, result) in item.results.items():
            where = f"{exercise}: check {item.name!r}, case {case!r}"
            if case in entry["cases"]:
                raise ValueError(f"{where}: the case name is used twice for this check")
            if kind == "error":
                raise ValueError(f"{where}: the solution raises {result}")
            salt = f"{exercise}/{item.name}/{case}"
            rtol, atol = float(opts.get("rtol", 1e-6)), float(opts.get("atol", 1e-9))
            exact = bool(opts.get("exact", False)) or _is_discrete(result)
            stored = {"inputs": input_fingerprint(item.cases[case])}
            if opts.get("expect", True):
                digest = opts.get("digest")
                if digest is None:
                    digest = exact or _count_numbers(result) < SMALL
                try:
                    if digest:
                        stored["fingerprint"] = fingerprint.make(result, rtol=rtol, atol=atol,
                                                                 exact=exact, salt=salt)
                    else:
                        stored["value"] = _rounded(codec.encode(result))
                        stored["exact"] = exact
                except TypeError as err:
                    raise ValueError(f"{where}: the result cannot be stored ({err})") from err
            wrong = []
            for hint, results in item.wrong.items():
                kind_w, value_w = results.get(case, ("error", ""))
                if kind_w != "value":
                    continue
                try:
                    same = fingerprint.matches(value_w, fingerprint.make(result, rtol=rtol, atol=atol,
                                                                         exact=exact, salt=salt), salt=salt)
                    fp = fingerprint.make(value_w, rtol=rtol, atol=atol, exact=exact, salt=salt)
                except TypeError:
                    continue
                if not same:
                    wrong.append({"hint": hint, "fingerprint": fp})
            if wrong:
                stored["misconceptions"] = wrong
            entry["cases"][case] = stored
    return {"format": FORMAT, "exercise": exercise, "checks": checks}


def dumps(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=True) + "\n"


# --------------------------------------------------------------------------------- lookup

def search_dirs() -> list[Path]:
    cwd = Path.cwd()
    dirs = [Path(p) for p in os.environ.get("NNKIT_CHECK_DATA", "").split(os.pathsep) if p]
    return dirs + [cwd, cwd.parent / "exercises"]


def _load(path: Path):
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _CACHE.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    _CACHE[path] = (stamp, data)
    return data


def data_files() -> list:
    found = []
    for folder in search_dirs():
        try:
            paths = sorted(folder.glob("*" + SUFFIX))
        except OSError:
            continue
        for path in paths:
            data = _load(path)
            if isinstance(data, dict) and data.get("format") == FORMAT:
                found.append(data)
    return found


def lookup(name: str):
    """A function (case, args) -> the stored entry of that case, or None if there is none."""
    candidates = [d for d in data_files() if name in d.get("checks", {})]

    def find(case, args):
        if not candidates:
            return None
        mine = None
        for data in candidates:
            stored = data["checks"][name]["cases"].get(case)
            if stored is None:
                continue
            if mine is None:
                mine = _plain_args(args)
            if fingerprint.matches(mine, stored["inputs"], salt="inputs"):
                return _decoded(stored, f"{data['exercise']}/{name}/{case}")
        return None

    return find


def _decoded(stored: dict, salt: str) -> dict:
    from nnkit.grading import codec

    entry = dict(stored, salt=salt)
    if "value" in stored:
        entry["value"] = codec.decode(stored["value"])
    return entry
