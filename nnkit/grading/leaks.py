"""The leak check: a released exercise must not contain its answers.

Static, on the exercise's text:
- no line of a solution block (8 characters or more) appears in a code cell, not even in a
  helper the exercise keeps;
- no marker (solution, hint, hidden test, misconception) survives;
- no check is given a ``reference=`` callable.

Dynamic, with the exercise executed in a child process (its stubs raising as they do for a
learner): every function the exercise defines, and every nnkit function it imports or names, is
tried in place of each graded function on the hidden tests' inputs.  One that passes a hidden test
computes the answer: a reference implementation handed to the learner.
"""
from __future__ import annotations

import ast
import copy
import re
import types
from pathlib import Path

from nnkit.grading import markers, nbexec

_SAFE_NNKIT = {"seed", "use", "set_default_dtype", "default_dtype", "to_device", "to_numpy", "check"}
_DEF_RE = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.M)


def solution_lines(solution_nb) -> set[str]:
    """The lines inside solution blocks (8 characters or more, comments left out)."""
    inside = set()
    for cell in solution_nb.cells:
        if markers.is_hidden(cell) or markers.is_misconception(cell):
            continue
        active = False
        for line in markers.cell_text(cell).splitlines():
            s = line.strip()
            if s.startswith(markers.BEGIN):
                active = True
            elif s.startswith(markers.END):
                active = False
            elif active and len(s) >= 8 and not s.startswith("#"):
                inside.add(s)
    return inside


def static_leaks(solution_nb, exercise_nb) -> list[str]:
    problems = []
    code = [c for c in exercise_nb.cells if c.cell_type == "code"]
    lines = {line.strip() for c in code for line in markers.cell_text(c).splitlines()}
    for line in sorted(solution_lines(solution_nb) & lines):
        problems.append(f"solution code in the exercise: `{line}`")
    text = "\n".join(markers.cell_text(c) for c in exercise_nb.cells)
    for marker in (markers.BEGIN, markers.END, markers.HIDDEN, markers.MISCONCEPTION, "### HINT", "hidden_test("):
        if marker in text:
            problems.append(f"the marker `{marker}` is still in the exercise")
    for index, cell in enumerate(exercise_nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(markers.cell_text(cell))
        except SyntaxError:
            if "reference=" in markers.cell_text(cell):
                problems.append(f"cell {index}: a check with reference=")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and any(k.arg == "reference" for k in node.keywords):
                problems.append(f"cell {index}: a check is given a reference= implementation "
                                f"(`{ast.unparse(node)[:80]}`)")
    return problems


def _graded_names(solution_nb) -> set[str]:
    names = set()
    for cell in solution_nb.cells:
        text = markers.cell_text(cell)
        if cell.cell_type == "code" and markers.has_solution(text):
            names.update(_DEF_RE.findall(text))
    return names


def _candidates(namespace: dict, code_text: str, graded: set[str]) -> dict:
    """Callables a learner could call instead of writing the answer: {label: callable}."""
    found = {}
    for name, value in namespace.items():
        if name.startswith("__") or name in graded or name in _SAFE_NNKIT:
            continue
        if isinstance(value, types.ModuleType):
            if value.__name__.split(".")[0] == "nnkit":
                for attr in set(re.findall(rf"\b{re.escape(name)}\.([A-Za-z_]\w*)", code_text)):
                    target = getattr(value, attr, None)
                    if callable(target) and attr not in _SAFE_NNKIT and not isinstance(target, types.ModuleType):
                        found[f"{name}.{attr}"] = target
            continue
        if not callable(value) or isinstance(value, type):
            continue
        module = getattr(value, "__module__", "") or ""
        if module == "__main__" or module.split(".")[0] == "nnkit":
            found[name] = value
    return found


def _dynamic_child(solution_path, exercise_path):
    import warnings

    import numpy as np

    from nnkit.grading import codec
    from nnkit.grading.scoring import score_test
    from nnkit.grading.spec import run_case

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    sol = nbexec.load(solution_path)
    ns_sol = nbexec.fresh_namespace()
    nbexec.run_cells(sol.cells, ns_sol, sol.name)
    tests = nbexec.collect_tests(sol)
    ex = nbexec.load(exercise_path)
    ns_ex = nbexec.fresh_namespace()
    nbexec.run_cells(ex.cells, ns_ex, ex.name, allow_errors=True)
    import nbformat

    graded = _graded_names(nbformat.read(solution_path, as_version=4))
    code_text = "\n".join(src for _, src in ex.cells)
    candidates = _candidates(ns_ex, code_text, graded)
    leaks = []
    for index, test in enumerate(tests):
        sets = test.input_sets(0, index)
        expected = [codec.loads(codec.dumps(run_case(test.call, test.code, copy.deepcopy(a), ns_sol)))
                    for a in sets]
        targets = [test.call] if test.call else sorted(n for n in graded if re.search(rf"\b{n}\b", test.code))
        for target in targets:
            for label, fn in candidates.items():
                scope = dict(ns_ex)
                scope[target] = fn
                ok = True
                for args, value in zip(sets, expected):
                    try:
                        with nbexec.time_limit(5.0):
                            got = run_case(test.call, test.code, copy.deepcopy(args), scope)
                        result = {"value": codec.loads(codec.dumps(got))}
                    except BaseException as err:  # noqa: BLE001 - not a working substitute
                        if isinstance(err, (KeyboardInterrupt, SystemExit)):
                            raise
                        ok = False
                        break
                    if not score_test(test, result, value, copy.deepcopy(args))[0]:
                        ok = False
                        break
                if ok:
                    leaks.append(f"`{label}` computes the answer of hidden test {test.name!r} "
                                 f"(used in place of `{target}`)")
    yield leaks


def check(solutions_dir="solutions", exercises_dir="exercises", notebooks=None, jobs=2) -> dict:
    """{notebook name: [problems]} for every released exercise (empty lists when clean)."""
    import nbformat

    src, dst = Path(solutions_dir), Path(exercises_dir)
    paths = sorted(src.glob("*.ipynb"))
    if notebooks:
        paths = [p for p in paths if p.stem in set(notebooks)]
    report, tasks = {}, []
    for path in paths:
        exercise = dst / path.name
        if not exercise.is_file():
            report[path.stem] = ["no released exercise (run nnkit release)"]
            continue
        report[path.stem] = static_leaks(nbformat.read(path, as_version=4), nbformat.read(exercise, as_version=4))
        tasks.append((path.stem, _dynamic_child, (str(path), str(exercise))))
    for name, kind, payload in nbexec.in_children(tasks, jobs=jobs):
        if kind == "item":
            report[name] += payload
        elif kind == "error":
            report[name].append(f"the leak check could not run: {payload.splitlines()[0]}")
    return report
