"""The course gradebook: every graded submission of every assignment in one SQLite file.

A course keeps one gradebook, by default ``gradebook.sqlite`` in the course folder.  Only the
grader's process writes it (no learner's kernel can reach it); ``nnkit gradebook`` reads it.

Tables
------
::

    assignments  name PK, solution_digest, registered, updated
    tests        assignment, name, position, points, digest            PK (assignment, name)
    submissions  id PK, assignment, learner, file, file_digest, solution_digest,
                 submitted, graded, status, total, max_points, notes (JSON list),
                 seed, seconds                                          UNIQUE (assignment, learner)
    results      submission, test, points, max_points, status, message, test_digest
                                                                        PK (submission, test)
    feedback     submission PK, text

A learner has one submission per assignment: the latest one graded.  Every submission has one
``results`` row per hidden test, with status ``passed``, ``failed`` or ``not run``.  A result
remembers the digest of the test it was graded with, and a submission the digest of the
solution, so the gradebook itself knows what a changed test or solution made stale.

The grader's calls
------------------
::

    gb = Gradebook("gradebook.sqlite")
    changes = gb.register_assignment(name, solution_digest, [TestSpec(test, points, digest), ...])
    todo = gb.pending(name, {learner: file_digest, ...})   # [Pending(learner, file_digest, reason)]
    gb.record(Submission(...))                              # or, from the grader's row dict:
    gb.record_row(name, row, feedback_text, file_digest=..., seed=...)

``register_assignment`` reports what changed since the last run (``Changes``): a new solution
digest makes every submission of that assignment stale, a changed test digest makes exactly
that test's results stale.  ``pending`` answers which (learner, file digest) pairs still need
grading: new learners, changed files, stale solution or tests, and a last run that ended in a
grader error.  ``record`` writes one submission, its test rows and its feedback in a single
transaction: a run that is interrupted (Ctrl-C, a killed process, a power cut) keeps every
submission it finished and none half-written.

Queries: ``summary()`` (per assignment: submitted, graded, mean, per-test pass rates with the
test that most learners fail first), ``learner(id)``, ``submissions(...)``, ``feedback(...)``,
``stale_results(assignment)``.  Exports live in ``nnkit.grading.gradebook_export``.

Everything a submission sends back is untrusted text: statements take it only as SQL
parameters, text is stored with a length cap (surrogates and NUL replaced), and every export
escapes it for where it goes (HTML, CSV, the terminal).

One ``Gradebook`` object may be shared by threads (it serialises its own calls); several
objects or processes on the same file are serialised by SQLite's locks.  A new gradebook uses
SQLite's write-ahead log (WAL); ``journal="delete"`` makes one for a folder on a network file
system, where WAL does not work.  Opening a gradebook keeps the journal it was made with.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

DEFAULT_NAME = "gradebook.sqlite"
SCHEMA_VERSION = 1
TEST_STATUSES = ("passed", "failed", "not run")
FINAL_STATUSES = ("graded", "not graded")  # any other status is graded again by the next run
MAX_NAME = 200
MAX_MESSAGE = 2000
MAX_NOTES = 20
MAX_FEEDBACK = 100_000

SCHEMA = """
CREATE TABLE assignments (
    name            TEXT PRIMARY KEY,
    solution_digest TEXT NOT NULL,
    registered      TEXT NOT NULL,
    updated         TEXT NOT NULL
);
CREATE TABLE tests (
    assignment TEXT NOT NULL REFERENCES assignments(name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    points     REAL NOT NULL,
    digest     TEXT NOT NULL,
    PRIMARY KEY (assignment, name)
);
CREATE TABLE submissions (
    id              INTEGER PRIMARY KEY,
    assignment      TEXT NOT NULL REFERENCES assignments(name),
    learner         TEXT NOT NULL,
    file            TEXT NOT NULL,
    file_digest     TEXT NOT NULL,
    solution_digest TEXT NOT NULL,
    submitted       TEXT,
    graded          TEXT NOT NULL,
    status          TEXT NOT NULL,
    total           REAL NOT NULL,
    max_points      REAL NOT NULL,
    notes           TEXT NOT NULL,
    seed            INTEGER,
    seconds         REAL,
    UNIQUE (assignment, learner)
);
CREATE INDEX submissions_by_learner ON submissions (learner);
CREATE TABLE results (
    submission  INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    test        TEXT NOT NULL,
    points      REAL NOT NULL,
    max_points  REAL NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'not run')),
    message     TEXT NOT NULL,
    test_digest TEXT NOT NULL,
    PRIMARY KEY (submission, test)
);
CREATE TABLE feedback (
    submission INTEGER PRIMARY KEY REFERENCES submissions(id) ON DELETE CASCADE,
    text       TEXT NOT NULL
);
"""

# Results graded with another version of a test (or a test since removed), and tests added
# since a submission was graded: (submission id, test name).  {only} narrows the submissions
# (see ``_only``).
STALE_TESTS = """
SELECT s.id, r.test FROM submissions s
JOIN results r ON r.submission = s.id
LEFT JOIN tests t ON t.assignment = s.assignment AND t.name = r.test
WHERE (t.name IS NULL OR t.digest != r.test_digest) {only}
UNION ALL
SELECT s.id, t.name FROM submissions s
JOIN tests t ON t.assignment = s.assignment
LEFT JOIN results r ON r.submission = s.id AND r.test = t.name
WHERE r.test IS NULL {only}
"""

STALE_SOLUTION = """
SELECT s.id FROM submissions s JOIN assignments a ON a.name = s.assignment
WHERE s.solution_digest != a.solution_digest {only}
"""


class GradebookError(RuntimeError):
    """The gradebook cannot do what was asked (no such file, unknown assignment, bad input)."""


# ------------------------------------------------------------------------------ records

@dataclass(frozen=True)
class TestSpec:
    """One hidden test as registered: its name, what it is worth, and its digest."""

    name: str
    points: float
    digest: str


@dataclass
class Changes:
    """What ``register_assignment`` found different from the last registration."""

    new: bool = False
    solution: bool = False
    changed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.new or self.solution or bool(self.changed or self.added or self.removed)


@dataclass(frozen=True)
class Pending:
    """A submission to grade, and why: new, file changed, solution changed, tests changed, retry."""

    learner: str
    file_digest: str
    reason: str


@dataclass
class TestResult:
    """One hidden test's result for one submission."""

    test: str
    points: float
    max_points: float
    status: str  # passed | failed | not run
    message: str = ""
    digest: str | None = None  # the test's digest when graded; None: as registered now


