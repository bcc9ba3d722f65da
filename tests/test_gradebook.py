"""The course gradebook (nnkit.grading.gradebook) and its exports.

Rows are built the way the grader builds them: full points for a passed test, 0 otherwise.
Expected scores are computed here from the tests each learner passed, never read back from
the gradebook, so a wrong sum, a lost row or a mixed-up learner fails a test.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import html.parser
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from nnkit.cli import main as cli
from nnkit.grading import gradebook_export as export
from nnkit.grading.gradebook import (MAX_MESSAGE, Gradebook, GradebookError, TestSpec as Spec,
                                     from_grader_row)

A1 = [("t1", 2.0), ("t2", 0.5), ("t3", 1.25)]
A2 = [("u1", 1.0), ("u2", 3.0)]
COURSE = {"a1": A1, "a2": A2}


def register(gb, name="a1", solution="sol-1", version="v1", tests=None):
    tests = tests or COURSE[name]
    return gb.register_assignment(name, solution, [Spec(t, p, f"{t}-{version}") for t, p in tests])


def grader_row(learner, tests, passed, *, status="graded", source="sol-1", message=None):
    """A row as ``grader.grade_one`` returns it."""
    if status == "graded":
        points = {t: (p if t in passed else 0.0) for t, p in tests}
        lines = {t: "passed" if t in passed else (message or f"{t}: wrong value") for t, _ in tests}
    else:
        points = {t: 0.0 for t, _ in tests}
        lines = {t: "not run: not a valid notebook file" for t, _ in tests}
    return {"submission": learner, "file": f"/course/{learner}.ipynb", "status": status,
            "notes": [] if status == "graded" else ["not a valid notebook file"], "tests": points,
            "lines": lines, "total": sum(points.values()), "max": sum(p for _, p in tests),
            "source": source, "seconds": 1.5}


def record(gb, learner, passed, assignment="a1", *, version=1, **kw):
    row = grader_row(learner, COURSE[assignment], passed, **kw)
    gb.record_row(assignment, row, f"# Feedback for {learner}\n", file_digest=f"{learner}-file-{version}",
                  seed=1234)
    return row


def expected_total(tests, passed):
    return sum(p for t, p in tests if t in passed)


# Ten learners: t2 is passed by nine, t1 by the five even ones, t3 by the first three.
CLASS = {f"L{i}": {t for t, keep in (("t1", i % 2 == 0), ("t2", i != 0), ("t3", i < 3)) if keep}
         for i in range(10)}


@pytest.fixture
def gb(tmp_path):
    book = Gradebook(tmp_path / "gradebook.sqlite")
    register(book, "a1")
    register(book, "a2")
    yield book
    book.close()


def complete(path, n_tests):
    """(learner of every submission, whether each has every test row and its feedback)."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT s.learner, (SELECT COUNT(*) FROM results r WHERE r.submission = s.id), "
                          "(SELECT COUNT(*) FROM feedback f WHERE f.submission = s.id) "
                          "FROM submissions s ORDER BY s.id").fetchall()
        orphans = db.execute("SELECT COUNT(*) FROM results WHERE submission NOT IN "
                             "(SELECT id FROM submissions)").fetchone()[0]
    finally:
        db.close()
    return [r[0] for r in rows], all(r[1] == n_tests and r[2] == 1 for r in rows) and orphans == 0


# ------------------------------------------------------------------ recording and queries

def test_record_and_summary(gb):
    for learner, passed in CLASS.items():
        record(gb, learner, passed)
    subs = {s.learner: s for s in gb.submissions("a1")}
    assert sorted(subs) == sorted(CLASS)
    for learner, passed in CLASS.items():
        sub = subs[learner]
        assert sub.total == expected_total(A1, passed) and sub.max_points == 3.75
        assert [(r.test, r.status) for r in sub.results] == \
            [(t, "passed" if t in passed else "failed") for t, _ in A1]
        assert sub.seed == 1234 and sub.solution_digest == "sol-1" and not sub.stale
    summary = {s.name: s for s in gb.summary()}
    a1 = summary["a1"]
    assert (a1.submitted, a1.graded, a1.not_graded, a1.stale, a1.retry) == (10, 10, 0, 0, 0)
    assert a1.mean == pytest.approx(sum(expected_total(A1, p) for p in CLASS.values()) / 10)
    # the test most learners fail comes first
    assert [(t.name, t.passed, t.failed) for t in a1.tests] == [("t3", 3, 7), ("t1", 5, 5), ("t2", 9, 1)]
    assert summary["a2"].submitted == 0 and summary["a2"].mean is None
    assert gb.feedback("a1", "L4") == "# Feedback for L4\n"


