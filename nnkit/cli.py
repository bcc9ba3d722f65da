"""The ``nnkit`` command.

    nnkit release [SOLUTIONS_DIR] [--out exercises] [--audit [--seeds 10] [--first-seed 0] [--notebooks a,b]
                  [--sample N]]
    nnkit grade SOURCE SUBMISSIONS... --out DIR [--jobs N] [--timeout S] [--notebook-timeout S]
                [--memory MB] [--force] [--seed N] [--no-isolation] [--scheduler tcp://HOST:8786 | local:N]
    nnkit grade --check-isolation
    nnkit gradebook summary | learner ID | export --format csv|canvas|moodle|html --out FILE
                    [--gradebook gradebook.sqlite]
"""
from __future__ import annotations

import argparse
import sys


def _release(args) -> int:
    from nnkit.grading.release import release_dir

    for path in release_dir(args.solutions, args.out, jobs=args.jobs):
        print(f"wrote {path}")
    return _audit(args) if args.audit else 0


def _audit(args) -> int:
    """The leak check on the released exercises, then the mutation audit of the solutions."""
    import json

    from nnkit.grading import audit, leaks

    names = [n for n in (args.notebooks or "").split(",") if n] or None
    if args.seeds < 1:
        print("nnkit release: --seeds needs at least one grading seed", file=sys.stderr)
        return 2
    problems = []
    for name, found in leaks.check(args.solutions, args.out, names, jobs=args.jobs).items():
        problems += [f"{name}: LEAK: {p}" for p in found]
    print(f"leak check: {'no answer found in the exercises' if not problems else f'{len(problems)} leaks'}")
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    report = audit.audit(args.solutions, names, seeds=seeds, jobs=args.jobs,
                         sample=args.sample, exercises_dir=args.out)
    print(report.table())
    if report.details():
        print(report.details())
    problems += report.problems()
    print(f"mutation audit: {args.seeds} grading seeds ({seeds[0]}..{seeds[-1]}), {report.seconds:.0f} s")
    if args.json:
        data = report.as_dict()
        data["leaks"] = [p for p in problems if ": LEAK: " in p]
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
    for line in problems:
        print(f"PROBLEM {line}")
    return 1 if problems else 0


def _expand(patterns) -> tuple[list[str], str | None]:
    """Submission paths from the command line: files, folders (their notebooks) and patterns.

    A shell that finds no match passes the pattern on unexpanded; it is expanded here, and a
    pattern or folder that matches nothing is an error rather than a missing submission.
    """
    import glob
    import os

    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern) and not os.path.islink(pattern):
            found = sorted(glob.glob(os.path.join(glob.escape(pattern), "*.ipynb")))
        elif os.path.lexists(pattern) or not glob.has_magic(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(pattern))
        if not found:
            return [], f"no submissions match {pattern!r}"
        paths += found
    return paths, None


def _check_isolation() -> int:
    from nnkit.grading.sandbox_check import check_isolation

    report = check_isolation()
    for line in report.lines:
        print(line)
    return 0 if report.usable else 1


def _grade(args) -> int:
    from nnkit.grading.batch import grade_batch
    from nnkit.grading.grader import GradingError

    if args.check_isolation:
        return _check_isolation()
    if not args.source or not args.submissions or not args.out:
        print("nnkit grade: give SOURCE, SUBMISSIONS... and --out DIR "
              "(or --check-isolation)", file=sys.stderr)
        return 2
    submissions, problem = _expand(args.submissions)
    if problem:
        print(f"nnkit grade: {problem}", file=sys.stderr)
        return 2
    if args.no_isolation:
        print("nnkit grade: WARNING: --no-isolation runs every submission without a sandbox, "
              "with your files, network and environment in reach; only for notebooks you trust.",
              file=sys.stderr)
    try:
        summary = grade_batch(args.source, submissions, args.out, gradebook=args.gradebook,
                              jobs=args.jobs, timeout=args.timeout,
                              notebook_timeout=args.notebook_timeout, memory_mb=args.memory,
                              force=args.force, seed=args.seed, progress=not args.quiet,
                              isolate=not args.no_isolation, scheduler=args.scheduler)
    except GradingError as err:
        print(f"nnkit grade: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnkit grade: interrupted; every finished submission is saved, "
              "run the same command again to grade the rest", file=sys.stderr)
        return 130
    print(f"{len(summary.rows)} submissions: {summary.graded_now} graded now, "
          f"{summary.already_graded} already graded, {summary.not_graded} not gradable "
          f"({summary.seconds:g} s, seed {summary.seed}); gradebook {args.gradebook}, exports in "
          f"{args.out}/grades.csv and {args.out}/feedback/")
    return 0


