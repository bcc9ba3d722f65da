"""The built book in a real browser: math typeset, plots shown, widgets alive, nothing fetched
from the network.

The book is built once per session by the ``built_book`` fixture (conftest.py), re-using the
executions nbval made earlier in the session; this file runs last. Chromium is the system's
(``apt-get install chromium``), driven by the playwright package with no browser download.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]
BOOK = Path(__file__).resolve().parents[1] / "book"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on this machine (apt-get install chromium); the browser test did not run",
)


def toc_pages() -> list[str]:
    """Every page of the table of contents, as a path relative to book/ without extension."""
    import yaml

    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageVisit:
    """One page opened from file://, with every request and failed request recorded."""

    def __init__(self, browser, html: Path):
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.goto(html.as_uri(), wait_until="load")
        # MathJax typesets after the load event; wait for it where the page has math.
        self.page.evaluate(
            "() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null"
        )

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def broken_images(self) -> list[str]:
        return self.page.evaluate(
            """() => Array.from(document.querySelectorAll('article img'))
                 .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
                 .map(img => img.src.slice(0, 120))"""
        )

    def image_count(self) -> int:
        return self.page.evaluate(
            "() => Array.from(document.querySelectorAll('article img'))"
            ".filter(img => img.naturalWidth > 0).length"
        )


def test_every_page_typesets_math_shows_plots_and_stays_offline(built_book, browser):
    html_dir = built_book.html_dir
    assert built_book.local_scripts, (
        "the book was built without its local copies of require.js, the widget manager and "
        "MathJax (npm missing or failed), so its pages need the network"
    )
    problems = []
    for doc in toc_pages():
        visit = PageVisit(browser, html_dir / f"{doc}.html")
        math = visit.count(".math")  # Sphinx marks every formula with class "math"
        typeset = visit.count("mjx-container")
        if math and typeset < math:
            problems.append(f"{doc}: {math} formulas but only {typeset} typeset by MathJax")
        if visit.count("mjx-merror"):
            problems.append(f"{doc}: MathJax reports {visit.count('mjx-merror')} TeX error(s)")
        for src in visit.broken_images():
            problems.append(f"{doc}: image not shown: {src}")
        for failure in visit.failed:
            problems.append(f"{doc}: request failed: {failure}")
        for url in visit.requests:
            if not url.startswith(("file:", "data:", "blob:", "about:")):
                problems.append(f"{doc}: requested from the network: {url}")
        visit.page.close()
    assert not problems, "\n".join(problems)


def test_using_the_book_page_has_math_a_plot_and_a_live_slider(built_book, browser):
    visit = PageVisit(browser, built_book.html_dir / "using-the-book.html")
    page = visit.page
    assert visit.count("mjx-container") >= 4          # the displayed and inline formulas
    assert visit.image_count() >= 2                   # the static figure and the explorer's plot
    page.wait_for_selector(".widget-slider", timeout=15_000)
    readout = page.locator(".widget-slider .widget-readout").first
    assert readout.inner_text().strip() == "1.00"     # FloatSlider(value=1.0) as executed
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('.widget-slider .widget-readout').innerText.trim() !== '1.00'",
        timeout=5_000,
    )
    assert readout.inner_text().strip() == "1.50"     # two steps of 0.25, without a kernel
    assert visit.failed == []
    page.close()
