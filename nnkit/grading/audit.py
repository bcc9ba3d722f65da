"""The mutation audit: do the hidden tests reject wrong answers, on every grading seed?

For each solutions notebook (one forked child process each, see ``nbexec.in_children``):

1. run the solution cells, collect the hidden tests;
2. for each grading seed, draw every test's input sets (``HiddenTest.input_sets``) and compute
   the expected results from the solution; grade the solution itself (it must pass everything);
3. for each mutant (``nnkit.grading.mutation``): define it, grade it with ``scoring.score_test``
   on every seed, restore the solution.  A mutant is *killed* when some test fails under every
   seed, *unstable* when only under some (the grade would depend on luck), a *survivor* when never;
4. grade each ``### MISCONCEPTION`` cell the same way, and check that a failing test recognises it
   (``scoring.match_misconception``).

Survivors that no test can catch because they compute the same thing are marked in
``solutions/equivalent_mutants.json``: {notebook: {mutant key: reason}}.  The report gives per
notebook the mutants, killed, equivalent, survivors and unstable ones, and the kill rate among
non-equivalent mutants.  Results pass through the grader's codec, as in a real grading run.
"""
from __future__ import annotations

import copy
import hashlib
import json
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nnkit.grading import mutation, nbexec

SEEDS = tuple(range(10))
MARKS = "equivalent_mutants.json"
GOAL_TOTAL, GOAL_EACH = 0.99, 0.95


# ------------------------------------------------------------------------- in the child

def _zeros_like(value):
    import numpy as np

    if isinstance(value, np.ndarray):
        return np.zeros_like(value)
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.number)):
        return type(value)(0)
    if isinstance(value, tuple):
        return tuple(_zeros_like(v) for v in value)
    if isinstance(value, list):
        return [_zeros_like(v) for v in value]
    if isinstance(value, dict):
        return {k: _zeros_like(v) for k, v in value.items()}
    return value


class _Grader:
    """Grades whatever the namespace currently defines against the solution's expected results."""

    def __init__(self, tests, namespace, seeds):
        self.tests, self.ns, self.seeds = tests, namespace, list(seeds)
        self.sets, self.expected, self.limits = {}, {}, {}
        for seed in self.seeds:
            for i, test in enumerate(tests):
                sets = test.input_sets(seed, i)
                self.sets[seed, i] = sets
                values, slowest = [], 0.0
                for k, args in enumerate(sets):
                    started = time.perf_counter()
                    result = self.run(test, args, seed, k, limit=60.0)
                    slowest = max(slowest, time.perf_counter() - started)
                    if "value" not in result:
                        raise RuntimeError(f"hidden test {test.name!r} fails on the solution (seed {seed}): "
                                           f"{result.get('error')}: {result.get('message', '')}")
                    values.append(result["value"])
                self.expected[seed, i] = values
                self.limits[i] = max(self.limits.get(i, 0.0), 2.0 + 30 * slowest)

    def run(self, test, args, seed, k, limit):
        import numpy as np

        from nnkit.grading import codec
        from nnkit.grading.spec import run_case

        np.random.seed((seed * 7919 + k) % 2**32)
        random.seed(seed * 7919 + k)
        try:
            with nbexec.time_limit(limit):
                value = run_case(test.call, test.code, copy.deepcopy(args), self.ns)
            return {"value": codec.loads(codec.dumps(value))}
        except NotImplementedError:
            return {"error": "NotImplementedError"}
        except nbexec.TimeLimit:
            return {"error": "timeout", "message": "ran past the time limit"}
        except Exception as err:  # noqa: BLE001 - any failure of the graded code
            return {"error": type(err).__name__, "message": str(err)[:200]}

    def test_passes(self, i, seed):
        """(passed, feedback line, results per set) for test ``i`` under ``seed``."""
        from nnkit.grading.scoring import score_test

        test = self.tests[i]
        results = []
        for k, args in enumerate(self.sets[seed, i]):
            result = self.run(test, args, seed, k, self.limits[i])
            results.append(result)
            passed, line = score_test(test, result, self.expected[seed, i][k], copy.deepcopy(args))
            if not passed:
                return False, line, results
        return True, "passed", results

    def first_failure(self, seed, order):
        for i in order:
            passed, line, _ = self.test_passes(i, seed)
            if not passed:
                return f"{self.tests[i].name}: {line}"
        return None

    def order_for(self, name):
        related = [i for i, t in enumerate(self.tests) if t.call == name or (t.code and name in t.code)]
        return related + [i for i in range(len(self.tests)) if i not in related]


