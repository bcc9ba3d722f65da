"""The built book in a real browser, read as a reader reads it.

Every page of the table of contents is opened from file:// and must show: math typeset by
MathJax and no raw TeX left in the text; no debug output (function reprs, NumPy scalar reprs
such as ``np.float64(0.5)``, long array or tuple dumps, warnings with the kernel's file paths);
no console error, no failed request, nothing fetched from the network, no image that failed to
load; and explorers whose picture changes when a control moves, with no kernel behind the page.
A screenshot of every page is saved in ``book/_build/screenshots/`` and the counts in
``book/_build/screenshots/report.json``.

The checks are proved on small synthetic pages too: each must fail where it should.

The book is built once per session by the ``built_book`` fixture (conftest.py), re-using the
executions nbval made earlier in the session; this file runs last. Chromium is the system's
(``apt-get install chromium``), driven by the playwright package with no browser download.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
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

#: Text nodes outside typeset math and code that still look like TeX.
RAW_TEX_JS = r"""() => {
  const root = document.querySelector("article") || document.body;
  const skip = "mjx-container, code, pre, script, style, kbd, samp, textarea, .nnkit-explorer-text";
  const tex = /\$|\\[A-Za-z]{2,}|\\[()\[\]]|[_^]\{/;
  const found = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement || node.parentElement.closest(skip)) continue;
    if (tex.test(node.textContent)) found.push(node.textContent.trim().slice(0, 100));
  }
  return found;
}"""

#: The text of every cell output block (stream, plain text, stderr), as myst-nb renders them.
OUTPUTS_JS = """() => Array.from(document.querySelectorAll('.cell_output .output'))
  .filter(el => !el.querySelector('.nnkit-explorer'))
  .map(el => ({classes: el.className, text: el.innerText}))"""

#: Python reprs that only ever show by accident.
DEBUG_REPR = re.compile(r"^\s*(<function |<bound method |<matplotlib\.|\[<matplotlib\.|<Figure size "
                        r"|<[\w.]+ object at 0x)")
#: NumPy 2 scalar reprs, e.g. ``np.float64(0.0451)`` or ``np.True_`` in a printed list or tuple:
#: the reader should see the number (format it, or convert it with float() or .tolist()).
NUMPY_SCALAR = re.compile(r"\bnp\.(?:(?:float|int|uint|complex|bool|str|bytes|datetime|timedelta)"
                          r"\w*\(|True_|False_)")
CONTAINER_DUMP = re.compile(r"^\s*(array\(|\(|\[)")
KERNEL_PATHS = re.compile(r"/tmp/ipykernel_|/tmp/tmp\w+|\w+Warning:")


def debug_output(text: str) -> str | None:
    """Why an output block reads as debug output, or None."""
    if DEBUG_REPR.match(text):
        return "a Python repr: " + text.strip().splitlines()[0][:80]
    numpy_scalar = NUMPY_SCALAR.search(text)
    if numpy_scalar:
        line = next(line for line in text.splitlines() if numpy_scalar.group(0) in line)
        return "a NumPy scalar repr: " + line.strip()[:80]
    lines = text.strip().splitlines()
    if len(lines) > 20 and CONTAINER_DUMP.match(text):
        return f"a {len(lines)}-line array or tuple dump: {lines[0][:60]}"
    if KERNEL_PATHS.search(text):
        return "a warning or a temporary path: " + KERNEL_PATHS.search(text).group(0)
    return None


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


@dataclass
class PageReport:
    """What one page showed a reader."""

    page: str
    math: list[str] = field(default_factory=list)
    raw_tex: list[str] = field(default_factory=list)
    debug_outputs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)
    dead_explorers: list[str] = field(default_factory=list)
    controls_moved: int = 0

    PROBLEMS = ("math", "raw_tex", "debug_outputs", "console_errors", "broken_images",
                "failed_requests", "network_requests", "dead_explorers")

    def problems(self) -> list[str]:
        return [f"{self.page}: {kind.replace('_', ' ')}: {item}"
                for kind in self.PROBLEMS for item in getattr(self, kind)]


def _shown(root) -> str:
    """What an explorer shows now: its pictures and its printed text."""
    return root.evaluate("""el => Array.from(el.querySelectorAll('img'))
        .map(img => img.currentSrc || img.src).join('|') + '#' +
        Array.from(el.querySelectorAll('pre')).map(p => p.textContent).join('|')""")


def _move(control, kind: str) -> str:
    """Move a control by one step with the keyboard, as a reader would; the key that moves it
    back."""
    control.focus()
    if kind == "checkbox":
        control.press("Space")
        return "Space"
    if kind == "select":
        at_end = control.evaluate("el => el.selectedIndex === el.options.length - 1")
        control.press("ArrowUp" if at_end else "ArrowDown")
        return "ArrowDown" if at_end else "ArrowUp"
    # a range input, or an ipywidgets slider handle
    at_end = control.evaluate(
        "el => el.max !== undefined && el.max !== '' ? Number(el.value) >= Number(el.max) "
        ": el.getAttribute('aria-valuenow') === el.getAttribute('aria-valuemax')")
    control.press("ArrowLeft" if at_end else "ArrowRight")
    return "ArrowRight" if at_end else "ArrowLeft"


def _check_explorers(page, report: PageReport) -> None:
    # The book's explorers: controls swap pre-rendered frames. Each control is moved one step
    # from the explorer's start, as the page opens, and then back (where the picture must return).
    for k, root in enumerate(page.locator(".nnkit-explorer").all()):
        name = root.get_attribute("data-name") or f"explorer {k}"
        for control in root.locator("[data-control]").all():
            kind = control.evaluate("el => el.tagName === 'SELECT' ? 'select' : el.type")
            label = control.evaluate("el => el.parentElement.textContent.trim().split(/\\s+/)[0]")
            before = _shown(root)
            back = _move(control, kind)
            page.wait_for_timeout(50)
            if _shown(root) == before:
                report.dead_explorers.append(f"{name}: moving {label!r} does not change the picture")
            control.press(back)
            page.wait_for_timeout(50)
            if _shown(root) != before:
                report.dead_explorers.append(f"{name}: moving {label!r} back does not bring back "
                                             "the first picture")
            report.controls_moved += 1
    # ipywidgets explorers: without a kernel their picture cannot follow the slider.
    if page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
        try:
            page.wait_for_selector(".widget-interact, .jupyter-widgets", timeout=10_000)
        except Exception:  # noqa: BLE001 - no widget drawn: nothing to move
            return
        for k, root in enumerate(page.locator(".widget-interact").all()):
            handle = root.locator(".noUi-handle, select").first
            if not handle.count():
                continue
            kind = "select" if handle.evaluate("el => el.tagName") == "SELECT" else "slider"
            before = _shown(root)
            _move(handle, kind)
            page.wait_for_timeout(300)
            if _shown(root) == before:
                report.dead_explorers.append(f"ipywidgets explorer {k}: its picture does not "
                                             "change when its control moves (no kernel)")
            report.controls_moved += 1


def audit(browser, html: Path, name: str, screenshot: Path | None = None) -> PageReport:
    """Open one page and run every reader's check on it."""
    report = PageReport(name)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: m.type == "error" and report.console_errors.append(m.text[:200]))
    page.on("pageerror", lambda e: report.console_errors.append(str(e)[:200]))
    page.on("requestfailed", lambda r: report.failed_requests.append(f"{r.url[:120]} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:"))
            else report.network_requests.append(r.url[:120]))
    page.goto(html.as_uri(), wait_until="load")
    # MathJax typesets after the load event; wait for it where the page loads it.
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    math = page.locator(".math").count()          # Sphinx marks every formula with class "math"
    typeset = page.locator("mjx-container").count()
    if math and typeset < math:
        report.math.append(f"{math} formulas but only {typeset} typeset by MathJax")
    if page.locator("mjx-merror").count():
        report.math.append(f"MathJax reports {page.locator('mjx-merror').count()} TeX error(s)")
    report.raw_tex = page.evaluate(RAW_TEX_JS)
    for output in page.evaluate(OUTPUTS_JS):
        why = debug_output(output["text"])
        if why:
            report.debug_outputs.append(why)
    report.broken_images = page.evaluate(
        """() => Array.from(document.querySelectorAll('img'))
             .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
             .map(img => img.src.slice(0, 120))""")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    _check_explorers(page, report)
    page.wait_for_timeout(100)  # let late console messages arrive
    page.close()
    return report