def test_not_gradable_and_grader_error(gb):
    record(gb, "ok", {"t1", "t2", "t3"})
    record(gb, "broken", set(), status="not graded")
    record(gb, "crashed", set(), status="grader error")
    broken = gb.learner("broken")[0]
    assert broken.total == 0 and {r.status for r in broken.results} == {"not run"}
    assert broken.notes == ["not a valid notebook file"]
    a1 = gb.summary()[0]
    assert (a1.submitted, a1.graded, a1.not_graded, a1.retry) == (3, 1, 1, 1)
    assert a1.mean == 3.75  # the mean of graded submissions only
    files = {"ok": "ok-file-1", "broken": "broken-file-1", "crashed": "crashed-file-1"}
    assert [(p.learner, p.reason) for p in gb.pending("a1", files)] == [("crashed", "last run: grader error")]


def test_pending_new_and_changed_files(gb):
    for learner in ("L0", "L1"):
        record(gb, learner, {"t1"})
    todo = gb.pending("a1", {"L0": "L0-file-1", "L1": "L1-file-2", "L2": "L2-file-1"})
    assert [(p.learner, p.file_digest, p.reason) for p in todo] == \
        [("L1", "L1-file-2", "file changed"), ("L2", "L2-file-1", "new")]
    with pytest.raises(GradebookError, match="not registered"):
        gb.pending("a9", {"L0": "x"})
    # a re-graded submission replaces the earlier one
    record(gb, "L1", {"t1", "t2", "t3"}, version=2)
    [l1] = gb.learner("L1")
    assert l1.total == 3.75 and l1.file_digest == "L1-file-2" and len(l1.results) == 3
    assert gb.pending("a1", {"L1": "L1-file-2"}) == []


def test_changed_test_regrades_exactly_that_assignment(gb):
    for learner, passed in CLASS.items():
        record(gb, learner, passed)
        record(gb, learner, {"u1"}, "a2")
    files = {learner: f"{learner}-file-1" for learner in CLASS}
    assert gb.pending("a1", files) == [] and gb.pending("a2", files) == []
    changes = gb.register_assignment("a1", "sol-1", [Spec("t1", 2.0, "t1-v1"), Spec("t2", 0.5, "t2-v2"),
                                                     Spec("t3", 1.25, "t3-v1")])
    assert (changes.new, changes.solution, changes.changed, changes.added, changes.removed) == \
        (False, False, ["t2"], [], [])
    assert gb.stale_results() == sorted(("a1", learner, "t2") for learner in CLASS)
    assert [(p.learner, p.reason) for p in gb.pending("a1", files)] == \
        [(learner, "tests changed: t2") for learner in CLASS]
    assert gb.pending("a2", files) == []
    assert {s.name: s.stale for s in gb.summary()} == {"a1": 10, "a2": 0}
    # re-grading with the new test clears exactly what was stale
    for learner in ("L0", "L1"):
        record(gb, learner, CLASS[learner])
    assert [p.learner for p in gb.pending("a1", files)] == [f"L{i}" for i in range(2, 10)]


