"""Sphinx extension for the nnkit book: pages that open without a console error, from a web
server or straight from the disk (file://).

- Jupyter Book always loads sphinx-thebe (live code cells on Binder), which the book turns off
  (``launch_buttons.thebe: false``); its configuration script still lands on every page, once
  per build pass, and a page that declares ``const THEBE_JS_URL`` twice logs an error. The
  scripts of sphinx-thebe are removed from pages that have thebe turned off.
- The theme's script reads the colour mode from the page and logs "Got invalid theme mode"
  when none is set: the book sets ``html_context["default_mode"]`` (light) unless the
  configuration names one.
- The theme preloads its icon fonts with ``<link rel="preload" crossorigin>``. A page opened
  from the disk has no origin, so the browser refuses these cross-origin loads (an error per
  font on every page). The icons do not need them (the theme draws them with its icon script,
  and its stylesheet still names the fonts), so the preload links are removed from the
  written pages.
"""
from __future__ import annotations

import re
from pathlib import Path

#: ``<link rel="preload" as="font" ... crossorigin ...>`` as the theme writes it.
FONT_PRELOAD = re.compile(r'[ \t]*<link rel="preload" as="font"[^>]*\bcrossorigin\b[^>]*>\n?')


def _is_thebe(script) -> bool:
    filename = getattr(script, "filename", None) or ""
    body = (getattr(script, "attributes", None) or {}).get("body", "")
    return filename.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body or "thebe@" in filename


def drop_thebe(app, pagename, templatename, context, doctree):
    if app.config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def set_default_mode(app, config):
    # The theme (pydata-sphinx-theme 0.15) reads the mode from the template context.
    if not config.html_context.get("default_mode"):
        config.html_context["default_mode"] = "light"


def drop_font_preloads(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = FONT_PRELOAD.sub("", text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def setup(app):
    app.connect("config-inited", set_default_mode)
    app.connect("html-page-context", drop_thebe, priority=900)
    app.connect("build-finished", drop_font_preloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