def _sampled(key: str, sample: int) -> bool:
    return sample <= 1 or int(hashlib.sha1(key.encode()).hexdigest(), 16) % sample == 0


def notebook_mutants(nb, sample=1):
    out = []
    for index, source in nb.cells:
        out += [m for m in mutation.mutants(source, index) if _sampled(m.key, sample)]
    return out


def _self_check_hints(nb, ns) -> set:
    """The misconception hints the notebook's self-checks report for what ``ns`` now defines."""
    from nnkit.grading.selfcheck import collecting_reports

    cells = [(i, src) for i, src in nb.cells if "nnkit.check(" in src and not mutation.solution_lines(src)]
    with collecting_reports() as reports:
        nbexec.run_cells(cells, ns, nb.name, allow_errors=True)
    return {r.misconception for r in reports if r.misconception}


def _audit_child(path, seeds, start, sample, exercises):
    import os

    import numpy as np

    from nnkit.grading.scoring import match_misconception

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    os.environ["NNKIT_CHECK_DATA"] = str(exercises)
    nb = nbexec.load(path)
    ns = nbexec.fresh_namespace()
    nbexec.run_cells(nb.cells, ns, nb.name)
    ns[mutation.ZEROS] = _zeros_like
    tests = nbexec.collect_tests(nb)
    grader = _Grader(tests, ns, seeds)
    mutants = notebook_mutants(nb, sample)
    failing = [f"seed {s}: {why}" for s in seeds if (why := grader.first_failure(s, range(len(tests))))]
    yield {"kind": "setup", "tests": [t.name for t in tests], "mutants": len(mutants),
           "solution_failures": failing}
    for index in range(start, len(mutants)):
        m = mutants[index]
        yield {"kind": "begin", "index": index}
        previous = m.apply(ns)
        try:
            order = grader.order_for(m.function.split(".")[0])
            why = {s: grader.first_failure(s, order) for s in seeds}
        finally:
            m.restore(ns, previous)
        killed = [s for s in seeds if why[s]]
        yield {"kind": "mutant", "index": index, "key": m.key, "operator": m.operator,
               "killed": killed, "why": next((why[s] for s in killed), "")}
    if start == 0 or start > len(mutants):
        for cell, hint, source in nb.misconceptions:
            saved = dict(ns)
            try:
                nbexec.run_cells([(cell, source)], ns, nb.name)
                killed, recognised = [], set()
                for s in seeds:
                    dead = False
                    for i in range(len(tests)):
                        passed, line, results = grader.test_passes(i, s)
                        if passed:
                            continue
                        dead = True
                        # as in the grader: the learner's results on every input set against the
                        # misconception's own results (a second, independent run)
                        sets = grader.sets[s, i]
                        mine = [grader.run(tests[i], a, s, k, grader.limits[i]) for k, a in enumerate(sets)]
                        theirs = [grader.run(tests[i], a, s, k, grader.limits[i]) for k, a in enumerate(sets)]
                        if all(match_misconception(tests[i], r, [(hint, t.get("value"))], copy.deepcopy(a))
                               for r, t, a in zip(mine, theirs, sets)):
                            recognised.add(tests[i].name)
                    if dead:
                        killed.append(s)
                self_checks = hint in _self_check_hints(nb, ns)
            finally:
                ns.clear()
                ns.update(saved)
            yield {"kind": "misconception", "hint": hint, "killed": killed, "recognised": sorted(recognised),
                   "self_check": self_checks}


# ------------------------------------------------------------------------ in the parent

