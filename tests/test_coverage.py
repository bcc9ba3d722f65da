"""The book's maps: book/coverage.yml (source section -> chapter heading) and book/_toc.yml.

- every ``chapter`` named in coverage.yml exists and is in the table of contents, and every
  ``target`` is a markdown heading of that chapter;
- every notebook under book/ is listed in _toc.yml, and every _toc.yml entry exists;
- an entry for a source's "Learning goals" section points at the heading under which the chapter
  states its goals ("After this chapter you can").
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
SOURCES = ("hackers-guide", "how-networks-are-trained", "neural-nets-notes", "lecture-notes")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def markdown_headings(text: str) -> list[str]:
    """The ATX headings (``# Title``) of a markdown text, outside fenced code blocks."""
    headings, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING.match(line)
        if m:
            headings.append(" ".join(m.group(2).split()))
    return headings


def headings_of(path: Path) -> list[str]:
    """Headings of a chapter: its markdown cells for a notebook, its text for a .md file."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    return markdown_headings(text)


def section_text(path: Path, target: str) -> str:
    """The markdown of a chapter from heading ``target`` to the next heading ("" if absent)."""
    nb = nbformat.read(path, as_version=4)
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    lines, inside, in_fence = [], False, False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else HEADING.match(line)
        if m and inside:
            break
        if m and " ".join(m.group(2).split()) == " ".join(target.split()):
            inside = True
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def toc_entries() -> list[str]:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                entries.append(node["file"])
            for key in ("chapters", "sections", "parts"):
                walk(node.get(key))
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return entries


def coverage_entries() -> list[tuple[str, dict]]:
    data = yaml.safe_load((BOOK / "coverage.yml").read_text())
    return [(source, entry) for source in SOURCES for entry in data[source]["sections"] or []]


def entry_id(item) -> str:
    source, entry = item
    return f"{source}: {entry.get('heading', '?')}"[:80]


def test_markdown_headings_reader():
    text = "# Title\nprose\n## A *second*  heading ##\n```python\n# a comment, not a heading\n```\n#not\n"
    assert markdown_headings(text) == ["Title", "A *second* heading"]


def test_coverage_file_has_the_four_sources_in_the_documented_format():
    data = yaml.safe_load((BOOK / "coverage.yml").read_text())
    assert list(data) == list(SOURCES)
    for source in SOURCES:
        assert set(data[source]) == {"source", "sections"}, source
        assert data[source]["source"].endswith(".txt")
        for entry in data[source]["sections"] or []:
            assert set(entry) == {"heading", "chapter", "target"}, entry
            assert all(isinstance(v, str) and v.strip() for v in entry.values()), entry


@pytest.mark.parametrize("item", coverage_entries(), ids=entry_id)
def test_coverage_target_is_a_heading_of_an_existing_chapter(item):
    source, entry = item
    chapter = BOOK / entry["chapter"]
    assert chapter.is_file(), f"{source}: chapter {entry['chapter']} does not exist"
    assert chapter.with_suffix("").relative_to(BOOK).as_posix() in toc_entries(), (
        f"{entry['chapter']} is not in book/_toc.yml"
    )
    headings = headings_of(chapter)
    assert " ".join(entry["target"].split()) in headings, (
        f"{source}: {entry['target']!r} is not a heading of {entry['chapter']}; "
        f"its headings are: {headings}"
    )


GOALS = [item for item in coverage_entries() if "learning goals" in item[1]["heading"].lower()]


def test_section_text_stops_at_the_next_heading(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\n**After this chapter you can**\n\n- fit\n\n## Next\n\nmore")])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    assert "After this chapter you can" in section_text(path, "Title")
    assert "After this chapter you can" not in section_text(path, "Next")
    assert section_text(path, "Missing") == ""


@pytest.mark.parametrize("item", GOALS, ids=entry_id)
def test_learning_goals_entries_point_at_the_stated_goals(item):
    source, entry = item
    text = section_text(BOOK / entry["chapter"], entry["target"])
    assert "After this chapter you can" in text, (
        f"{source}: {entry['heading']!r} points at {entry['target']!r} in {entry['chapter']}, "
        "which does not state the chapter's goals"
    )


def test_every_toc_entry_exists():
    missing = [e for e in toc_entries()
               if not any((BOOK / f"{e}{ext}").is_file() for ext in (".ipynb", ".md"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_of_the_book_is_in_the_toc():
    listed = set(toc_entries())
    notebooks = [p for p in BOOK.rglob("*.ipynb")
                 if not {"_build", ".ipynb_checkpoints", "_vendor"} & set(p.relative_to(BOOK).parts)]
    unlisted = sorted(p.relative_to(BOOK).as_posix() for p in notebooks
                      if p.relative_to(BOOK).with_suffix("").as_posix() not in listed)
    assert not unlisted, f"notebooks missing from book/_toc.yml: {unlisted}"
    assert "using-the-book" in listed
