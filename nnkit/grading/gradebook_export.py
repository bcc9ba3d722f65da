"""Gradebook exports: files that learning-management systems import as they are, and text.

- ``export_csv``     one row per learner; a column per assignment (its total) and per test
- ``export_canvas``  Canvas's gradebook CSV: ``Student, ID, SIS User ID, SIS Login ID, Section``,
                     one column per assignment, and the ``Points Possible`` row under the header
- ``export_moodle``  Moodle's grade import CSV: an identifier column (``ID number``,
                     ``Email address`` or ``Username``) and one column per grade item
- ``export_html``    one self-contained feedback page per learner
- ``format_summary``, ``format_learner``: what ``nnkit gradebook`` prints

A grade is exported when its submission has a final status (graded, or a notebook that could
not be graded, worth 0); a learner without one gets an empty cell, which both Canvas and
Moodle leave unchanged.  A roster (``read_roster``) maps nnkit's learner ids to what the
learning-management system knows: names, emails, ID numbers, Canvas ids, sections.

Every text that came from a submission is escaped for where it goes: HTML-escaped with control
characters replaced in the pages, control characters shown as ``\\x..`` in the terminal.
"""
from __future__ import annotations

import csv
import html
import re
import unicodedata
from pathlib import Path

from nnkit.grading.gradebook import Gradebook, GradebookError

CANVAS_IDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"
CANVAS_ID_FIELDS = {"sis_user_id": "SIS User ID", "sis_login_id": "SIS Login ID", "id": "ID"}
MOODLE_ID_FIELDS = {"idnumber": "ID number", "email": "Email address", "username": "Username"}
ROSTER_FIELDS = ("learner", "name", "email", "idnumber", "username", "canvas_id", "sis_user_id",
                 "sis_login_id", "section")


# ------------------------------------------------------------------------------ helpers

def number(x: float) -> str:
    """A score as a CSV cell: up to 10 significant digits, no trailing zeros, no "-0"."""
    text = "%.10g" % x
    return "0" if text == "-0" else text