def test_changed_solution_added_and_removed_tests(gb):
    for learner in ("L0", "L1"):
        record(gb, learner, {"t1"})
        record(gb, learner, {"u1"}, "a2")
    files = {"L0": "L0-file-1", "L1": "L1-file-1"}
    assert register(gb, "a1", solution="sol-2").solution
    assert {p.reason for p in gb.pending("a1", files)} == {"solution changed"}
    assert gb.stale_results("a1") == [("a1", lr, t) for lr in ("L0", "L1") for t in ("t1", "t2", "t3")]
    assert gb.pending("a2", files) == []
    changes = register(gb, "a2", tests=[("u1", 1.0), ("u3", 1.0)])
    assert (changes.added, changes.removed, changes.changed) == (["u3"], ["u2"], [])
    assert [(p.learner, p.reason) for p in gb.pending("a2", files)] == \
        [("L0", "tests changed: u2, u3"), ("L1", "tests changed: u2, u3")]


def test_adapter_reads_the_grader_row(tmp_path):
    tests = [Spec("a", 1.0, "x"), Spec("b", 0.0, "y"), Spec("c", 2.0, "z"), Spec("d", 1.0, "w")]
    notebook = tmp_path / "amy.ipynb"
    notebook.write_bytes(b'{"cells": []}')
    row = {"submission": "amy", "file": str(notebook), "status": "graded", "notes": ["note"],
           "tests": {"a": 1.0, "b": 0.0, "c": 0.0}, "total": 1.0, "max": 4.0, "source": "s", "seconds": 2.0,
           "lines": {"a": "passed [NumPy warned: overflow]", "b": "passed", "c": "raised ValueError: no"}}
    sub = from_grader_row("hw", row, "text", tests, seed=7)
    assert [(r.test, r.status) for r in sub.results] == \
        [("a", "passed"), ("b", "passed"), ("c", "failed"), ("d", "not run")]
    assert sub.file_digest == hashlib.sha256(b'{"cells": []}').hexdigest()[:16]
    assert sub.submitted.endswith("Z") and sub.seed == 7 and sub.solution_digest == "s"


def test_journal_kept_and_files_that_are_not_gradebooks(tmp_path, capsys):
    path = tmp_path / "nfs.sqlite"
    with Gradebook(path, journal="delete") as gb:
        register(gb, "a1", tests=[("-t1", 1.0)])  # a test name may start with "-"
    assert cli(["gradebook", "summary", "--gradebook", str(path)]) == 0
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    (tmp_path / "notes.sqlite").write_text("not a database at all, " * 100)
    sqlite3.connect(tmp_path / "empty.sqlite").execute("CREATE TABLE x (y)").connection.close()
    for name in ("notes.sqlite", "empty.sqlite"):
        assert cli(["gradebook", "summary", "--gradebook", str(tmp_path / name)]) == 2
        assert "is not a gradebook" in capsys.readouterr().err


# ------------------------------------------------------------------- interrupted runs

