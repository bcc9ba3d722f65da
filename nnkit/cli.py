"""The ``nnkit`` command.

    nnkit release [SOLUTIONS_DIR] [--out exercises]
    nnkit grade SOURCE SUBMISSIONS... --out DIR [--jobs N] [--timeout S] [--memory MB] [--force]
    nnkit gradebook summary | learner ID | export --format csv|canvas|moodle|html --out FILE
                    [--gradebook gradebook.sqlite]
"""
from __future__ import annotations

import argparse
import sys


def _release(args) -> int:
    from nnkit.grading.release import release_dir

    for path in release_dir(args.solutions, args.out):
        print(f"wrote {path}")
    return 0


def _grade(args) -> int:
    from nnkit.grading.grader import GradingError, grade

    try:
        rows = grade(args.source, args.submissions, args.out, jobs=args.jobs, timeout=args.timeout,
                     memory_mb=args.memory, force=args.force, seed=args.seed,
                     progress=not args.quiet)
    except GradingError as err:
        print(f"nnkit grade: {err}", file=sys.stderr)
        return 2
    graded = sum(r["status"] == "graded" for r in rows)
    print(f"{len(rows)} submissions ({graded} graded, {len(rows) - graded} not gradable): "
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
    rel.set_defaults(run=_release)
    gr = sub.add_parser("grade", help="grade submitted notebooks")
    gr.add_argument("source", help="the solutions notebook with the hidden tests")
    gr.add_argument("submissions", nargs="+", help="submitted notebooks")
    gr.add_argument("--out", required=True, help="output folder: grades.csv, feedback/")
    gr.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel")
    gr.add_argument("--timeout", type=float, default=30.0, help="seconds per cell")
    gr.add_argument("--memory", type=int, default=2048, help="memory cap per kernel, MB")
    gr.add_argument("--force", action="store_true", help="re-grade already graded submissions")
    gr.add_argument("--seed", type=int, default=None, help="fix the hidden inputs (default: fresh)")
    gr.add_argument("--quiet", action="store_true", help="no progress bar")
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
