"""A batch of hostile and broken submissions, graded in the sandbox as a teacher would.

Each submission gets exactly the points its real answers earn and a clear feedback line; and
after the batch, nothing an attack tried has any effect: the test's own folder, the installed
Python files and nnkit's sources are unchanged, no network peer heard from a submission, no
process of a submission is still alive, the grades cannot be forged (a resumed run reports
exactly the same grades) and the batch completed. The cases are in grading_fixtures/hostile.py.
"""
import csv
import hashlib
import json
import os
import socket
import sys
import sysconfig
import threading
import time
from pathlib import Path

import nbformat
import pytest

import nnkit
from nnkit.grading.batch import grade_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_fixtures.hostile import ALL, SUBMISSIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "00-warmup.ipynb"
NNKIT = Path(nnkit.__file__).resolve().parent
SITE = Path(sysconfig.get_paths()["purelib"])
TIMEOUT, BUDGET = 10, 25


class Listener:
    """A TCP server, a Unix socket and an abstract Unix socket that record any connection."""

    def __init__(self, folder: Path, token: str):
        self.heard = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.sock_path = str(folder / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.sock_path)
        self.unix.listen()
        self.abstract_name = f"nnkit-test-{token}"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen()
        for server in (self.tcp, self.unix, self.abstract):
            server.settimeout(0.2)
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server):
        while server.fileno() >= 0:
            try:
                conn, _ = server.accept()
            except (socket.timeout, OSError):
                continue
            self.heard.append(conn.recv(100))
            conn.close()

    def close(self):
        for server in (self.tcp, self.unix, self.abstract):
            server.close()


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _installed_state() -> dict:
    kernels = Path(sys.prefix) / "share" / "jupyter" / "kernels"
    return {"nnkit": _tree_digest(NNKIT), "site": sorted(p.name for p in SITE.iterdir()),
            "kernels": _tree_digest(kernels) if kernels.exists() else None}


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _notebook(name: str, case, fill) -> str:
    cells = [nbformat.v4.new_code_cell(fill(c)) for c in case.cells]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["nnkit"] = {"exercise": case.exercise}
    text = nbformat.writes(nb)
    if name == "bad_nbformat_minor":
        data = json.loads(text)
        data["nbformat_minor"] = "x"
        text = json.dumps(data)
    elif name == "lone_surrogate":
        data = json.loads(text)
        data["cells"][0]["source"] = ["# \ud800 a lone surrogate\n"] + data["cells"][0]["source"]
        text = json.dumps(data)           # json writes it as the escape \ud800
    elif name == "deep_metadata":
        data = json.loads(text)
        text = json.dumps(data)[:-1] + ', "deep": ' + "[" * 990 + "]" * 990 + "}"
    return text


def _write(folder: Path, name: str, case, fill) -> Path:
    path = folder / f"{name}.ipynb"
    if case.kind == "missing":
        return path
    if case.kind == "symlink":
        path.symlink_to(SOURCE)
    elif case.kind == "fifo":
        os.mkfifo(path)
    elif case.kind == "device":
        return Path("/dev/null")
    elif case.kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(200 * 2**20)
    elif case.kind == "directory":
        path.mkdir()
    elif case.raw is not None:
        path.write_text(case.raw)
    elif name == "byte_order_mark":
        path.write_bytes(b"\xef\xbb\xbf" + _notebook(name, case, fill).encode())
    elif name == "utf16_file":
        path.write_bytes(_notebook(name, case, fill).encode("utf-16"))
    else:
        path.write_text(_notebook(name, case, fill), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    mark = tmp_path_factory.mktemp("mark")
    out = tmp_path_factory.mktemp("grades")
    token = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    listener = Listener(tmp_path_factory.mktemp("sockets"), token)
    other = folder / "correct.ipynb"
    places = {"{SOURCE}": str(SOURCE), "{OTHER}": str(other), "{MARK}": str(mark), "{OUT}": str(out),
              "{PORT}": str(listener.port), "{SOCK}": listener.sock_path, "{ABSTRACT}": listener.abstract_name,
              "{TOKEN}": token, "{SITE}": str(SITE), "{NNKIT}": str(NNKIT)}

    def fill(text):
        for key, value in places.items():
            text = text.replace(key, value)
        return text

    paths, names = [], {}
    for name, case in SUBMISSIONS.items():
        path = _write(folder, name, case, fill)
        paths.append(path)
        names[path.stem] = name
    before = _installed_state()
    os.environ["NNKIT_TEST_SECRET"] = token
    try:
        started = time.perf_counter()
        summary = grade_batch(SOURCE, paths, out, jobs=2, timeout=TIMEOUT, notebook_timeout=BUDGET,
                              memory_mb=1024, progress=False)
        seconds = time.perf_counter() - started
    finally:
        del os.environ["NNKIT_TEST_SECRET"]
    csv_after_batch = (out / "grades.csv").read_bytes()
    time.sleep(6)  # longer than any detached forger waits before it strikes
    rows = {names[r["submission"]] if r["submission"] in names else r["submission"]: r for r in summary.rows}
    yield {"rows": rows, "out": out, "mark": mark, "token": token, "listener": listener, "before": before,
           "after": _installed_state(), "csv": csv_after_batch, "paths": paths, "seconds": seconds,
           "summary": summary}
    listener.close()


def test_suite_covers_every_class_of_attack():
    assert len(SUBMISSIONS) >= 40
    prefixes = ("reads_", "plants", "harvests", "persists", "forges", "detached", "fork", "slow", "leaks",
                "reaches", "fifo", "symlink", "deep", "lone", "byte_order", "huge")
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in SUBMISSIONS), prefix


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_hostile_submission_gets_exactly_its_points(batch, name):
    case = SUBMISSIONS[name]
    row = batch["rows"][name]
    assert row["status"] != "grader error", row["notes"]
    assert row["total"] == case.points, (row["notes"], row["lines"])
    feedback = (batch["out"] / "feedback" / f"{row['submission']}.md").read_text(encoding="utf-8")
    assert f"Score: {case.points:g} / 5" in feedback
    assert case.word in feedback.replace("\\", ""), feedback