class StoppingConnection:
    """A sqlite3 connection that stops in the middle of the n-th batch of test rows, n in ``stop_at``.

    It writes half of that batch, then calls ``stop`` (raise KeyboardInterrupt, or kill the
    process): the submission's transaction is open and partly written.
    """

    def __init__(self, db, stop_at, stop):
        self._db, self._stop_at, self._stop, self.batches = db, stop_at, stop, 0

    def __getattr__(self, name):
        return getattr(self._db, name)

    def executemany(self, sql, rows):
        if sql.startswith("INSERT INTO results"):
            self.batches += 1
            if self.batches in self._stop_at:
                rows = list(rows)
                self._db.executemany(sql, rows[: len(rows) // 2])
                self._stop()
        return self._db.executemany(sql, rows)


def interrupt():
    raise KeyboardInterrupt


def test_keyboard_interrupt_while_recording(tmp_path, monkeypatch):
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: StoppingConnection(real_connect(*a, **k), {4, 5},
                                                                                 interrupt))
    gb = Gradebook(tmp_path / "gb.sqlite")
    register(gb, "a1")
    for learner in ("L0", "L1", "L2"):
        record(gb, learner, CLASS[learner])
    with pytest.raises(KeyboardInterrupt):
        record(gb, "L1", {"t1", "t2", "t3"}, version=2)  # a re-grade, interrupted
    with pytest.raises(KeyboardInterrupt):
        record(gb, "L3", CLASS["L3"])                      # a new submission, interrupted
    learners, whole = complete(tmp_path / "gb.sqlite", 3)
    assert learners == ["L0", "L1", "L2"] and whole
    [l1] = gb.learner("L1")  # the earlier grade of L1, untouched
    assert l1.total == expected_total(A1, CLASS["L1"]) and l1.file_digest == "L1-file-1"
    record(gb, "L3", CLASS["L3"])  # the same connection goes on working
    assert [s.learner for s in gb.submissions()] == ["L0", "L1", "L2", "L3"]
    gb.close()


CHILD = textwrap.dedent("""
    import os, signal, sqlite3, sys
    sys.path.insert(0, {tests!r})
    from test_gradebook import A1, StoppingConnection, grader_row, register
    from nnkit.grading.gradebook import Gradebook

    path, kill_at, n_tests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    real_connect = sqlite3.connect
    stop = lambda: os.kill(os.getpid(), signal.SIGKILL)
    sqlite3.connect = lambda *a, **k: StoppingConnection(real_connect(*a, **k), {{kill_at}}, stop)
    tests = [(f"t{{i}}", 1.0) for i in range(n_tests)] if n_tests != 3 else A1
    gb = Gradebook(path)
    register(gb, "a1", tests=tests)
    for i in range(10 if kill_at else 1_000_000):
        row = grader_row(f"L{{i}}", tests, {{"t1"}})
        gb.record_row("a1", row, "feedback " * 50, file_digest=f"L{{i}}-file-1")
""")


def run_child(tmp_path, kill_at, n_tests):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=os.path.dirname(__file__)))
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "gb.sqlite"), str(kill_at),
                             str(n_tests)], stderr=subprocess.PIPE)


