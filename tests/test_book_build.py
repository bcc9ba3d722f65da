"""book/build.py: the offline build, the execution cache and its failure reports.

The session's book build (the ``built_book`` fixture in conftest.py) runs after every
notebook; conftest.py orders this file after the notebooks and before the browser test.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parents[1] / "book"
book_build = sys.modules["nnkit_book_build"]  # book/build.py, loaded by conftest.py


def _toc_notebooks() -> set[str]:
    import yaml

    text = (BOOK / "_toc.yml").read_text()
    files = set()

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.add(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(text))
    return {f for f in files if (BOOK / f"{f}.ipynb").exists()}


# --------------------------------------------------------------------------------------
# The real book
# --------------------------------------------------------------------------------------
def test_book_builds_from_the_executions_of_this_session(built_book, cached_book_notebooks, record_property):
    record_property("book_build_seconds", round(built_book.seconds, 2))
    print(f"\nbook build: {built_book.seconds:.1f} s, executed {sorted(built_book.executed)}, "
          f"from cache {built_book.cached}")
    toc = _toc_notebooks()
    # Every notebook of the table of contents was rendered, from the cache or executed.
    assert toc <= set(built_book.cached) | set(built_book.executed)
    # Those nbval executed in this session were not executed a second time.
    reused = toc & set(cached_book_notebooks)
    executed_again = reused & set(built_book.executed)
    assert not executed_again, f"the build executed again: {sorted(executed_again)}"
    assert reused <= set(built_book.cached)


def test_pages_use_the_local_scripts(built_book):
    html = built_book.html_dir
    vendor = html / "_static" / "vendor"
    assert (vendor / "mathjax" / "tex-mml-chtml.js").stat().st_size > 0
    pages = sorted(html.glob("**/*.html"))
    chapters = [p for p in pages if "_static" not in p.parts and p.name not in ("search.html", "genindex.html")]
    assert len(chapters) >= 30
    for path in chapters:
        page = path.read_text()
        remote = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https?://[^"]+)"', page)
        assert remote == [], f"{path.name} loads from the network: {remote}"
        if 'class="math' in page:
            assert "_static/vendor/mathjax/tex-mml-chtml.js" in page, f"{path.name}: MathJax is not local"
        if "application/vnd.jupyter.widget-state+json" in page:  # a live widget: its manager is local
            for script in ("require.js", "widgets-paths.js", "html-manager/embed-amd.js"):
                assert f"_static/vendor/{script}" in page, f"{path.name} lacks the local {script}"
    # The explorers are pictures swapped by the page's own script: no widget manager needed.
    page = (html / "using-the-book.html").read_text()
    assert "nnkit-explorer" in page and "data:image/png;base64," in page


# --------------------------------------------------------------------------------------
# The cache is keyed on nnkit's source
# --------------------------------------------------------------------------------------
def test_a_change_in_nnkit_source_empties_the_execution_cache(tmp_path):
    src, book = tmp_path / "nnkit", tmp_path / "book"
    (src / "nn").mkdir(parents=True)
    (src / "__init__.py").write_text("x = 1\n")
    (src / "nn" / "layers.py").write_text("y = 2\n")
    cache = book_build.cache_dir(book)

    def fill_cache():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "global.db").write_text("records")

    fill_cache()
    assert book_build.sync_cache_with_source(book, src, log=lambda m: None)  # no stamp yet
    assert not cache.exists()
    fill_cache()
    assert not book_build.sync_cache_with_source(book, src, log=lambda m: None)  # unchanged
    assert (cache / "global.db").exists()

    (src / "nn" / "layers.py").write_text("y = 3\n")  # an edit deep in the package
    assert book_build.sync_cache_with_source(book, src, log=lambda m: None)
    assert not cache.exists()

    fill_cache()
    (src / "nn" / "extra.py").write_text("")  # a new, empty module changes the hash too
    assert book_build.sync_cache_with_source(book, src, log=lambda m: None)
    assert not cache.exists()


def test_source_hash_ignores_bytecode_and_non_python_files(tmp_path):
    (tmp_path / "a.py").write_text("a = 1\n")
    before = book_build.nnkit_source_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.cpython-311.py").write_text("junk")
    (tmp_path / "notes.txt").write_text("notes")
    assert book_build.nnkit_source_hash(tmp_path) == before
    (tmp_path / "a.py").write_text("a = 2\n")
    assert book_build.nnkit_source_hash(tmp_path) != before


# --------------------------------------------------------------------------------------
# A small book of its own: caching by the conftest route, and failures
# --------------------------------------------------------------------------------------
CONFIG = """\
title: scratch
only_build_toc_files: true
execute:
  execute_notebooks: cache
  timeout: 30
"""


def _scratch_book(tmp_path: Path, cells: list[nbformat.NotebookNode]) -> tuple[Path, Path]:
    book, src = tmp_path / "book", tmp_path / "nnkit"
    book.mkdir()
    src.mkdir()
    (src / "__init__.py").write_text("")
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n")
    (book / "intro.md").write_text("# Scratch\n\nA book for one test.\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Chapter"), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "chapter.ipynb")
    return book, src


def test_a_failing_cell_fails_the_build_and_is_named(tmp_path, capsys):
    allowed = nbformat.v4.new_code_cell("raise KeyError('allowed: tagged raises-exception')")
    allowed.metadata["tags"] = ["raises-exception"]
    book, src = _scratch_book(tmp_path, [
        nbformat.v4.new_code_cell("x = 6 * 7"),
        allowed,
        nbformat.v4.new_code_cell("assert x == 41, 'the deliberate failure'"),
        nbformat.v4.new_code_cell("print('never reached')"),
    ])
    status = book_build.main(["--cdn", "--json"], book_dir=book, src=src)
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert status != 0 and summary["ok"] is False
    assert len(summary["failures"]) == 1
    message = summary["failures"][0]
    assert "chapter.ipynb" in message
    assert "code cell 2" in message and "assert x == 41" in message
    assert "AssertionError" in message and "the deliberate failure" in message
    assert "These notebooks failed to execute" in out


def test_an_execution_stored_from_outside_is_used_by_the_build(tmp_path):
    """The route conftest.py takes: store outputs in the cache, then build without executing."""
    book, src = _scratch_book(tmp_path, [
        nbformat.v4.new_code_cell("import time\ntime.sleep(3)\nprint(6 * 7 * 1000)"),
    ])
    book_build.sync_cache_with_source(book, src, log=lambda m: None)
    executed = nbformat.read(book / "chapter.ipynb", as_version=4)
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="from the cache\n")]
    executed.cells[1].execution_count = 1
    book_build.store_execution(book / "chapter.ipynb", executed, 3.0, book)

    start = time.perf_counter()
    result = book_build.build_book(book, use_cdn=True, src=src, quiet=True)
    assert result.ok, result.failures or result.log[-2000:]
    assert result.cached == ["chapter"] and result.executed == {}
    page = (result.html_dir / "chapter.html").read_text()
    assert "from the cache" in page and "42000" not in page
    print(f"\nscratch build from the cache: {time.perf_counter() - start:.1f} s")

    # A change in the library's source makes the next build execute the notebook again.
    (src / "__init__.py").write_text("changed = True\n")
    result = book_build.build_book(book, use_cdn=True, src=src, quiet=True)
    assert result.ok and list(result.executed) == ["chapter"]
    assert result.executed["chapter"] >= 3.0  # the sleep really ran
    page = (result.html_dir / "chapter.html").read_text()
    assert "42000" in page and "from the cache" not in page