@dataclass
class Submission:
    """One graded submission: what ``record`` writes and the queries return."""

    assignment: str
    learner: str
    file_digest: str
    status: str
    total: float
    max_points: float
    results: list = field(default_factory=list)
    feedback: str = ""
    notes: list = field(default_factory=list)
    file: str = ""
    solution_digest: str | None = None  # None: as registered now
    seed: int | None = None
    seconds: float | None = None
    submitted: str | None = None  # ISO 8601, UTC
    graded: str | None = None     # set by record()
    stale: bool = False           # filled in by the queries

    @property
    def final(self) -> bool:
        """A grade to report (graded, or an ungradable notebook); otherwise it waits for a re-run."""
        return self.status in FINAL_STATUSES


@dataclass
class TestSummary:
    name: str
    points: float
    passed: int
    failed: int
    not_run: int
    graded: int  # graded submissions of the assignment

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


@dataclass
class AssignmentSummary:
    name: str
    max_points: float
    submitted: int
    graded: int
    not_graded: int
    retry: int   # last run ended in another status (a grader error): graded again next run
    stale: int   # graded with an older solution or test: graded again next run
    mean: float | None
    tests: list  # TestSummary, the test most learners fail first


# ----------------------------------------------------------------------- text and digests

def now() -> str:
    """The current time as ISO 8601 in UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_file(path) -> str:
    """SHA-256 (first 16 hex digits, as the grader's solution digest) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def clean_text(value, limit: int = MAX_MESSAGE) -> str:
    """Untrusted text made storable: a str, valid UTF-8, no NUL, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    if len(text) > limit:
        cut = len(text) - limit
        text = text[:limit] + f" [... {cut} more characters]"
    return text


def check_name(kind: str, value) -> str:
    """An assignment, learner or test name: printable and trimmed; an assignment or learner
    name may not start like a spreadsheet formula (a test name comes after ``ASSIGNMENT/``)."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise GradebookError(f"{kind} name must be a string of 1 to {MAX_NAME} characters, not {value!r:.80}")
    if value != value.strip() or not value.isprintable():
        raise GradebookError(f"{kind} name {value!r:.80} has spaces at its ends or control characters")
    if kind != "test" and value[0] in "=+-@":
        raise GradebookError(f"{kind} name {value!r:.80} starts with {value[0]!r} "
                             "(a spreadsheet would read it as a formula)")
    return value


def _check_digest(value) -> str:
    if not isinstance(value, str) or not value or len(value) > 128:
        raise GradebookError(f"a digest must be a string of 1 to 128 characters, not {value!r:.80}")
    return value


# ------------------------------------------------------------------------------ gradebook

class Gradebook:
    """A course gradebook in one SQLite file (see the module docstring for tables and API)."""

    def __init__(self, path=DEFAULT_NAME, *, create: bool = True, journal: str | None = None,
                 timeout: float = 60.0):
        """Open (``create``: or make) the gradebook at ``path``.

        ``journal``: "wal" or "delete"; a new file gets "wal" unless told otherwise, an existing
        one keeps the journal it was made with.
        """
        self.path = Path(path)
        exists = self.path.is_file()
        if not create and not exists:
            raise GradebookError(f"no gradebook at {self.path}")
        if journal not in (None, "wal", "delete"):
            raise GradebookError(f"journal must be 'wal' or 'delete', not {journal!r}")
        if not exists:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            journal = journal or "wal"
        # Autocommit mode: every transaction below is opened and closed explicitly.
        self._db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.RLock()
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            if journal:
                self._db.execute(f"PRAGMA journal_mode = {journal.upper()}")
            self._db.execute("PRAGMA synchronous = FULL")
            self._create_schema(create)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise GradebookError(f"{self.path} is not a gradebook: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def _transaction(self, write: bool = True):
        """One transaction; rolled back on any exception, KeyboardInterrupt included."""
        with self._lock:
            db = self._db
            # IMMEDIATE takes the write lock at once, so two writers wait for each other
            # (busy timeout) instead of failing half-way through.
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _create_schema(self, create: bool) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise GradebookError(f"{self.path} was written by a newer nnkit (schema {version})")
        if version == SCHEMA_VERSION:
            return  # no write lock needed: readers never wait for a grading run
        if not create:
            raise GradebookError(f"{self.path} is not a gradebook (no tables)")
        with self._transaction() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:  # another process may have won
                # One statement at a time: executescript() would commit the transaction.
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------------ assignments

    def register_assignment(self, name: str, solution_digest: str, tests: Iterable) -> Changes:
        """Record an assignment's solution digest and hidden tests; say what changed.

        ``tests``: ``TestSpec``s or ``(name, points, digest)`` tuples, in the notebook's order.
        Results graded with a test whose digest changed are stale from now on, and so is every
        submission when the solution digest changed; ``pending`` sends them back to grading.
        """
        check_name("assignment", name)
        _check_digest(solution_digest)
        specs = [t if isinstance(t, TestSpec) else TestSpec(*t) for t in tests]
        for spec in specs:
            check_name("test", spec.name)
            _check_digest(spec.digest)
        names = [s.name for s in specs]
        if not specs or len(set(names)) != len(names):
            raise GradebookError(f"assignment {name}: needs tests with distinct names, got {names}")
        changes = Changes()
        with self._transaction() as db:
            row = db.execute("SELECT solution_digest FROM assignments WHERE name = ?", (name,)).fetchone()
            old = {n: d for n, d in db.execute(
                "SELECT name, digest FROM tests WHERE assignment = ?", (name,))}
            if row is None:
                changes.new = True
                db.execute("INSERT INTO assignments VALUES (?, ?, ?, ?)",
                           (name, solution_digest, now(), now()))
            else:
                changes.solution = row[0] != solution_digest
            changes.added = [s.name for s in specs if s.name not in old and not changes.new]
            changes.changed = [s.name for s in specs if s.name in old and old[s.name] != s.digest]
            changes.removed = sorted(set(old) - set(names))
            if changes.any and not changes.new:
                db.execute("UPDATE assignments SET solution_digest = ?, updated = ? WHERE name = ?",
                           (solution_digest, now(), name))
            db.execute("DELETE FROM tests WHERE assignment = ?", (name,))
            db.executemany("INSERT INTO tests VALUES (?, ?, ?, ?, ?)",
                           [(name, s.name, i, float(s.points), s.digest) for i, s in enumerate(specs)])
        return changes

    def assignments(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM assignments ORDER BY name")]

    def tests(self, assignment: str) -> list[TestSpec]:
        """The assignment's hidden tests in the notebook's order."""
        with self._lock:
            rows = self._db.execute("SELECT name, points, digest FROM tests WHERE assignment = ? "
                                    "ORDER BY position", (assignment,)).fetchall()
        if not rows:
            raise GradebookError(f"assignment {assignment!r} is not registered in {self.path}")
        return [TestSpec(*r) for r in rows]

    # ---------------------------------------------------------------- what to grade

    def pending(self, assignment: str, files) -> list[Pending]:
        """The (learner, file digest) pairs of ``files`` that still need grading, with reasons.

        ``files``: ``{learner: file_digest}`` or ``(learner, file_digest)`` pairs, the current
        submissions.  A pair needs grading when the learner is new to this assignment, the file
        changed, the solution or one of its tests changed since it was graded, or its last run
        ended in a status other than graded / not graded (a grader error).
        """
        pairs = list(files.items()) if isinstance(files, Mapping) else list(files)
        learners = [learner for learner, _ in pairs]
        if len(set(learners)) != len(learners):
            raise GradebookError(f"assignment {assignment}: a learner appears twice in the files to grade")
        self.tests(assignment)  # raises when the assignment is unknown
        with self._transaction(write=False) as db:
            known = {learner: (sid, digest, status) for sid, learner, digest, status in db.execute(
                "SELECT id, learner, file_digest, status FROM submissions WHERE assignment = ?",
                (assignment,))}
            stale = _stale(db, assignment)
        todo = []
        for learner, digest in pairs:
            if learner not in known:
                reason = "new"
            else:
                sid, old_digest, status = known[learner]
                if old_digest != digest:
                    reason = "file changed"
                elif sid in stale:
                    reason = "solution changed" if stale[sid] is None else \
                        "tests changed: " + ", ".join(stale[sid])
                elif status not in FINAL_STATUSES:
                    reason = f"last run: {status}"
                else:
                    continue
            todo.append(Pending(learner, digest, reason))
        return todo

    def stale_results(self, assignment: str | None = None) -> list[tuple[str, str, str]]:
        """(assignment, learner, test) of every result graded with an older test or solution."""
        out = []
        with self._transaction(write=False) as db:
            for sid, tests in _stale(db, assignment).items():
                name, learner = db.execute("SELECT assignment, learner FROM submissions WHERE id = ?",
                                           (sid,)).fetchone()
                if tests is None:
                    tests = [r[0] for r in db.execute("SELECT test FROM results WHERE submission = ?", (sid,))]
                out += [(name, learner, test) for test in tests]
        return sorted(out)

    # -------------------------------------------------------------------- recording

    def record(self, submission: Submission) -> None:
        """Write one graded submission, its test rows and its feedback in one transaction.

        It replaces the learner's earlier submission of the assignment.  Tests the submission
        does not mention are recorded as "not run"; a test the assignment does not have is an
        error.  If anything stops the write (an exception, Ctrl-C, a killed process) the
        gradebook keeps the earlier submission as it was.
        """
        sub = submission
        check_name("assignment", sub.assignment)
        check_name("learner", sub.learner)
        _check_digest(sub.file_digest)
        specs = {t.name: t for t in self.tests(sub.assignment)}
        given = {}
        for result in sub.results:
            if result.test not in specs:
                raise GradebookError(f"assignment {sub.assignment} has no hidden test {result.test!r}")
            if result.status not in TEST_STATUSES:
                raise GradebookError(f"test {result.test}: status must be one of {TEST_STATUSES}, "
                                     f"not {result.status!r}")
            given[result.test] = result
        rows = []
        for name, spec in specs.items():
            result = given.get(name) or TestResult(name, 0.0, spec.points, "not run", "no result recorded")
            rows.append((name, float(result.points), float(result.max_points), result.status,
                         clean_text(result.message), result.digest or spec.digest))
        notes = json.dumps([clean_text(n) for n in list(sub.notes)[:MAX_NOTES]])
        sub.graded = now()
        with self._transaction() as db:
            solution = sub.solution_digest or db.execute(
                "SELECT solution_digest FROM assignments WHERE name = ?", (sub.assignment,)).fetchone()[0]
            old = db.execute("SELECT id FROM submissions WHERE assignment = ? AND learner = ?",
                             (sub.assignment, sub.learner)).fetchone()
            if old:
                db.execute("DELETE FROM results WHERE submission = ?", old)
                db.execute("DELETE FROM feedback WHERE submission = ?", old)
                db.execute("DELETE FROM submissions WHERE id = ?", old)
            cursor = db.execute(
                "INSERT INTO submissions (assignment, learner, file, file_digest, solution_digest, "
                "submitted, graded, status, total, max_points, notes, seed, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sub.assignment, sub.learner, clean_text(sub.file, 4096), sub.file_digest, solution,
                 sub.submitted, sub.graded, clean_text(sub.status, 200), float(sub.total),
                 float(sub.max_points), notes, sub.seed, sub.seconds))
            sid = cursor.lastrowid
            db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", [(sid, *r) for r in rows])
            db.execute("INSERT INTO feedback VALUES (?, ?)", (sid, clean_text(sub.feedback, MAX_FEEDBACK)))

    def record_row(self, assignment: str, row: Mapping, feedback: str = "", **extra) -> Submission:
        """Record one of the grader's row dicts (see ``from_grader_row``); returns what was written."""
        submission = from_grader_row(assignment, row, feedback, self.tests(assignment), **extra)
        self.record(submission)
        return submission

    # ---------------------------------------------------------------------- queries

    def submissions(self, assignment: str | None = None, learner: str | None = None, *,
                    with_feedback: bool = False) -> list[Submission]:
        """Recorded submissions (all, or one assignment's, or one learner's), with their results."""
        only, args = _only(assignment, learner)
        where = "WHERE 1 " + only
        with self._transaction(write=False) as db:
            subs = {}
            for (sid, a, lr, file, fdig, sdig, submitted, graded, status, total, mx, notes, seed,
                 seconds) in db.execute(
                    "SELECT id, assignment, learner, file, file_digest, solution_digest, submitted, "
                    f"graded, status, total, max_points, notes, seed, seconds FROM submissions s {where} "
                    "ORDER BY assignment, learner", args):
                subs[sid] = Submission(a, lr, fdig, status, total, mx, [], "", json.loads(notes), file,
                                       sdig, seed, seconds, submitted, graded)
            for sid, test, points, mx, status, message, tdig in db.execute(
                    "SELECT r.submission, r.test, r.points, r.max_points, r.status, r.message, "
                    "r.test_digest FROM results r JOIN submissions s ON s.id = r.submission "
                    f"LEFT JOIN tests t ON t.assignment = s.assignment AND t.name = r.test {where} "
                    "ORDER BY r.submission, t.position", args):
                subs[sid].results.append(TestResult(test, points, mx, status, message, tdig))
            if with_feedback:
                for sid, text in db.execute("SELECT f.submission, f.text FROM feedback f JOIN "
                                            f"submissions s ON s.id = f.submission {where}", args):
                    subs[sid].feedback = text
            stale = _stale(db, assignment, learner)
        for sid in stale.keys() & subs.keys():
            subs[sid].stale = True
        return list(subs.values())

    def learner(self, learner: str) -> list[Submission]:
        """Every grade of one learner, one per assignment, with feedback."""
        return self.submissions(learner=learner, with_feedback=True)

    def learners(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT learner FROM submissions ORDER BY learner")]

    def feedback(self, assignment: str, learner: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT f.text FROM feedback f JOIN submissions s ON s.id = f.submission "
                                   "WHERE s.assignment = ? AND s.learner = ?", (assignment, learner)).fetchone()
        return row[0] if row else None

    def summary(self) -> list[AssignmentSummary]:
        """Per assignment: counts, mean total of graded submissions, and per-test pass rates.

        A test's pass rate is the share of graded submissions that passed it; tests come
        lowest pass rate first (the one most learners fail), ties in the notebook's order.
        """
        with self._transaction(write=False) as db:
            stale_ids = _stale(db)
            out = {}
            for name, max_points, submitted, graded, not_graded, mean in db.execute(
                    "SELECT a.name, (SELECT SUM(points) FROM tests t WHERE t.assignment = a.name), "
                    "COUNT(s.id), COUNT(CASE WHEN s.status = 'graded' THEN 1 END), "
                    "COUNT(CASE WHEN s.status = 'not graded' THEN 1 END), "
                    "AVG(CASE WHEN s.status = 'graded' THEN s.total END) "
                    "FROM assignments a LEFT JOIN submissions s ON s.assignment = a.name "
                    "GROUP BY a.name ORDER BY a.name"):
                out[name] = AssignmentSummary(name, max_points or 0.0, submitted, graded, not_graded,
                                              submitted - graded - not_graded, 0, mean, [])
            for sid, assignment in db.execute("SELECT id, assignment FROM submissions"):
                out[assignment].stale += sid in stale_ids
            rows = db.execute(
                "SELECT t.assignment, t.name, t.points, t.position, "
                "COUNT(CASE WHEN r.status = 'passed' THEN 1 END), "
                "COUNT(CASE WHEN r.status = 'failed' THEN 1 END), "
                "COUNT(CASE WHEN r.status = 'not run' THEN 1 END) "
                "FROM tests t LEFT JOIN submissions s ON s.assignment = t.assignment AND s.status = 'graded' "
                "LEFT JOIN results r ON r.submission = s.id AND r.test = t.name "
                "GROUP BY t.assignment, t.name").fetchall()
        for assignment, name, points, position, passed, failed, not_run in sorted(rows, key=lambda r: r[3]):
            entry = out[assignment]
            entry.tests.append(TestSummary(name, points, passed, failed, not_run, entry.graded))
        for entry in out.values():
            entry.tests.sort(key=lambda t: 1.0 if t.pass_rate is None else t.pass_rate)
        return list(out.values())


def _only(assignment: str | None, learner: str | None) -> tuple[str, dict]:
    """SQL conditions on submissions ``s`` for one assignment and/or learner, and their parameters.

    Only the conditions given are written out (not ``:x IS NULL OR ...``), so SQLite can use
    its indexes on (assignment, learner) and on learner.
    """
    only = (" AND s.assignment = :assignment" if assignment is not None else "") + \
           (" AND s.learner = :learner" if learner is not None else "")
    return only, {"assignment": assignment, "learner": learner}


def _stale(db, assignment: str | None = None, learner: str | None = None) -> dict:
    """Stale submissions: id -> the stale tests' names, or None when the solution changed."""
    only, args = _only(assignment, learner)
    stale: dict = {}
    for sid, test in db.execute(STALE_TESTS.format(only=only), args):
        stale.setdefault(sid, []).append(test)
    for sid, tests in stale.items():
        tests.sort()
    for (sid,) in db.execute(STALE_SOLUTION.format(only=only), args):
        stale[sid] = None
    return stale


# ----------------------------------------------------------------- the grader's row dicts

def from_grader_row(assignment: str, row: Mapping, feedback: str, tests: list[TestSpec], *,
                    file_digest: str | None = None, seed: int | None = None,
                    submitted: str | None = None) -> Submission:
    """A ``Submission`` from the grader's row dict (``nnkit.grading.grader.grade_one``).

    The row: ``{"submission": learner id, "file": path, "status": "graded" | "not graded" |
    ..., "notes": [...], "tests": {test: points}, "lines": {test: feedback line},
    "total": float, "max": float, "source": solution digest, "seconds": float}``.  A test is
    "passed" when it earned its full points (for a test worth 0 points: when its line says
    "passed"), "not run" when the submission was not graded or has no line for it, "failed"
    otherwise.  ``file_digest`` defaults to the digest of the file now on disk and
    ``submitted`` to its modification time: pass both when the grader has them.
    """
    path = Path(str(row.get("file", "")))
    if file_digest is None:
        file_digest = digest_file(path) if path.is_file() else "missing"
    if submitted is None and path.is_file():
        stamp = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc)
        submitted = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = str(row.get("status", "grader error"))
    points, lines = row.get("tests") or {}, row.get("lines") or {}
    results = []
    for spec in tests:
        got = float(points.get(spec.name, 0.0))
        line = str(lines.get(spec.name, ""))
        if status != "graded" or spec.name not in lines:
            verdict = "not run"
        elif spec.points > 0:
            verdict = "passed" if got >= spec.points else "failed"
        else:
            verdict = "passed" if line.startswith("passed") else "failed"
        results.append(TestResult(spec.name, got, spec.points, verdict, line))
    return Submission(
        assignment=assignment, learner=str(row["submission"]), file_digest=file_digest, status=status,
        total=float(row.get("total", 0.0)), max_points=float(row.get("max", sum(t.points for t in tests))),
        results=results, feedback=feedback, notes=[str(n) for n in row.get("notes") or []],
        file=str(row.get("file", "")), solution_digest=row.get("source"), seed=seed,
        seconds=row.get("seconds"), submitted=submitted)