@dataclass
class NotebookAudit:
    name: str
    tests: list = field(default_factory=list)
    total: int = 0
    results: dict = field(default_factory=dict)      # index -> mutant message
    misconceptions: list = field(default_factory=list)
    solution_failures: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    marks: dict = field(default_factory=dict)        # key -> reason

    def classify(self, seeds):
        killed, equivalent, survivors, unstable = [], [], [], []
        for index in sorted(self.results):
            r = self.results[index]
            if len(r["killed"]) == len(seeds):
                (equivalent if r["key"] in self.marks else killed).append(r)
            elif not r["killed"]:
                (equivalent if r["key"] in self.marks else survivors).append(r)
            else:
                unstable.append(r)
        return killed, equivalent, survivors, unstable

    def stale_marks(self, seeds):
        keys = {r["key"]: r for r in self.results.values()}
        stale = []
        for key in self.marks:
            if key not in keys:
                stale.append(f"{key} (no such mutant)")
            elif keys[key]["killed"]:
                stale.append(f"{key} (marked equivalent but killed: {keys[key]['why']})")
        return stale


@dataclass
class AuditReport:
    notebooks: list
    seeds: tuple
    sample: int
    seconds: float = 0.0

    def totals(self):
        n = k = e = s = u = 0
        for nb in self.notebooks:
            killed, eq, surv, unst = nb.classify(self.seeds)
            n += len(nb.results)
            k, e, s, u = k + len(killed), e + len(eq), s + len(surv), u + len(unst)
        return n, k, e, s, u

    def problems(self) -> list[str]:
        out = []
        for nb in self.notebooks:
            killed, eq, surv, unst = nb.classify(self.seeds)
            rate = _rate(len(killed), len(nb.results) - len(eq))
            out += [f"{nb.name}: {e}" for e in nb.errors]
            out += [f"{nb.name}: the solution fails under {f}" for f in nb.solution_failures]
            if rate < GOAL_EACH:
                out.append(f"{nb.name}: kills {rate:.1%} of its non-equivalent mutants (goal {GOAL_EACH:.0%})")
            out += [f"{nb.name}: unstable (killed under seeds {r['killed']} only): {r['key']}" for r in unst]
            if self.sample == 1:
                out += [f"{nb.name}: stale equivalence mark: {m}" for m in nb.stale_marks(self.seeds)]
            for m in nb.misconceptions:
                if len(m["killed"]) != len(self.seeds):
                    out.append(f"{nb.name}: misconception '{m['hint']}' passes the hidden tests under "
                               f"{len(self.seeds) - len(m['killed'])} seeds")
                elif not m["recognised"]:
                    out.append(f"{nb.name}: no hidden test recognises misconception '{m['hint']}'")
                if not m["self_check"]:
                    out.append(f"{nb.name}: no self-check recognises misconception '{m['hint']}'")
            if not nb.misconceptions and not nb.errors:
                out.append(f"{nb.name}: no misconception cell")
        n, k, e, s, u = self.totals()
        if _rate(k, n - e) < GOAL_TOTAL:
            out.append(f"overall: kills {_rate(k, n - e):.2%} of the non-equivalent mutants (goal {GOAL_TOTAL:.0%})")
        return out

    def table(self) -> str:
        head = f"{'notebook':58s} {'mutants':>7s} {'killed':>6s} {'equiv':>5s} {'surv':>4s} {'unst':>4s} {'kill %':>7s}"
        lines = [head, "-" * len(head)]
        for nb in self.notebooks:
            killed, eq, surv, unst = nb.classify(self.seeds)
            rate = _rate(len(killed), len(nb.results) - len(eq))
            lines.append(f"{nb.name:58s} {len(nb.results):7d} {len(killed):6d} {len(eq):5d} {len(surv):4d} "
                         f"{len(unst):4d} {rate:7.1%}")
        n, k, e, s, u = self.totals()
        lines.append("-" * len(head))
        lines.append(f"{'all notebooks':58s} {n:7d} {k:6d} {e:5d} {s:4d} {u:4d} {_rate(k, n - e):7.2%}")
        return "\n".join(lines)

    def details(self) -> str:
        lines = []
        for nb in self.notebooks:
            killed, eq, surv, unst = nb.classify(self.seeds)
            for r in surv:
                lines.append(f"{nb.name}: SURVIVOR  {r['key']}")
            for r in unst:
                lines.append(f"{nb.name}: UNSTABLE  {r['key']} (killed under seeds {r['killed']})")
            for r in eq:
                lines.append(f"{nb.name}: equivalent {r['key']} — {nb.marks[r['key']]}")
            for m in nb.misconceptions:
                lines.append(f"{nb.name}: misconception '{m['hint']}': killed under {len(m['killed'])}/"
                             f"{len(self.seeds)} seeds, recognised by {', '.join(m['recognised']) or 'no test'}"
                             f"{' and by a self-check' if m['self_check'] else ', by no self-check'}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        out = {"seeds": list(self.seeds), "sample": self.sample, "seconds": round(self.seconds, 1),
               "notebooks": {}}
        for nb in self.notebooks:
            killed, eq, surv, unst = nb.classify(self.seeds)
            out["notebooks"][nb.name] = {
                "mutants": len(nb.results), "killed": len(killed), "equivalent": {r["key"]: nb.marks[r["key"]] for r in eq},
                "survivors": [r["key"] for r in surv], "unstable": [r["key"] for r in unst],
                "misconceptions": nb.misconceptions, "errors": nb.errors + nb.solution_failures}
        return out


