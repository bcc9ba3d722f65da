"""Grade 100 submissions of the warm-up exercise and print the time it takes.

    python benchmarks/grading.py [--n 100] [--jobs 2]

The submissions mix correct (5/5), partial (4/5: an overflowing softmax) and wrong (0/5)
answers; the script checks that every one got its expected score.  Goal: under 3 minutes for
100 submissions on 2 cores.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from nnkit.grading import grade

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grading_fixtures.hostile import NAIVE_SOFTMAX, SIGMOID, SIGMOID_GRAD, SOFTMAX, WRONG  # noqa: E402

KINDS = {"correct": (5, [SIGMOID, SIGMOID_GRAD, SOFTMAX]),
         "partial": (4, [SIGMOID, SIGMOID_GRAD, NAIVE_SOFTMAX]),
         "wrong": (0, [WRONG])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, paths, expected = Path(tmp), [], {}
        names = list(KINDS)
        for i in range(args.n):
            kind = names[i % len(names)]
            path = folder / f"student{i:03d}-{kind}.ipynb"
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import nnkit\nnnkit.seed(0)")]
                                          + [nbformat.v4.new_code_cell(c) for c in KINDS[kind][1]])
            nbformat.write(nb, path)
            paths.append(path)
            expected[path.stem] = KINDS[kind][0]
        start = time.perf_counter()
        rows = grade(ROOT / "solutions" / "00-warmup.ipynb", paths, folder / "out", jobs=args.jobs)
        total = time.perf_counter() - start
    wrong = [r["submission"] for r in rows if r["total"] != expected[r["submission"]]]
    print(f"graded {len(rows)} submissions with {args.jobs} jobs in {total:.1f} s "
          f"({total / len(rows):.2f} s per submission, goal: 180 s for 100)")
    print("all scores as expected" if not wrong else f"UNEXPECTED scores: {wrong}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