def test_attacks_leave_no_trace(batch):
    assert list(batch["mark"].iterdir()) == [], "a submission wrote into the test's folder"
    out = batch["out"]
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "gradebook.sqlite", "grades.csv"]
    assert batch["after"] == batch["before"], "installed files or nnkit's sources changed"
    assert batch["listener"].heard == [], "a submission reached a socket outside its sandbox"
    assert _processes_with(batch["token"]) == [], "a submission's process outlived the grading"
    assert _processes_with("nnkit.grading.cellrunner") == [], "a grading kernel outlived the grading"
    assert (out / "grades.csv").read_bytes() == batch["csv"], "grades.csv changed after the grader finished"


def test_every_file_has_its_row_and_the_batch_is_bounded(batch):
    with open(batch["out"] / "grades.csv", newline="") as handle:
        table = {r["submission"]: r for r in csv.DictReader(handle)}
    assert len(table) == len(SUBMISSIONS)
    names = ("sigmoid_values", "sigmoid_extreme", "sigmoid_grad_values", "softmax_batch", "softmax_large_scores")
    for r in table.values():
        assert sum(float(r[k]) for k in names) == float(r["total"])
        assert r["seed"] == str(batch["summary"].seed)
    slow = batch["rows"]["slow_cells"]
    assert slow["seconds"] < BUDGET + 15, slow["seconds"]
    assert "time budget" in " ".join(slow["notes"])


def test_feedback_cannot_be_forged(batch):
    row = batch["rows"]["injects_feedback"]
    text = (batch["out"] / "feedback" / f"{row['submission']}.md").read_text(encoding="utf-8")
    assert sum(line.startswith("**Score:") for line in text.splitlines()) == 1
    assert not any(c in text for c in "\x1b\r\x00\u2028\u2029\u202e")
    assert len(text) < 5000
    assert sum(line.startswith("| softmax_batch") for line in text.splitlines()) == 1
    assert all(len(line) <= 700 for line in row["lines"].values())


def test_resumed_run_reports_exactly_the_same_grades(batch):
    summary = grade_batch(SOURCE, batch["paths"], batch["out"], jobs=2, timeout=TIMEOUT,
                          notebook_timeout=BUDGET, memory_mb=1024, progress=False)
    assert (summary.graded_now, summary.already_graded, summary.not_graded) == (0, len(SUBMISSIONS), 0)
    first = {r["submission"]: (r["total"], r["tests"], r["lines"]) for r in batch["summary"].rows}
    again = {r["submission"]: (r["total"], r["tests"], r["lines"]) for r in summary.rows}
    assert again == first


def test_the_correct_answers_still_score_full():
    """The attacks above are graded in the same batch as an honest submission (a control)."""
    assert SUBMISSIONS["correct"].points == 5 and SUBMISSIONS["correct"].cells == ALL