# --------------------------------------------------------------------------------------
# The real book
# --------------------------------------------------------------------------------------
def test_every_page_reads_clean_and_every_explorer_moves(built_book, browser):
    html_dir = built_book.html_dir
    assert built_book.local_scripts, (
        "the book was built without its local copies of the widget manager and MathJax "
        "(npm missing or failed), so its pages need the network"
    )
    shots = html_dir.parent / "screenshots"
    reports = [audit(browser, html_dir / f"{doc}.html", doc, shots / f"{doc.replace('/', '--')}.png")
               for doc in toc_pages()]
    totals = {kind: sum(len(getattr(r, kind)) for r in reports) for kind in PageReport.PROBLEMS}
    totals["controls_moved"] = sum(r.controls_moved for r in reports)
    totals["explorer_pages"] = sum(1 for r in reports if r.controls_moved)
    (shots / "report.json").write_text(json.dumps(
        {"totals": totals, "pages": [asdict(r) for r in reports]}, indent=1))
    print(f"\nbrowser check of {len(reports)} pages: {totals}")
    problems = [p for r in reports for p in r.problems()]
    assert totals["controls_moved"] > 0, "no explorer found in the book"
    assert not problems, "\n".join(problems)


def test_using_the_book_explorer_redraws_without_a_kernel(built_book, browser):
    page = browser.new_page()
    page.goto((built_book.html_dir / "using-the-book.html").as_uri(), wait_until="load")
    root = page.locator(".nnkit-explorer").first
    readout = root.locator("output").first
    assert readout.inner_text() == "1.00"               # slider(value=1.0) as executed
    first = root.locator("img").get_attribute("src")
    slider = root.locator("input[type=range]")
    slider.focus()
    for _ in range(8):
        slider.press("ArrowRight")
    assert readout.inner_text() == "3.00"               # eight steps of 0.25
    assert root.locator("img").get_attribute("src") != first
    assert "slope k 3.00" in root.locator("img").get_attribute("alt")
    page.close()