def _spreadsheet_text(text: str) -> str:
    """Free text (a name, a section) that a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _course(gb: Gradebook):
    """(assignments in name order, {assignment: [TestSpec]}, {learner: {assignment: Submission}})."""
    assignments = gb.assignments()
    tests = {a: gb.tests(a) for a in assignments}
    grades: dict = {}
    for sub in gb.submissions():
        grades.setdefault(sub.learner, {})[sub.assignment] = sub
    return assignments, tests, grades


def _score(sub) -> str:
    return number(sub.total) if sub is not None and sub.final else ""


def read_roster(path) -> dict:
    """``{learner: {field: value}}`` from a CSV with a ``learner`` column.

    Other columns it may have: name, email, idnumber, username, canvas_id, sis_user_id,
    sis_login_id, section.  Unknown columns are an error (a misspelt one would be ignored).
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip() for f in reader.fieldnames or []]
        unknown = sorted(set(fields) - set(ROSTER_FIELDS))
        if "learner" not in fields or unknown:
            raise GradebookError(f"roster {path}: needs a 'learner' column and only {', '.join(ROSTER_FIELDS)}"
                                 + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        roster = {}
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if row.get("learner"):
                roster[row["learner"]] = row
    return roster


def _learners(grades: dict, roster: dict | None) -> list:
    """Every learner with a grade, and everyone on the roster, in id order."""
    return sorted(set(grades) | set(roster or {}))


def _write_rows(out, rows) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    tmp.replace(out)
    return out


# ---------------------------------------------------------------------------- CSV files

def export_csv(gb: Gradebook, out) -> Path:
    """One row per learner: each assignment's total and each test's points, then the course total.

    Columns: ``learner``, then per assignment ``NAME`` and ``NAME/TEST`` for each test, then
    ``total`` (the sum of the assignment totals).
    """
    assignments, tests, grades = _course(gb)
    header = ["learner"]
    for a in assignments:
        header += [a] + [f"{a}/{t.name}" for t in tests[a]]
    rows = [header + ["total"]]
    for learner in sorted(grades):
        row, total = [learner], 0.0
        for a in assignments:
            sub = grades[learner].get(a)
            final = sub is not None and sub.final
            points = {r.test: r.points for r in sub.results} if final else {}
            row.append(_score(sub))
            row += [number(points[t.name]) if t.name in points else "" for t in tests[a]]
            total += sub.total if final else 0.0
        rows.append(row + [number(total)])
    return _write_rows(out, rows)


def export_canvas(gb: Gradebook, out, roster: dict | None = None, id_field: str = "sis_user_id") -> Path:
    """Canvas's gradebook CSV (Grades > Import): learner columns, Points Possible, one column per assignment.

    Canvas matches a row to a student by ID, SIS User ID or SIS Login ID.  With a roster these
    come from its ``canvas_id``, ``sis_user_id`` and ``sis_login_id`` columns; without one (or
    for a learner missing from it) the nnkit learner id goes into the column ``id_field`` names
    (``sis_user_id``, ``sis_login_id`` or ``id``).  A column whose name matches no assignment in
    the course makes Canvas create the assignment.
    """
    if id_field not in CANVAS_ID_FIELDS:
        raise GradebookError(f"id_field must be one of {list(CANVAS_ID_FIELDS)}, not {id_field!r}")
    assignments, tests, grades = _course(gb)
    maxima = [number(sum(t.points for t in tests[a])) for a in assignments]
    rows = [[*CANVAS_IDS, *assignments], [CANVAS_POINTS_ROW, "", "", "", "", *maxima]]
    for learner in _learners(grades, roster):
        info = (roster or {}).get(learner)
        ids = dict(zip(CANVAS_IDS, ["", "", "", "", ""]))
        if info:
            ids.update({"Student": info.get("name", ""), "ID": info.get("canvas_id", ""),
                        "SIS User ID": info.get("sis_user_id", ""),
                        "SIS Login ID": info.get("sis_login_id", ""), "Section": info.get("section", "")})
        if not (ids["ID"] or ids["SIS User ID"] or ids["SIS Login ID"]):
            ids[CANVAS_ID_FIELDS[id_field]] = learner
        ids["Student"] = _spreadsheet_text(ids["Student"] or learner)
        ids["Section"] = _spreadsheet_text(ids["Section"])
        mine = grades.get(learner, {})
        rows.append([ids[c] for c in CANVAS_IDS] + [_score(mine.get(a)) for a in assignments])
    return _write_rows(out, rows)


def export_moodle(gb: Gradebook, out, roster: dict | None = None, id_field: str = "auto") -> Path:
    """Moodle's grade import CSV (Grades > Import > CSV file): an identifier, one column per item.

    ``id_field``: ``idnumber``, ``email`` or ``username``, the user field Moodle maps the first
    column to ("Map from" / "Map to" on the import page); ``auto`` picks ``email`` when every
    learner id is an address, else ``idnumber``.  The value comes from the roster, else it is
    the learner id.  Each assignment column maps to a grade item of the same name (or a new one).
    """
    assignments, _, grades = _course(gb)
    learners = _learners(grades, roster)
    if id_field == "auto":
        id_field = "email" if learners and all("@" in name for name in learners) else "idnumber"
    if id_field not in MOODLE_ID_FIELDS:
        raise GradebookError(f"id_field must be auto or one of {list(MOODLE_ID_FIELDS)}, not {id_field!r}")
    rows = [[MOODLE_ID_FIELDS[id_field], *assignments]]
    for learner in learners:
        ident = (roster or {}).get(learner, {}).get(id_field) or learner
        mine = grades.get(learner, {})
        rows.append([ident] + [_score(mine.get(a)) for a in assignments])
    return _write_rows(out, rows)


# ------------------------------------------------------------------------------- HTML pages

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

PAGE_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 50rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; vertical-align: top; }
tr { border-bottom: 1px solid #eee; } td.msg, pre { white-space: pre-wrap; overflow-wrap: anywhere; }
tr.passed td.status { color: #176b2c; } tr.failed td.status { color: #a4161a; } tr.not-run td.status { color: #666; }
.stale { color: #8a5a00; } pre { background: #f6f6f6; padding: .75rem; font-size: .85rem; }
"""


def escape(text) -> str:
    """Untrusted text for an HTML page: control characters replaced, then HTML-escaped."""
    return html.escape(_CONTROL.sub("\ufffd", str(text)), quote=True)


def _page(learner: str, subs: list) -> str:
    graded = [s for s in subs if s.final]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        # No scripts, no fetches: the page shows only what is written in it.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Feedback for {escape(learner)}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>Feedback for {escape(learner)}</h1>",
        f"<p>Total: <strong>{number(sum(s.total for s in graded))} / "
        f"{number(sum(s.max_points for s in graded))}</strong> points over "
        f"{_count(len(graded), 'graded assignment')}.</p>"]
    for sub in subs:
        parts.append(f"<section><h2>{escape(sub.assignment)}</h2>")
        parts.append(f"<p>Score: <strong>{number(sub.total)} / {number(sub.max_points)}</strong>"
                     + ("" if sub.status == "graded" else f" &middot; {escape(sub.status)}")
                     + f" &middot; {escape(_when(sub.graded))}</p>")
        if sub.stale:
            parts.append('<p class="stale">The tests of this assignment changed since it was graded; '
                         "it will be graded again.</p>")
        if sub.notes:
            parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in sub.notes) + "</ul>")
        parts.append("<table><thead><tr><th>Test</th><th>Points</th><th>Result</th><th>Message</th>"
                     "</tr></thead><tbody>")
        for r in sub.results:
            parts.append(f'<tr class="{r.status.replace(" ", "-")}"><td>{escape(r.test)}</td>'
                         f"<td>{number(r.points)} / {number(r.max_points)}</td>"
                         f'<td class="status">{escape(r.status)}</td><td class="msg">{escape(r.message)}</td></tr>')
        parts.append("</tbody></table>")
        if sub.feedback:
            parts.append(f"<details><summary>Feedback as text</summary><pre>{escape(sub.feedback)}</pre></details>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def page_name(learner: str, taken: set) -> str:
    """A file name for a learner's page: letters, digits, ``@._-``, unique within ``taken``."""
    base = re.sub(r"[^A-Za-z0-9@._-]+", "_", learner).strip(".") or "learner"
    name, n = f"{base}.html", 1
    while name.lower() in taken:
        n += 1
        name = f"{base}-{n}.html"
    taken.add(name.lower())
    return name


def export_html(gb: Gradebook, out_dir, learners=None) -> list[Path]:
    """One self-contained feedback page per learner (or for ``learners``) in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = sorted(learners) if learners is not None else gb.learners()
    pages, taken = [], set()
    for learner in wanted:
        subs = gb.learner(learner)
        if not subs:
            raise GradebookError(f"no submissions of learner {learner!r} in {gb.path}")
        path = out / page_name(learner, taken)
        path.write_text(_page(learner, subs), encoding="utf-8")
        pages.append(path)
    return pages


EXPORTS = {"csv": export_csv, "canvas": export_canvas, "moodle": export_moodle, "html": export_html}


# --------------------------------------------------------------------------- the terminal

def plain(text, width: int | None = None) -> str:
    """Untrusted text for a terminal: one line, control and format characters shown as escapes."""
    out = []
    for ch in str(text).replace("\n", " ").replace("\t", " "):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    line = "".join(out)
    return line if width is None or len(line) <= width else line[:width - 3] + "..."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _percent(part, whole) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def format_summary(gb: Gradebook) -> str:
    """Per assignment: counts, the mean, and the tests with the lowest pass rate first."""
    summaries = gb.summary()
    lines = [f"{gb.path}: {_count(len(summaries), 'assignment')}, {_count(len(gb.learners()), 'learner')}"]
    for s in summaries:
        mean = "-" if s.mean is None else f"{s.mean:.2f} / {number(s.max_points)} ({_percent(s.mean, s.max_points)})"
        lines += ["", f"{plain(s.name)}   ({_count(len(s.tests), 'test')}, {number(s.max_points)} points)",
                  f"  submitted {s.submitted}   graded {s.graded}   not gradable {s.not_graded}   "
                  f"to re-grade {s.stale + s.retry}   mean {mean}"]
        if not s.graded:
            continue
        width = max(len(t.name) for t in s.tests)
        lines.append(f"  {'passed':>7}  {'test':<{width}}  points")
        for t in s.tests:
            lines.append(f"  {_percent(t.passed, t.graded):>7}  {plain(t.name):<{width}}  "
                         f"{number(t.points):>6}   ({t.passed} of {t.graded})")
    return "\n".join(lines)


def format_learner(gb: Gradebook, learner: str, width: int = 100) -> str:
    """Every grade of one learner: per assignment the score, then one line per test."""
    subs = gb.learner(learner)
    if not subs:
        raise GradebookError(f"no submissions of learner {learner!r} in {gb.path}")
    lines = [plain(learner)]
    for sub in subs:
        flag = "   (to re-grade: its solution or tests changed)" if sub.stale else ""
        lines += ["", f"{plain(sub.assignment)}   {number(sub.total)} / {number(sub.max_points)}   "
                      f"{plain(sub.status)} ({sub.graded}){flag}"]
        lines += [f"  note: {plain(n, width)}" for n in sub.notes]
        name_width = max((len(r.test) for r in sub.results), default=4)
        for r in sub.results:
            score = f"{number(r.points)}/{number(r.max_points)}"
            lines.append(f"  {plain(r.test):<{name_width}}  {score:>7}  {r.status:<7}  {plain(r.message, width)}")
    return "\n".join(lines)


def run_export(gb: Gradebook, fmt: str, out, *, roster=None, id_field=None, learners=None) -> str:
    """``nnkit gradebook export``: write one export; return the line to print."""
    if fmt not in EXPORTS:
        raise GradebookError(f"unknown export format {fmt!r}; one of {', '.join(EXPORTS)}")
    people = read_roster(roster) if roster else None
    if fmt == "html":
        done = f"wrote {len(export_html(gb, out, learners))} feedback pages into {out}"
    else:
        options = {"roster": people} if fmt in ("canvas", "moodle") else {}
        if id_field:
            options["id_field"] = id_field
        EXPORTS[fmt](gb, out, **options)
        done = (f"wrote {out}: {_count(len(set(gb.learners()) | set(people or {})), 'learner')}, "
                f"{_count(len(gb.assignments()), 'assignment')}")
    stale = {(a, learner) for a, learner, _ in gb.stale_results()}
    if stale:
        done += (f"\nnote: {len(stale)} submissions were graded before their solution or tests changed; "
                 "a run of `nnkit grade` grades them again")
    return done


def _when(stamp: str) -> str:
    """'graded on 2026-12-06 at 19:46 UTC' from the gradebook's ISO time stamp."""
    day, _, time = str(stamp).partition("T")
    return f"graded on {day} at {time[:5]} UTC" if time else f"graded {stamp}"