def _rate(killed, total):
    return 1.0 if total == 0 else killed / total


def load_marks(solutions_dir) -> dict:
    path = Path(solutions_dir) / MARKS
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    for name, marks in data.items():
        for key, reason in marks.items():
            if not str(reason).strip():
                raise ValueError(f"{MARKS}: {name}: the mark of {key!r} needs a reason")
    return data


def audit(solutions_dir="solutions", notebooks=None, *, seeds=SEEDS, jobs=2, sample=1,
          exercises_dir=None, progress=None) -> AuditReport:
    """Audit the solutions notebooks (all, or the stems in ``notebooks``)."""
    started = time.perf_counter()
    folder = Path(solutions_dir)
    paths = sorted(folder.glob("*.ipynb"))
    if notebooks:
        wanted = set(notebooks)
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            raise FileNotFoundError(f"no solutions notebook named {sorted(missing)} in {folder}")
    marks = load_marks(folder)
    state = {p.stem: NotebookAudit(p.stem, marks=marks.get(p.stem, {})) for p in paths}
    current = {}
    exercises = Path(exercises_dir) if exercises_dir else folder.parent / "exercises"
    tasks = [(p.stem, _audit_child, (str(p), tuple(seeds), 0, sample, str(exercises))) for p in paths]
    by_name = {p.stem: p for p in paths}
    for name, kind, item in nbexec.in_children(tasks, jobs=jobs, stall_s=90.0):
        nb = state[name]
        if kind == "item":
            if item["kind"] == "setup":
                nb.tests, nb.total, nb.solution_failures = item["tests"], item["mutants"], item["solution_failures"]
            elif item["kind"] == "begin":
                current[name] = item["index"]
            elif item["kind"] == "mutant":
                nb.results[item["index"]] = item
                current.pop(name, None)
                if progress:
                    progress(name, len(nb.results), nb.total)
            elif item["kind"] == "misconception":
                nb.misconceptions.append(item)
        elif kind == "error":
            index = current.pop(name, None)
            if index is None:
                nb.errors.append(item.strip().splitlines()[0] if item.strip() else "worker failed")
                continue
            # the mutant hung or crashed its process: the grader would fail it too
            nb.results[index] = {"index": index, "key": f"mutant #{index}", "operator": "?",
                                 "killed": list(seeds), "why": f"stopped the worker: {item.splitlines()[0]}"}
            tasks.append((name, _audit_child, (str(by_name[name]), tuple(seeds), index + 1, sample, str(exercises))))
    _name_stopped(state, by_name, sample)
    return AuditReport([state[p.stem] for p in paths], tuple(seeds), sample, time.perf_counter() - started)


def _name_stopped(state, paths, sample):
    """Give mutants that stopped their worker their real keys (the worker could not send them)."""
    for nb in state.values():
        unnamed = [r for r in nb.results.values() if r["operator"] == "?"]
        if not unnamed:
            continue
        mutants = notebook_mutants(nbexec.load(paths[nb.name]), sample)
        for r in unnamed:
            if r["index"] < len(mutants):
                r["key"], r["operator"] = mutants[r["index"]].key, mutants[r["index"]].operator
