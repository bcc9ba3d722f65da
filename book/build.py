"""Build the nnkit book into book/_build/html, executing every chapter.

    python book/build.py            # offline: scripts from npm, chapters executed (or cached)
    python book/build.py --cdn      # let the pages load their scripts from CDNs instead

Three steps:

1. **Browser scripts.** ``npm ci`` installs require.js, the ipywidgets HTML manager and
   MathJax (``package.json`` / ``package-lock.json`` at the repository root), and the files
   the pages need are copied to ``book/_vendor/vendor/``. Sphinx serves that folder as
   ``_static/vendor/`` (see ``sphinx.config`` in ``_config.yml``). Without npm the book is
   built with the CDN defaults instead, and the script says so.
2. **Execution cache.** Executed notebooks are kept in ``book/_build/.jupyter_cache``
   (jupyter-cache, keyed on each notebook's code). Neither Jupyter Book nor jupyter-cache
   notices a change in the *library* a notebook imports, so the cache is stamped with a
   hash of ``nnkit/**/*.py`` and emptied when that hash changes. The test session
   (``conftest.py``) fills the same cache with the executions nbval makes, so a book build
   after the tests executes nothing again.
3. **Build.** Chapters missing from the cache are executed two at a time (``--jobs``) and
   cached; then ``jupyter-book build --all`` renders every page again, taking every notebook
   from the cache (or executing it, 90 s per cell at most, when it failed above). Only
   warnings, progress and the page to open are printed; the full log is
   ``book/_build/build.log``. A notebook that fails to
   execute fails the build: the script names the notebook and the cell, and exits non-zero.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NNKIT_SRC = ROOT / "nnkit"

#: What is copied from node_modules/ into book/_vendor/vendor/ (source, destination).
VENDOR_FILES = [
    ("requirejs/require.js", "require.js"),
    ("@jupyter-widgets/html-manager/dist/embed-amd.js", "html-manager/embed-amd.js"),
    ("mathjax/es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
]
#: Folders copied whole: MathJax's fonts and the TeX extensions it loads on demand.
VENDOR_DIRS = [
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"),
]
#: The widget manager's icon fonts (FontAwesome), next to embed-amd.js.
WIDGET_FONT_SUFFIXES = (".woff2", ".woff")  # every browser in use reads one of these

#: Runs after require.js, before the widget manager: maps the manager's AMD module id to
#: the folder of its copy, so that it finds its icon fonts there. (It derives the fonts'
#: URL from that module's URL, which otherwise is relative to the page: wrong for every
#: page in a sub-folder.)
WIDGETS_PATHS_JS = """\
// Point the ipywidgets HTML manager at its own folder, where its font files are.
(function () {
  var here = document.currentScript && document.currentScript.src;
  if (here && window.require && window.require.config) {
    window.require.config({
      paths: {"@jupyter-widgets/html-manager/dist": here.replace(/[^\\/]*$/, "") + "html-manager"}
    });
  }
})();
"""

#: Set to "static" for the kernels that execute the chapters: explorers (nnkit.viz.explore)
#: then draw every frame the built page swaps in as the reader moves a control.
EXPLORERS_VARIABLE = "NNKIT_EXPLORERS"

#: Keys of ``sphinx.config`` that point the pages at the local copies.
LOCAL_SCRIPT_KEYS = ("html_static_path", "mathjax_path", "nb_ipywidgets_js")


# ---------------------------------------------------------------------------------------
# 1. Browser scripts
# ---------------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor_dir(book_dir: Path = BOOK) -> Path:
    """The folder Sphinx serves as ``_static/``: ``book/_vendor``."""
    return book_dir / "_vendor"


def install_vendor(book_dir: Path = BOOK, root: Path = ROOT, log=print) -> bool:
    """Install the browser scripts with npm and copy them to ``book/_vendor/vendor``.

    Returns True when the local copies are in place, False when npm is missing or
    failed (the caller then builds with the CDN defaults).
    """
    lock = root / "package-lock.json"
    target = vendor_dir(book_dir) / "vendor"
    stamp = target / ".package-lock.sha256"
    if stamp.exists() and stamp.read_text() == _sha256_file(lock):
        return True  # already copied from this lockfile
    npm = shutil.which("npm")
    if npm is None:
        log("npm was not found: the pages will load require.js, the widget manager "
            "and MathJax from their CDNs (they need a network connection to show widgets and math).")
        return False
    log("Installing the browser scripts with npm ci ...")
    proc = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=root, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        log(f"npm ci failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}\n"
            "Falling back to the CDNs: the pages will load require.js, the widget manager "
            "and MathJax from the network.")
        return False
    modules = root / "node_modules"
    if target.exists():
        shutil.rmtree(target)
    for src, dst in VENDOR_FILES:
        (target / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(modules / src, target / dst)
    for src, dst in VENDOR_DIRS:
        shutil.copytree(modules / src, target / dst)
    fonts = modules / "@jupyter-widgets/html-manager/dist"
    for font in fonts.iterdir():
        if font.suffix in WIDGET_FONT_SUFFIXES:
            shutil.copy2(font, target / "html-manager" / font.name)
    (target / "widget-modules").mkdir()
    (target / "widgets-paths.js").write_text(WIDGETS_PATHS_JS)
    stamp.write_text(_sha256_file(lock))
    log(f"Copied the browser scripts to {target} ({folder_size(target) / 1e6:.1f} MB).")
    return True


def folder_size(path: Path) -> int:
    """Total size in bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cdn_config(book_dir: Path = BOOK) -> Path:
    """Write a copy of ``_config.yml`` without the local-script settings; return its path."""
    import yaml  # noqa: PLC0415 - installed with jupyter-book

    config = yaml.safe_load((book_dir / "_config.yml").read_text())
    sphinx_config = config.get("sphinx", {}).get("config", {})
    for key in LOCAL_SCRIPT_KEYS:
        sphinx_config.pop(key, None)
    out = book_dir / "_build" / "_config.cdn.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


