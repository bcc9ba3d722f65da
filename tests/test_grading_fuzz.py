"""Fuzzing the grader: random mutations of the warm-up answers, graded as one batch.

Mutations act on the file's bytes (flips, cuts, insertions), on its JSON (keys dropped, values
replaced by other types, deep nesting, lone surrogates, wrong versions) and on its code
(hostile or broken snippets inserted, lines cut, functions removed). Whatever they produce,
the grader must give every file a row, never report a grader error, never give more than
the intact answers earn, and leave no kernel behind.

The test grades ``NNKIT_FUZZ_CASES`` mutants (default 300) with short time limits; the
mutants are drawn from a fixed seed (``NNKIT_FUZZ_SEED``, default 0), so a failure repeats.
"""
import csv
import json
import os
import random
from pathlib import Path

import nbformat

from nnkit.grading import markers
from nnkit.grading.batch import grade_batch

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "00-warmup.ipynb"
CASES = int(os.environ.get("NNKIT_FUZZ_CASES", "300"))
SEED = int(os.environ.get("NNKIT_FUZZ_SEED", "0"))
MEMORY_MB = 1111  # also marks this test's kernels among the machine's processes

SNIPPETS = [
    "import os\nos._exit(0)", "while True:\n    pass", "raise SystemExit", "import sys\nsys.exit(1)",
    "1/0", "def (:", "x = " + "(" * 300 + ")" * 300, "import numpy as np\nnp.exp = lambda x: x",
    "del sigmoid", "softmax = None", "print('x' * 10**6)", "import time\ntime.sleep(100)",
    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "import ctypes\nctypes.string_at(0)",
    "import gc\nfor o in gc.get_objects():\n    pass", "__builtins__ = {}", "import json\njson.dumps = None",
    "import threading\n[threading.Thread(target=lambda: None).start() for _ in range(100)]",
    "s = '\\ud800'", "exec('x=' * 2000 + '1')", "import sys\nsys.setrecursionlimit(10**6)\ndef f(): f()\nf()",
    "open('submission.ipynb', 'w').write('{')", "import os\nos.chdir('/')", "sigmoid = sigmoid_grad",
]
DEEP = "[" * 5000 + "]" * 5000


def _answers() -> dict:
    nb = nbformat.read(SOURCE, as_version=4)
    nb.cells = [c for c in nb.cells if not (markers.is_hidden(c) or markers.is_misconception(c))]
    return json.loads(nbformat.writes(nb))


def _random_value(rng: random.Random):
    return rng.choice([None, 0, -1, 2**70, 1.5, float("inf"), "", "x" * 1000, "\ud800", [], {}, [1, "a"],
                       {"cell_type": "code"}, True, [[[[]]]]])


def _cells(data) -> list:
    cells = data.get("cells") if isinstance(data, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _mutate_json(data, rng: random.Random):
    """One structural change somewhere in the notebook's JSON."""
    kind = rng.randrange(7)
    if kind == 0:
        data[rng.choice(["nbformat", "nbformat_minor", "metadata", "cells"])] = _random_value(rng)
    elif kind == 1 and _cells(data):
        cell = rng.choice(_cells(data))
        key = rng.choice(["cell_type", "source", "metadata", "outputs", "execution_count"])
        if rng.random() < 0.5:
            cell.pop(key, None)
        else:
            cell[key] = _random_value(rng)
    elif kind == 2 and _cells(data):
        cell = rng.choice(_cells(data))
        source = cell.get("source", [])
        cell["source"] = [rng.choice(["\ud800", "\x00", "\u2028", "\x1b[2J", "é"])] + \
            (list(source) if isinstance(source, (list, str)) else [])
    elif kind == 3:
        data.setdefault("metadata", {})["deep"] = json.loads("[" * 900 + "]" * 900)
    elif kind == 4 and _cells(data):
        rng.shuffle(data["cells"])
    elif kind == 5 and _cells(data):
        data["cells"] = data["cells"] * rng.randint(2, 4)
    else:
        data["metadata"] = {"nnkit": {"exercise": rng.choice(["00-warmup", "other", "=1+1", 7, None])}}
    return data


def _mutate_code(data, rng: random.Random):
    code = [c for c in _cells(data) if c.get("cell_type") == "code" and isinstance(c.get("source"), (str, list))]
    if not code:
        return data
    cell = rng.choice(code)
    lines = "".join(map(str, cell["source"])).splitlines()
    kind = rng.randrange(3)
    if kind == 0:
        lines.insert(rng.randint(0, len(lines)), rng.choice(SNIPPETS))
    elif kind == 1 and lines:
        del lines[rng.randrange(len(lines))]
    else:
        data["cells"].insert(rng.randint(0, len(data["cells"])), nbformat.v4.new_code_cell(rng.choice(SNIPPETS)))
    cell["source"] = "\n".join(lines)
    return data


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        del data[rng.randrange(len(data)):]
    elif kind == 2:
        at = rng.randrange(len(data))
        data[at:at] = rng.choice([b"\xff\xfe", b"\x00" * 10, DEEP.encode(), b'"\\ud800"', b"\xef\xbb\xbf"])
    else:
        return b"\xef\xbb\xbf" + bytes(data)
    return bytes(data)


def mutants(count: int, seed: int):
    """(name, bytes) of ``count`` mutants of the warm-up answers."""
    rng = random.Random(seed)
    base = _answers()
    for number in range(count):
        data = json.loads(json.dumps(base))
        layer = number % 3
        if layer == 0:
            raw = _mutate_bytes(json.dumps(data).encode(), rng)
        else:
            for _ in range(rng.randint(1, 3)):
                data = (_mutate_json if layer == 1 else _mutate_code)(data, rng)
            raw = json.dumps(data).encode("utf-8", "surrogatepass")
        yield f"mutant{number:03d}", raw


def test_random_mutations_never_break_the_grader(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for name, raw in mutants(CASES, SEED):
        path = folder / f"{name}.ipynb"
        path.write_bytes(raw)
        paths.append(path)
    summary = grade_batch(SOURCE, paths, tmp_path / "out", jobs=2, timeout=3, notebook_timeout=8,
                          memory_mb=MEMORY_MB, progress=False, seed=SEED)
    rows = summary.rows
    assert len(rows) == CASES
    errors = [(r["submission"], r["notes"]) for r in rows if r["status"] == "grader error"]
    assert errors == []
    assert all(r["status"] in ("graded", "not graded") for r in rows)
    assert max(r["total"] for r in rows) <= 5
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        assert sorted(r["submission"] for r in csv.DictReader(handle)) == sorted(p.stem for p in paths)
    marker = f"\x00{MEMORY_MB}\x00".encode()
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _has(p, marker)]
    assert left == [], "a grading kernel outlived the batch"
    # the mix exercised both sides: files refused with a reason, and notebooks that ran
    assert summary.graded_now >= CASES // 4 and summary.not_graded >= CASES // 10


def _has(proc: Path, marker: bytes) -> bool:
    try:
        data = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return b"nnkit.grading.cellrunner" in data and marker in data