def test_process_killed_in_the_middle_of_a_submission(tmp_path):
    child = run_child(tmp_path, kill_at=8, n_tests=3)  # killed half-way through the 8th submission
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err.decode()
    learners, whole = complete(tmp_path / "gb.sqlite", 3)
    assert learners == [f"L{i}" for i in range(7)] and whole
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        files = {f"L{i}": f"L{i}-file-1" for i in range(10)}
        assert [(p.learner, p.reason) for p in gb.pending("a1", files)] == \
            [("L7", "new"), ("L8", "new"), ("L9", "new")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_signal_mid_batch_keeps_whole_submissions(tmp_path, sig):
    """A real signal at an arbitrary moment of a long batch (40 test rows per submission)."""
    child = run_child(tmp_path, kill_at=0, n_tests=40)
    path, done, deadline = tmp_path / "gb.sqlite", 0, time.monotonic() + 120
    while done < 20 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
        if path.exists():
            try:
                with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
                    done = db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
            except sqlite3.OperationalError:  # tables not created yet
                pass
    assert done >= 20, child.stderr.read().decode() if child.poll() is not None else "too slow"
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0
    if sig == signal.SIGINT:
        assert b"KeyboardInterrupt" in err
    learners, whole = complete(path, 40)
    assert whole and len(learners) >= 20 and learners == [f"L{i}" for i in range(len(learners))]


# ------------------------------------------------------------------------- concurrency

@pytest.mark.parametrize("shared", [True, False], ids=["one-object", "object-per-thread"])
def test_two_threads_record_at_once(tmp_path, shared):
    path = tmp_path / "gb.sqlite"
    first = Gradebook(path)
    register(first, "a1")
    start, errors = threading.Barrier(2), []

    def work(prefix):
        gb = first if shared else Gradebook(path)
        try:
            start.wait()
            for i in range(40):
                record(gb, f"{prefix}{i}", CLASS[f"L{i % 10}"])
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            if not shared:
                gb.close()

    threads = [threading.Thread(target=work, args=(p,)) for p in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    learners, whole = complete(path, 3)
    assert whole and sorted(learners) == sorted(f"{p}{i}" for p in "xy" for i in range(40))
    totals = {s.learner: s.total for s in first.submissions()}
    assert all(totals[f"{p}{i}"] == expected_total(A1, CLASS[f"L{i % 10}"]) for p in "xy" for i in range(40))
    first.close()


# ----------------------------------------------------------------------------- exports

def course(gb):
    """Record a course; return the scores each export must show: {learner: {assignment: str}}."""
    expected = {}
    for i, (learner, passed) in enumerate(CLASS.items()):
        expected[learner] = {"a1": expected_total(A1, passed), "a2": None}
        record(gb, learner, passed)
        if i % 3 != 2:  # some learners never sent a2
            a2 = {"u1", "u2"} if i % 2 else {"u2"}
            record(gb, learner, a2, "a2")
            expected[learner]["a2"] = expected_total(A2, a2)
    record(gb, "L5", set(), "a2", status="not graded")  # worth 0, and exported as 0
    expected["L5"]["a2"] = 0.0
    record(gb, "L8", set(), "a2", status="grader error")  # nothing to export yet
    expected["L8"]["a2"] = None
    return expected


def scores(row, names):
    return {a: (float(row[a]) if row[a] != "" else None) for a in names}


def test_canvas_export_round_trip(gb, tmp_path):
    expected = course(gb)
    out = export.export_canvas(gb, tmp_path / "canvas.csv")
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "a1", "a2"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][1:] == ["", "", "", "", "3.75", "4"]
    got = {}
    for row in rows[2:]:
        named = dict(zip(rows[0], row))
        assert named["Student"] == named["SIS User ID"]
        got[named["SIS User ID"]] = scores(named, ["a1", "a2"])
    assert got == expected


def test_moodle_export_round_trip(gb, tmp_path):
    expected = course(gb)
    out = export.export_moodle(gb, tmp_path / "moodle.csv")
    with open(out, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["ID number", "a1", "a2"]
        got = {row["ID number"]: scores(row, ["a1", "a2"]) for row in reader}
    assert got == expected


def test_plain_csv_has_every_test(gb, tmp_path):
    expected = course(gb)
    with open(export.export_csv(gb, tmp_path / "grades.csv"), newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["learner", "a1", "a1/t1", "a1/t2", "a1/t3", "a2", "a2/u1", "a2/u2", "total"]
        rows = {row["learner"]: row for row in reader}
    assert {lr: scores(row, ["a1", "a2"]) for lr, row in rows.items()} == expected
    for learner, passed in CLASS.items():
        assert [float(rows[learner][f"a1/{t}"]) for t, _ in A1] == [p if t in passed else 0.0 for t, p in A1]
        assert float(rows[learner]["total"]) == sum(v or 0.0 for v in expected[learner].values())


def test_roster_fills_lms_identities(gb, tmp_path):
    expected = course(gb)
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", "name", "email", "canvas_id", "sis_user_id", "section"])
        for i, learner in enumerate(CLASS):
            writer.writerow([learner, f'Doe, "Jo{i}"', f"jo{i}@uni.example", 1000 + i, f"S{i:03d}", "Sec A"])
        writer.writerow(["late", "=Late Joiner", "late@uni.example", 2000, "S999", "+B"])
    people = export.read_roster(roster)
    with open(export.export_canvas(gb, tmp_path / "c.csv", people), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[1:]
    by_id = {row["ID"]: row for row in rows}
    assert by_id["1003"]["Student"] == 'Doe, "Jo3"' and by_id["1003"]["SIS User ID"] == "S003"
    assert scores(by_id["1003"], ["a1", "a2"]) == expected["L3"]
    assert (by_id["2000"]["Student"], by_id["2000"]["Section"], by_id["2000"]["a1"]) == ("'=Late Joiner", "'+B", "")
    with open(export.export_moodle(gb, tmp_path / "m.csv", people, "email"), newline="", encoding="utf-8") as f:
        got = {row["Email address"]: scores(row, ["a1", "a2"]) for row in csv.DictReader(f)}
    assert got["jo7@uni.example"] == expected["L7"] and got["late@uni.example"] == {"a1": None, "a2": None}
    bad = tmp_path / "bad.csv"
    bad.write_text("learner,emial\nL0,x@y\n")
    with pytest.raises(GradebookError, match="emial"):
        export.read_roster(bad)


# ------------------------------------------------------------------------- hostile text

HOSTILE = ["<script>alert(1)</script>", "</td></tr></table><img src=x onerror=alert(1)>",
           "\x1b]0;owned\x07\x1b[2J", "nul\x00byte", "lone \ud800 surrogate", "bidi \u202e txt.exe",
           "'); DROP TABLE submissions; --"]


class Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [name for name, _ in attrs]

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_text_is_stored_and_exported_safely(tmp_path):
    gb = Gradebook(tmp_path / "gb.sqlite")
    register(gb, "a1")
    learner = "<b>Bob</b> & 'co'; DROP TABLE results"
    row = grader_row(learner, A1, {"t2"}, message="x")
    row["lines"] = {"t1": HOSTILE[0] + HOSTILE[1], "t2": "passed", "t3": "A" * 1_000_000}
    row["notes"] = HOSTILE
    gb.record_row("a1", row, "\n".join(HOSTILE) + "B" * 300_000, file_digest="f")
    [sub] = gb.learner(learner)
    messages = {r.test: r.message for r in sub.results}
    assert messages["t1"] == HOSTILE[0] + HOSTILE[1]
    assert messages["t3"].startswith("A" * MAX_MESSAGE) and len(messages["t3"]) < MAX_MESSAGE + 50
    assert sub.notes[3] == "nul\ufffdbyte" and sub.notes[4] == "lone ? surrogate" and sub.notes[6] == HOSTILE[6]
    assert len(sub.feedback) < 100_100
    assert gb.assignments() == ["a1"] and sub.total == 0.5  # the tables are all there

    [page] = export.export_html(gb, tmp_path / "pages")
    assert re.fullmatch(r"[A-Za-z0-9@._-]+\.html", page.name)
    text = page.read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]", text)
    assert len(text) < 400_000
    parsed = Tags()
    parsed.feed(text)
    assert parsed.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong",
                           "section", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "details",
                           "summary", "pre"}
    assert not [a for a in parsed.attrs if a.startswith("on")]
    shown = "".join(parsed.text)
    assert HOSTILE[0] + HOSTILE[1] in shown and "Feedback for " + learner in shown

    screen = export.format_learner(gb, learner)
    assert "\x1b" not in screen and "\x07" not in screen and "\u202e" not in screen
    assert "\\x1b]0;owned\\x07" in screen and "\\u202e" in screen

    with open(export.export_canvas(gb, tmp_path / "c.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[2][:3] == [learner, "", learner] and rows[2][5] == "0.5"
    for bad in ("=HYPERLINK(\"http://x\")", "@SUM(A1)", "bob\n", " bob", "tab\there", ""):
        with pytest.raises(GradebookError):
            gb.record_row("a1", grader_row(bad, A1, set()), "", file_digest="f")
    gb.close()


# ------------------------------------------------------------------------------ command

def test_gradebook_command(gb, tmp_path, capsys):
    course(gb)
    where = ["--gradebook", str(gb.path)]
    assert cli(["gradebook", "summary", *where]) == 0
    out = capsys.readouterr().out
    assert "submitted 10   graded 10   not gradable 0   to re-grade 0" in out
    order = [line.split()[1] for line in out.splitlines() if re.match(r"\s+\d+%\s+t\d", line)]
    assert order == ["t3", "t1", "t2"]
    assert cli(["gradebook", "learner", "L4", *where]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^a1\s+2\.5 / 3\.75\s+graded", out, re.M) and re.search(r"t3\s+0/1\.25\s+failed", out)
    assert cli(["gradebook", "export", "--format", "moodle", "--out", str(tmp_path / "m.csv"), *where]) == 0
    assert "10 learners, 2 assignments" in capsys.readouterr().out
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "ID number,a1,a2"
    assert cli(["gradebook", "export", "--format", "html", "--out", str(tmp_path / "pages"),
                "--learner", "L1", *where]) == 0
    assert [p.name for p in (tmp_path / "pages").iterdir()] == ["L1.html"]
    missing = tmp_path / "none.sqlite"
    assert cli(["gradebook", "summary", "--gradebook", str(missing)]) == 2
    assert "no gradebook at" in capsys.readouterr().err and not missing.exists()