# --------------------------------------------------------------------------------------
# The checks fail where they should (synthetic pages)
# --------------------------------------------------------------------------------------
def _page(tmp_path: Path, body: str, name: str = "page") -> Path:
    path = tmp_path / f"{name}.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head>"
                    f"<body><article>{body}</article></body></html>")
    return path


def _output(text: str) -> str:
    """An output block as myst-nb writes it."""
    import html

    return ('<div class="cell_output docutils container"><div class="output text_plain '
            f'highlight-myst-ansi notranslate"><div class="highlight"><pre>{html.escape(text)}'
            "</pre></div></div></div>")


def _explorer_fragment(draws_its_value: bool) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnkit.viz import explorer as ex

    def show(k=1.0):
        plt.figure(figsize=(2, 1.5))
        plt.plot([0, 1], [0, k if draws_its_value else 1.0])
        plt.ylim(0, 3)
        plt.show()

    controls = ex._controls(show, {"k": ex.slider(0.5, 2.5, 0.5, value=1.0)})
    return ex.to_html(ex.render_frames(show, controls))


def test_a_clean_page_and_a_live_explorer_pass(tmp_path, browser):
    body = "<p>Plain prose with a number, 3 + 4 = 7.</p>" + _output("loss 0.25\n") + \
        _explorer_fragment(draws_its_value=True)
    report = audit(browser, _page(tmp_path, body), "clean", tmp_path / "clean.png")
    assert report.problems() == [] and report.controls_moved == 1
    assert (tmp_path / "clean.png").stat().st_size > 0