def _gradebook(args) -> int:
    from nnkit.grading import gradebook_export as export
    from nnkit.grading.gradebook import Gradebook, GradebookError

    try:
        with Gradebook(args.gradebook, create=False) as book:
            if args.action == "summary":
                print(export.format_summary(book))
            elif args.action == "learner":
                print(export.format_learner(book, args.id))
            else:
                print(export.run_export(book, args.format, args.out, roster=args.roster,
                                        id_field=args.id_field, learners=args.learner))
    except (GradebookError, OSError) as err:
        print(f"nnkit gradebook: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nnkit", description="nnkit course tools")
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="generate exercises/ from solutions/")
    rel.add_argument("solutions", nargs="?", default="solutions", help="solutions folder")
    rel.add_argument("--out", default="exercises", help="exercises folder (default: exercises)")
    rel.add_argument("--jobs", type=int, default=2, help="notebooks run in parallel")
    rel.add_argument("--audit", action="store_true",
                     help="then run the leak check and the mutation audit (fails on a problem)")
    rel.add_argument("--seeds", type=int, default=10, help="audit: grading seeds per mutant (N of them)")
    rel.add_argument("--first-seed", type=int, default=0,
                     help="audit: the first grading seed (seeds FIRST..FIRST+N-1; default 0)")
    rel.add_argument("--notebooks", default="", help="audit: only these notebooks (comma-separated stems)")
    rel.add_argument("--sample", type=int, default=1, help="audit: keep about one mutant in N")
    rel.add_argument("--json", default="", help="audit: also write the report as JSON here")
    rel.set_defaults(run=_release)
    gr = sub.add_parser("grade", help="grade submitted notebooks")
    gr.add_argument("source", nargs="?", help="the solutions notebook with the hidden tests")
    gr.add_argument("submissions", nargs="*", help="submitted notebooks, folders of them or patterns")
    gr.add_argument("--out", help="output folder for this assignment's exports: grades.csv, feedback/")
    gr.add_argument("--gradebook", default="gradebook.sqlite",
                    help="the course gradebook (default: gradebook.sqlite in this folder)")
    gr.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel")
    gr.add_argument("--timeout", type=float, default=30.0, help="seconds per cell (default 30)")
    gr.add_argument("--notebook-timeout", type=float, default=None,
                    help="seconds per notebook, all cells and tests (default: 3 x --timeout)")
    gr.add_argument("--memory", type=int, default=2048, help="memory cap per kernel process, MB")
    gr.add_argument("--force", action="store_true", help="re-grade already graded submissions")
    gr.add_argument("--seed", type=int, default=None,
                    help="the hidden inputs' seed (default: fresh; every row records it)")
    gr.add_argument("--quiet", action="store_true", help="no progress bar")
    gr.add_argument("--no-isolation", action="store_true",
                    help="run kernels without a sandbox: ONLY for notebooks you trust")
    gr.add_argument("--scheduler", default=None,
                    help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786), or "
                         "local:N for N worker processes here; needs nnkit[cluster]")
    gr.add_argument("--check-isolation", action="store_true",
                    help="report whether this machine can sandbox submissions, then exit")
    gr.set_defaults(run=_grade)
    book = sub.add_parser("gradebook", help="the course gradebook: summary, one learner, exports")
    actions = book.add_subparsers(dest="action", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--gradebook", default="gradebook.sqlite", help="default: gradebook.sqlite")
    actions.add_parser("summary", parents=[where], help="per assignment: counts, mean, most failed tests")
    one = actions.add_parser("learner", parents=[where], help="every grade of one learner")
    one.add_argument("id", help="the learner's id")
    ex = actions.add_parser("export", parents=[where], help="files for Canvas, Moodle, spreadsheets, learners")
    ex.add_argument("--format", required=True, choices=["csv", "canvas", "moodle", "html"])
    ex.add_argument("--out", required=True, help="the file to write (html: a folder, a page per learner)")
    ex.add_argument("--roster", help="CSV: learner,name,email,idnumber,username,canvas_id,sis_user_id,...")
    ex.add_argument("--id-field", help="canvas: sis_user_id|sis_login_id|id; moodle: auto|idnumber|email|username")
    ex.add_argument("--learner", action="append", help="html: only this learner (repeatable)")
    book.set_defaults(run=_gradebook)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