# ---------------------------------------------------------------------------------------
# 2. Execution cache
# ---------------------------------------------------------------------------------------
def cache_dir(book_dir: Path = BOOK) -> Path:
    """Where Jupyter Book (myst-nb) keeps executed notebooks."""
    return book_dir / "_build" / ".jupyter_cache"


def source_stamp(book_dir: Path = BOOK) -> Path:
    """The file holding the hash of nnkit's source the cache was filled with."""
    return book_dir / "_build" / ".nnkit-source.sha256"


def nnkit_source_hash(src: Path = NNKIT_SRC) -> str:
    """SHA-256 over the relative path and bytes of every ``*.py`` file under ``src``."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(src).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def sync_cache_with_source(book_dir: Path = BOOK, src: Path = NNKIT_SRC, log=print) -> bool:
    """Empty the execution cache if nnkit's source changed since it was filled.

    Returns True when the cache was emptied (or did not match any stamp).
    """
    current = nnkit_source_hash(src)
    stamp = source_stamp(book_dir)
    if stamp.exists() and stamp.read_text().strip() == current:
        return False
    cache = cache_dir(book_dir)
    if cache.exists():
        log(f"nnkit's source changed since the notebooks were executed: emptying {cache}")
        shutil.rmtree(cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return True


def store_execution(notebook_path: Path, executed, seconds: float, book_dir: Path = BOOK) -> int:
    """Put an executed notebook (an ``nbformat`` node) into the book's execution cache.

    ``executed`` must have the same cells (sources) as the file at ``notebook_path``;
    the cache matches notebooks on their code, so the book build will use these outputs
    instead of executing the notebook again. Returns the cache record's id.
    """
    from jupyter_cache import get_cache  # noqa: PLC0415
    from jupyter_cache.base import CacheBundleIn  # noqa: PLC0415

    cache = get_cache(str(cache_dir(book_dir)))
    record = cache.cache_notebook_bundle(
        CacheBundleIn(executed, str(Path(notebook_path).resolve()),
                      data={"execution_seconds": seconds}),
        check_validity=False,
        overwrite=True,
    )
    return record.pk


def toc_notebooks(book_dir: Path = BOOK) -> list[Path]:
    """The notebooks the table of contents lists, in its order."""
    import yaml  # noqa: PLC0415

    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((book_dir / "_toc.yml").read_text()))
    return [book_dir / f"{f}.ipynb" for f in files if (book_dir / f"{f}.ipynb").exists()]


def execute_missing(book_dir: Path = BOOK, jobs: int = 2, timeout: int = 90,
                    env: dict[str, str] | None = None, log=print) -> dict[str, float]:
    """Execute, ``jobs`` at a time, the chapters the cache does not hold yet, and cache them.

    Jupyter Book executes notebooks one after the other; on a machine with two cores, two at
    once take about half the time. Each runs as Jupyter Book would run it (in its own folder,
    ``timeout`` seconds per cell, with ``env`` added to its environment); one that fails is
    left out of the cache, so that Jupyter Book executes it again and reports the failure.
    The cores are shared out: each kernel's BLAS gets ``cores // jobs`` threads (unless the
    caller's environment already says), since more threads than cores only wait on each other.
    What kernels write to their own stderr (start-up notices) goes to
    ``_build/kernels.log``. Returns {chapter: seconds} of those run here.
    """
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import nbformat  # noqa: PLC0415
    from jupyter_cache import get_cache  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415

    cache = get_cache(str(cache_dir(book_dir)))
    todo = []
    for path in toc_notebooks(book_dir):
        try:
            cache.match_cache_file(str(path))
        except KeyError:
            todo.append(path)
    if not todo:
        return {}
    log(f"Executing {len(todo)} chapter(s), {jobs} at a time ...")
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    kernel_env = {**os.environ, **(env or {})}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        kernel_env.setdefault(var, threads)
    (book_dir / "_build").mkdir(parents=True, exist_ok=True)
    kernels_log = open(book_dir / "_build" / "kernels.log", "w")  # noqa: SIM115 - closed below

    def run(path: Path):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        try:
            # No timing metadata: the cache hashes every cell's metadata, and Jupyter Book
            # must find this execution under the hash of the notebook as it is on disk.
            NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}},
                           kernel_name="python3", record_timing=False,
                           ).execute(env=kernel_env, stderr=kernels_log)
        except Exception:  # noqa: BLE001 - Jupyter Book runs it again and names the cell
            return path, None
        return path, (nb, time.perf_counter() - start)

    done = {}
    with kernels_log, ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, result in pool.map(run, todo):
            doc = path.relative_to(book_dir).with_suffix("").as_posix()
            if result is None:
                log(f"  {doc}: failed (executed again below to report the cell)")
                continue
            store_execution(path, result[0], result[1], book_dir)
            try:
                cache.match_cache_file(str(path))
            except KeyError:  # the notebook changed on disk while it ran
                log(f"  {doc}: changed while it ran (executed again below)")
                continue
            log(f"  {doc}: {result[1]:.1f} s")
            done[doc] = result[1]
    return done


# ---------------------------------------------------------------------------------------
# 3. Build
# ---------------------------------------------------------------------------------------
@dataclass
class BuildResult:
    """What a build did: exit status, which notebooks ran or came from the cache, failures."""

    returncode: int
    html_dir: Path
    seconds: float
    local_scripts: bool
    executed: dict[str, float] = field(default_factory=dict)  # docname -> seconds
    cached: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)         # one message per notebook
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


_DOC_LINE = re.compile(r"^(?P<path>/\S+?)(?:\.ipynb|\.md)?: (?P<msg>.*?)(?: \[mystnb[.\w]*\])?$")


def _parse_log(text: str, book_dir: Path) -> tuple[dict[str, float], list[str]]:
    """Read which notebooks myst-nb executed (with their times) and which it took from the cache."""
    executed: dict[str, float] = {}
    cached: list[str] = []
    for line in text.splitlines():
        m = _DOC_LINE.match(line.strip())
        if not m:
            continue
        try:
            doc = Path(m["path"]).resolve().relative_to(book_dir.resolve()).as_posix()
        except ValueError:
            continue
        msg = m["msg"]
        if msg.startswith("Using cached notebook"):
            cached.append(doc)
        elif msg.startswith("Executed notebook in"):
            executed[doc] = float(re.findall(r"[\d.]+", msg)[0])
    return executed, cached


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _worth_showing(line: str) -> bool:
    """Sphinx's own warnings and errors; not its progress chatter, nor the kernels' log lines
    (each kernel warns that it talks over local TCP without encryption)."""
    plain = _ANSI.sub("", line)
    if plain.startswith("[IPKernelApp]") or "KeyboardInterrupt caught in kernel" in plain:
        return False
    return ("WARNING:" in plain or "ERROR:" in plain or "CRITICAL:" in plain) and \
        "[mystnb" not in plain


def _locate_cell(notebook: Path, report: str) -> str:
    """Name the cell a CellExecutionError report is about: 'cell N' (counting code cells from 0)."""
    m = re.search(r"executing the following cell:\n-+\n(.*?)\n-+\n", report, re.S)
    if not m or not notebook.exists():
        return "an unknown cell"
    import nbformat  # noqa: PLC0415

    source = m.group(1).strip()
    nb = nbformat.read(notebook, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells):
        if cell.source.strip() == source:
            first = source.splitlines()[0] if source else ""
            return f"code cell {i} (starting {first!r})"
    return "a cell that was not found again in the notebook"


def _failures(book_dir: Path, html_dir: Path) -> list[str]:
    """One message per notebook that failed to execute, from myst-nb's reports folder."""
    reports = html_dir / "reports"
    messages = []
    for log_file in sorted(reports.rglob("*.err.log")) if reports.exists() else []:
        doc = log_file.relative_to(reports).as_posix()[: -len(".err.log")]
        notebook = book_dir / f"{doc}.ipynb"
        report = log_file.read_text(errors="replace")
        lines = [ln for ln in report.strip().splitlines() if ln.strip()]
        error = lines[-1] if lines else "(empty report)"
        messages.append(
            f"{notebook.relative_to(book_dir.parent) if notebook.is_relative_to(book_dir.parent) else notebook}: "
            f"{_locate_cell(notebook, report)} failed: {error}\n  full traceback: {log_file}"
        )
    return messages