def test_raw_tex_is_caught(tmp_path, browser):
    body = ("<p>The weight vector $\\mathbf{w}$ and the rate \\beta.</p>"
            "<p>Code is fine: <code>$HOME \\alpha</code></p>")
    report = audit(browser, _page(tmp_path, body), "tex")
    assert len(report.raw_tex) == 1 and "mathbf" in report.raw_tex[0]
    assert report.problems()


@pytest.mark.parametrize("text, reason", [
    ("<function __main__.plot_neuron(a=1.0)>", "repr"),
    ("<bound method Linear.forward of Linear(2, 3)>", "repr"),
    ("(array([0.1, 0.2]),\n" + "".join(f" {i},\n" for i in range(25)) + ")", "dump"),
    ("array([" + ",\n       ".join(str(i) for i in range(40)) + "])", "dump"),
    ("/tmp/ipykernel_123/456.py:3: RuntimeWarning: overflow encountered in exp", "warning"),
    ("points in both sets: [(np.float64(1.2), np.float64(0.7))]", "NumPy scalar"),
    ("np.float32(0.25)", "NumPy scalar"),
    ("{'epochs': np.int64(12), 'loss': 0.031}", "NumPy scalar"),
    ("converged: np.True_", "NumPy scalar"),
])
def test_debug_output_is_caught(tmp_path, browser, text, reason):
    report = audit(browser, _page(tmp_path, _output(text)), "debug")
    assert len(report.debug_outputs) == 1 and reason in report.debug_outputs[0]


def test_a_long_printed_table_is_not_debug_output():
    assert debug_output("".join(f"epoch {i}: loss {1 / (i + 1):.3f}\n" for i in range(30))) is None


def test_numbers_and_dtype_names_are_not_numpy_reprs():
    assert debug_output("points in both sets: [(1.2, 0.7), (2.1, -3.0)]\nfloat64, True") is None
    assert debug_output("x.dtype is float32; np.float32 halves the memory") is None


def test_a_dead_explorer_is_caught(tmp_path, browser):
    report = audit(browser, _page(tmp_path, _explorer_fragment(draws_its_value=False)), "dead")
    assert len(report.dead_explorers) == 1 and "does not change" in report.dead_explorers[0]


def test_each_control_is_moved_from_the_explorer_start(tmp_path, browser):
    """A control that matters only for some values of another (a kernel's centre weight, for the
    kernels that have one) is judged from the start, not from where the other control was left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnkit.viz import explorer as ex

    def show(kind="sharpen", centre=2.0):
        plt.figure(figsize=(2, 1.5))
        plt.plot([0, 1], [0, centre if kind == "sharpen" else 1.0])
        plt.ylim(0, 3)
        plt.show()

    controls = ex._controls(show, {"kind": ["sharpen", "blur"],
                                   "centre": ex.slider(0.5, 2.5, 0.5, value=2.0)})
    body = ex.to_html(ex.render_frames(show, controls))
    report = audit(browser, _page(tmp_path, body), "two controls")
    assert report.dead_explorers == [] and report.controls_moved == 2


def test_console_errors_broken_images_and_failed_requests_are_caught(tmp_path, browser):
    body = "<script>undefinedFunction();</script><img src='missing.png' alt='x'>"
    report = audit(browser, _page(tmp_path, body), "errors")
    assert any("undefinedFunction" in e for e in report.console_errors)
    assert len(report.broken_images) == 1 and "missing.png" in report.broken_images[0]
    assert any("missing.png" in r for r in report.failed_requests)