def build_book(book_dir: Path = BOOK, *, use_cdn: bool = False, src: Path = NNKIT_SRC,
               quiet: bool = False, jobs: int = 2) -> BuildResult:
    """Build the book (see the module docstring). Never raises for a failed notebook:
    look at ``result.ok`` and ``result.failures``."""
    book_dir = Path(book_dir).resolve()
    log = (lambda *a, **k: None) if quiet else print
    start = time.perf_counter()

    local = False if use_cdn else install_vendor(book_dir, log=log)
    sync_cache_with_source(book_dir, src, log=log)
    # Chapters draw with the notebook's inline backend, whatever the caller uses, and their
    # explorers pre-render their frames; kernels inherit this environment.
    kernel_env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
                  EXPLORERS_VARIABLE: "static", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    pre_executed = execute_missing(book_dir, jobs=jobs, env=kernel_env, log=log) if jobs > 1 else {}
    html_dir = book_dir / "_build" / "html"
    shutil.rmtree(html_dir / "reports", ignore_errors=True)

    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(book_dir), "--all", "--builder", "html"]
    if not local:
        cmd += ["--config", str(cdn_config(book_dir))]
    env = {**os.environ, **kernel_env}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=book_dir.parent)
    lines = []
    assert proc.stdout is not None
    if not quiet:
        log("Rendering the pages ...")
    for line in proc.stdout:
        lines.append(line)
        if not quiet and _worth_showing(line):
            sys.stdout.write(line)
    returncode = proc.wait()
    text = "".join(lines)
    (book_dir / "_build").mkdir(parents=True, exist_ok=True)
    (book_dir / "_build" / "build.log").write_text(_ANSI.sub("", text))
    executed, cached = _parse_log(text, book_dir)
    for doc, seconds in pre_executed.items():
        executed[doc] = seconds
        if doc in cached:
            cached.remove(doc)
    failures = _failures(book_dir, html_dir)
    if "Executing notebook failed" in text and not failures:
        failures.append("a notebook failed to execute (see the log above)")
    if failures and returncode == 0:
        returncode = 1
    result = BuildResult(returncode, html_dir, time.perf_counter() - start, local,
                         executed, cached, failures, text)
    if failures:
        log("\nThese notebooks failed to execute:\n" + "\n".join(f"- {m}" for m in failures))
    elif returncode != 0:
        log("".join(lines[-40:]))
        log(f"\njupyter-book exited with status {returncode} (full log: "
            f"{book_dir / '_build' / 'build.log'}).")
    else:
        log(f"\nBuilt in {result.seconds:.0f} s ({len(executed)} chapter(s) executed, "
            f"{len(cached)} from the cache"
            + ("" if local else "; the pages load their scripts from CDNs") + "). "
            f"Open {html_dir / 'index.html'}")
    return result


def main(argv: list[str] | None = None, book_dir: Path = BOOK, src: Path = NNKIT_SRC) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdn", action="store_true",
                        help="do not install the browser scripts; let the pages load them from CDNs")
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    parser.add_argument("--jobs", type=int, default=2,
                        help="chapters executed at the same time (default 2)")
    args = parser.parse_args(argv)
    result = build_book(book_dir, use_cdn=args.cdn, src=src, jobs=args.jobs)
    if args.json:
        print(json.dumps({"ok": result.ok, "seconds": round(result.seconds, 2),
                          "executed": result.executed, "cached": result.cached,
                          "failures": result.failures, "local_scripts": result.local_scripts}))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
