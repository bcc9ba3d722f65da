"""Explorers: a plot with controls that redraws as the reader moves them, in a notebook and in
the built book alike.

    from nnkit.viz import explore, slider, log_slider, dropdown

    def show(k=1.0, kind="logistic"):
        ...draw one figure with matplotlib, then plt.show()

    explore(show, k=slider(0.25, 5.0, 0.25, label="slope k"), kind=["logistic", "tanh"])

In a running kernel ``explore`` shows an ordinary ipywidgets explorer (``widgets.interactive``):
each move of a control calls ``show`` again. A static web page has no kernel to call, so when
the book is built (the environment variable ``NNKIT_EXPLORERS=static``, which ``book/build.py``
and the test session set) ``explore`` instead calls ``show`` once for every point of a small
grid of the controls' values, keeps each drawing as a compressed PNG, and writes HTML whose few
lines of JavaScript swap the pictures as the reader moves the controls: no kernel, no network.

Controls, as keyword arguments named after ``show``'s parameters:

- ``slider(min, max, step)``, ``log_slider(min_exponent, max_exponent, step)``,
  ``dropdown(options)``, ``checkbox()``, each with an optional ``value=`` and ``label=``;
- or ipywidgets' ``interact`` shorthands: a tuple ``(min, max[, step])`` is a slider, a list or a
  dict is a dropdown, a bool is a checkbox. A control's start value is its ``value=``, else
  ``show``'s default for that parameter.

The built page offers at most ``frames`` combinations (24 by default): a dropdown or a checkbox
keeps every option, and the sliders share what is left, each keeping its two ends and its start
value and stepping evenly in between. Text that ``show`` prints is kept with its picture;
what ``show`` returns is never shown.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import inspect
import io
import itertools
import json
import math
import os
import uuid
from dataclasses import dataclass, field, replace

import numpy as np

#: The environment variable that switches explorers to pre-rendered frames.
MODE_VARIABLE = "NNKIT_EXPLORERS"
DEFAULT_FRAMES = 24
#: Colours kept per frame: plots use few, and a palette PNG is several times smaller.
PALETTE_COLORS = 96


# ------------------------------------------------------------------------------------------
# Controls
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    """One control: every value it can take (``positions``, in order) and where it starts.

    ``kind`` is ``"slider"``, ``"log_slider"``, ``"dropdown"`` or ``"checkbox"``; ``names``
    are the texts shown for each position (a slider's readout, a dropdown's option).
    """

    kind: str
    positions: tuple
    start: int                 # index into positions
    names: tuple[str, ...]
    label: str | None = None
    spec: dict = field(default_factory=dict, compare=False)  # what the live widget needs

    @property
    def value(self):
        return self.positions[self.start]

    def widget(self, name: str):
        """The ipywidgets control that stands for this one in a running kernel."""
        import ipywidgets as widgets  # noqa: PLC0415 - only needed with a kernel

        description = self.label or name
        if self.kind == "checkbox":
            return widgets.Checkbox(value=bool(self.value), description=description, indent=False)
        if self.kind == "dropdown":
            return widgets.Dropdown(options=list(zip(self.names, self.positions)),
                                    value=self.value, description=description)
        s = self.spec
        if self.kind == "log_slider":
            return widgets.FloatLogSlider(value=self.value, base=s["base"], min=s["min"],
                                          max=s["max"], step=s["step"], description=description,
                                          continuous_update=False)
        cls = widgets.IntSlider if s["integer"] else widgets.FloatSlider
        return cls(value=self.value, min=s["min"], max=s["max"], step=s["step"],
                   description=description, continuous_update=False)


def _steps(lo: float, hi: float, step: float) -> np.ndarray:
    if not step > 0 or hi < lo:
        raise ValueError(f"slider: need min <= max and step > 0, got min={lo}, max={hi}, step={step}")
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    return lo + step * np.arange(n)


def _with_start(values: list, start) -> tuple[list, int]:
    """Put ``start`` among sorted ``values`` (if it is not already there); its index."""
    for i, v in enumerate(values):
        if math.isclose(v, start, rel_tol=1e-9, abs_tol=1e-12):
            return values, i
    values = sorted([*values, start])
    return values, values.index(start)


def slider(min: float, max: float, step: float | None = None, *, value: float | None = None,
           label: str | None = None) -> Control:
    """A slider over ``min, min + step, ..., max``; integers when all three are ints.

    ``step`` defaults to 1 for integers and ``(max - min) / 100`` otherwise, as in ipywidgets.
    """
    given = value is not None
    integer = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                  for v in (min, max, step if step is not None else 1))
    if step is None:
        step = 1 if integer else (max - min) / 100
    values = [int(round(v)) if integer else float(round(v, 12)) for v in _steps(min, max, step)]
    if value is None:
        value = values[len(values) // 2]
    if not min <= value <= max:
        raise ValueError(f"slider: value {value} lies outside [{min}, {max}]")
    values, start = _with_start(values, int(value) if integer else float(value))
    names = tuple(str(v) if integer else f"{v:.2f}" for v in values)
    return Control("slider", tuple(values), start, names, label,
                   dict(min=min, max=max, step=step, integer=integer, value_given=given))


def log_slider(min: float, max: float, step: float = 0.1, *, value: float | None = None,
               base: float = 10.0, label: str | None = None) -> Control:
    """A slider over ``base ** e`` for ``e = min, min + step, ..., max`` (ipywidgets' FloatLogSlider)."""
    given = value is not None
    values = [float(base ** e) for e in _steps(min, max, step)]
    if value is None:
        value = values[len(values) // 2]
    if not base ** min * (1 - 1e-9) <= value <= base ** max * (1 + 1e-9):
        raise ValueError(f"log_slider: value {value} lies outside [{base}**{min}, {base}**{max}]")
    values, start = _with_start(values, float(value))
    names = tuple(f"{v:.3g}" for v in values)
    return Control("log_slider", tuple(values), start, names, label,
                   dict(min=min, max=max, step=step, base=base, value_given=given))


def dropdown(options, *, value=None, label: str | None = None) -> Control:
    """A choice among ``options``: a list of values, or a dict {shown name: value}."""
    if isinstance(options, dict):
        names, values = [str(k) for k in options], list(options.values())
    else:
        values = list(options)
        names = [str(v) for v in values]
    if not values:
        raise ValueError("dropdown: no options")
    start = 0 if value is None else next((i for i, v in enumerate(values) if v == value), None)
    if start is None:
        raise ValueError(f"dropdown: value {value!r} is not one of the options {names}")
    return Control("dropdown", tuple(values), start, tuple(names), label,
                   dict(value_given=value is not None))


def checkbox(value: bool | None = None, *, label: str | None = None) -> Control:
    """An on/off control (off unless ``value`` or the function's default says otherwise)."""
    return Control("checkbox", (False, True), int(bool(value)), ("off", "on"), label,
                   dict(value_given=value is not None))


def as_control(abbrev, default=inspect.Parameter.empty) -> Control:
    """A :class:`Control` from a control or an ``interact`` shorthand. ``default`` (the function's
    default for the parameter) is where the control starts when it was given no ``value=``."""
    has_default = default is not inspect.Parameter.empty
    if isinstance(abbrev, Control):
        if not has_default or abbrev.spec.get("value_given", True):
            return abbrev
        s = abbrev.spec
        if abbrev.kind == "slider":
            return slider(s["min"], s["max"], s["step"], value=default, label=abbrev.label)
        if abbrev.kind == "log_slider":
            return log_slider(s["min"], s["max"], s["step"], value=default, base=s["base"],
                              label=abbrev.label)
        if abbrev.kind == "dropdown":
            return dropdown(dict(zip(abbrev.names, abbrev.positions)), value=default,
                            label=abbrev.label)
        return checkbox(bool(default), label=abbrev.label)
    if isinstance(abbrev, bool):
        return checkbox(bool(default) if has_default else abbrev)
    if isinstance(abbrev, tuple) and 2 <= len(abbrev) <= 3 and all(
            isinstance(v, (int, float, np.integer, np.floating)) for v in abbrev):
        make = lambda value: slider(*abbrev, value=value)  # noqa: E731
    elif isinstance(abbrev, (list, dict)):
        make = lambda value: dropdown(abbrev, value=value)  # noqa: E731
    else:
        raise TypeError(f"explore: cannot make a control from {abbrev!r} (use slider(), "
                        "log_slider(), dropdown(), checkbox(), a (min, max, step) tuple, a list "
                        "or a bool)")
    if has_default:
        with contextlib.suppress(ValueError):  # as interact does, skip a default out of range
            return make(default)
    return make(None)


def _controls(func, given: dict) -> dict[str, Control]:
    params = inspect.signature(func).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [name for name in given if name not in params and not takes_any]
    if unknown:
        raise TypeError(f"explore({getattr(func, '__name__', func)}): no parameter named "
                        f"{', '.join(map(repr, unknown))}; it takes {list(params)}")
    if not given:
        raise TypeError("explore: give at least one control")
    return {name: as_control(abbrev, params[name].default if name in params
                             else inspect.Parameter.empty)
            for name, abbrev in given.items()}


# ------------------------------------------------------------------------------------------
# Which positions the built page offers
# ------------------------------------------------------------------------------------------
def spread(n: int, start: int, k: int) -> list[int]:
    """``k`` of the indices ``0 .. n-1`` (all of them when ``k >= n``), evenly spread, always
    with both ends and ``start``."""
    if k >= n:
        return list(range(n))
    chosen = {int(round(i)) for i in np.linspace(0, n - 1, max(k, 2))}
    if start not in chosen:
        nearest = min((i for i in chosen if i not in (0, n - 1)), key=lambda i: abs(i - start),
                      default=None)
        if nearest is not None and len(chosen) >= k:
            chosen.discard(nearest)
        chosen.add(start)
    return sorted(chosen)


def allocate(sizes: list[int], categorical: list[bool], frames: int,
             least: list[int] | None = None) -> list[int]:
    """How many positions each control keeps so that their product stays within ``frames``.

    Dropdowns and checkboxes (``categorical``) keep all their options; a slider keeps at least
    ``least`` positions (2, or 3 when it starts between its ends) and the sliders then grow in
    turn, the one with the fewest first, while the product fits.
    """
    least = least or [2] * len(sizes)
    counts = [n if cat else min(n, low) for n, cat, low in zip(sizes, categorical, least)]
    if math.prod(counts) > frames:
        raise ValueError(f"explore: {math.prod(counts)} combinations are needed at the least "
                         f"(options {sizes}), more than frames={frames}; raise frames or use fewer "
                         "controls")
    while True:
        growable = [i for i, (c, n, cat) in enumerate(zip(counts, sizes, categorical))
                    if not cat and c < n and math.prod(counts) // c * (c + 1) <= frames]
        if not growable:
            return counts
        i = min(growable, key=lambda j: (counts[j], -sizes[j]))
        counts[i] += 1


# ------------------------------------------------------------------------------------------
# Drawing the frames
# ------------------------------------------------------------------------------------------
def _compress_png(png: bytes) -> bytes:
    """A palette PNG of the picture (at most PALETTE_COLORS colours, no dithering)."""
    from PIL import Image  # noqa: PLC0415 - Pillow comes with matplotlib

    img = Image.open(io.BytesIO(png)).convert("RGB")
    small = img.quantize(colors=PALETTE_COLORS, method=Image.Quantize.MEDIANCUT,
                         dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _stack(pngs: list[bytes]) -> bytes:
    """Several pictures one below the other, as one PNG."""
    from PIL import Image  # noqa: PLC0415

    if len(pngs) == 1:
        return pngs[0]
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    width = max(i.width for i in images)
    canvas = Image.new("RGB", (width, sum(i.height for i in images)), "white")
    y = 0
    for img in images:
        canvas.paste(img, ((width - img.width) // 2, y))
        y += img.height
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


@contextlib.contextmanager
def _figures_drawn():
    """Collect, as PNG bytes, every figure opened inside the block (``plt.show`` included),
    and close them, so that nothing reaches the notebook's output."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    before = set(plt.get_fignums())
    pngs: list[bytes] = []

    def save_new():
        for num in plt.get_fignums():
            if num in before:
                continue
            fig = plt.figure(num)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
            pngs.append(buf.getvalue())
            plt.close(fig)

    original_show = plt.show
    plt.show = lambda *args, **kwargs: save_new()
    try:
        yield pngs
        save_new()
    finally:
        plt.show = original_show
        for num in set(plt.get_fignums()) - before:
            plt.close(num)


def draw_frame(func, kwargs: dict) -> tuple[bytes | None, str]:
    """Call ``func(**kwargs)``; the compressed PNG of what it drew (None if nothing) and the
    text it printed."""
    text = io.StringIO()
    with _figures_drawn() as pngs, contextlib.redirect_stdout(text):
        func(**kwargs)
    return (_compress_png(_stack(pngs)) if pngs else None), text.getvalue()


@dataclass
class Frames:
    """The pre-rendered explorer: for each control its kept positions, and for every
    combination (first control varying slowest) an index into ``images`` and ``texts``."""

    name: str
    controls: dict[str, Control]
    kept: dict[str, list[int]]          # control name -> indices into its positions
    table: list[tuple[int, int]]        # combination -> (image index or -1, text index)
    images: list[bytes]
    texts: list[str]

    def start(self) -> dict[str, int]:
        """Where each control starts, as an index into its kept positions."""
        return {n: self.kept[n].index(c.start) for n, c in self.controls.items()}

    def combination(self, indices: dict[str, int]) -> int:
        """The row of ``table`` for kept-position ``indices`` (a dict over every control)."""
        row = 0
        for name in self.controls:
            row = row * len(self.kept[name]) + indices[name]
        return row

    def dead_controls(self) -> list[str]:
        """Controls whose moving never changes the picture or the text, from any combination."""
        names = list(self.controls)
        sizes = [len(self.kept[n]) for n in names]
        dead = []
        for i, name in enumerate(names):
            changes = False
            for combo in itertools.product(*(range(s) for s in sizes)):
                if combo[i] + 1 < sizes[i]:
                    a = self.combination(dict(zip(names, combo)))
                    moved = list(combo)
                    moved[i] += 1
                    if self.table[a] != self.table[self.combination(dict(zip(names, moved)))]:
                        changes = True
                        break
            if not changes:
                dead.append(name)
        return dead


def render_frames(func, controls: dict[str, Control], frames: int = DEFAULT_FRAMES) -> Frames:
    """Draw ``func`` at every combination of the controls' kept positions (see ``allocate``)."""
    names = list(controls)
    counts = allocate([len(c.positions) for c in controls.values()],
                      [c.kind in ("dropdown", "checkbox") for c in controls.values()], frames,
                      [3 if 0 < c.start < len(c.positions) - 1 else 2 for c in controls.values()])
    kept = {n: spread(len(controls[n].positions), controls[n].start, k)
            for n, k in zip(names, counts)}
    images: list[bytes] = []
    texts: list[str] = []
    seen_images: dict[str, int] = {}
    seen_texts: dict[str, int] = {}
    table = []
    for combo in itertools.product(*(kept[n] for n in names)):
        kwargs = {n: controls[n].positions[i] for n, i in zip(names, combo)}
        png, text = draw_frame(func, kwargs)
        image_index = -1
        if png is not None:
            key = hashlib.sha1(png).hexdigest()
            if key not in seen_images:
                seen_images[key] = len(images)
                images.append(png)
            image_index = seen_images[key]
        if text not in seen_texts:
            seen_texts[text] = len(texts)
            texts.append(text)
        table.append((image_index, seen_texts[text]))
    return Frames(getattr(func, "__name__", "explorer"), controls, kept, table, images, texts)


# ------------------------------------------------------------------------------------------
# The page: HTML controls and a few lines of JavaScript
# ------------------------------------------------------------------------------------------
#: Swaps the frame when a control moves. It runs once per explorer, right after its markup.
SWAP_JS = """\
(function () {
  var root = document.currentScript.parentElement;
  var data = JSON.parse(root.querySelector("script.nnkit-explorer-data").textContent);
  var inputs = Array.prototype.slice.call(root.querySelectorAll("[data-control]"));
  var img = root.querySelector("img.nnkit-explorer-frame");
  var text = root.querySelector("pre.nnkit-explorer-text");
  function position(el) { return el.type === "checkbox" ? (el.checked ? 1 : 0) : Number(el.value); }
  function update() {
    var row = 0;
    inputs.forEach(function (el, i) {
      var at = position(el);
      row = row * data.sizes[i] + at;
      var out = el.parentElement.querySelector("output");
      if (out) { out.textContent = data.readouts[i][at]; }
    });
    var frame = data.table[row];
    if (img && frame[0] >= 0) {
      img.src = "data:image/png;base64," + data.images[frame[0]];
      img.alt = root.getAttribute("data-name") + ": " + inputs.map(function (el, i) {
        return data.labels[i] + " " + data.readouts[i][position(el)]; }).join(", ");
    }
    if (text) { text.textContent = data.texts[frame[1]]; }
  }
  inputs.forEach(function (el) {
    el.addEventListener("input", update);
    el.addEventListener("change", update);
  });
  update();
})();
"""

CSS = ("display:flex;flex-wrap:wrap;gap:0.3em 1.2em;align-items:center;margin:0.3em 0 0.5em;"
       "font-size:0.9em")


def _control_html(i: int, name: str, control: Control, kept: list[int], at: int) -> str:
    label = html.escape(control.label or name)
    if control.kind == "checkbox":
        checked = " checked" if kept[at] == 1 else ""
        return (f'<label><input type="checkbox" data-control="{i}"{checked}> {label}</label>')
    if control.kind == "dropdown":
        options = "".join(
            f'<option value="{j}"{" selected" if j == at else ""}>{html.escape(control.names[p])}</option>'
            for j, p in enumerate(kept))
        return f'<label>{label} <select data-control="{i}">{options}</select></label>'
    readout = html.escape(control.names[kept[at]])
    return (f'<label>{label} <input type="range" data-control="{i}" min="0" max="{len(kept) - 1}" '
            f'step="1" value="{at}" style="vertical-align:middle"> <output>{readout}</output></label>')


def to_html(frames: Frames) -> str:
    """The explorer as a self-contained HTML fragment (controls, picture, data, script)."""
    names = list(frames.controls)
    start = frames.start()
    first = frames.table[frames.combination(start)]
    data = {
        "sizes": [len(frames.kept[n]) for n in names],
        "labels": [frames.controls[n].label or n for n in names],
        "readouts": [[frames.controls[n].names[p] for p in frames.kept[n]] for n in names],
        "table": frames.table,
        "images": [base64.b64encode(png).decode("ascii") for png in frames.images],
        "texts": frames.texts,
    }
    controls = "".join(_control_html(i, n, frames.controls[n], frames.kept[n], start[n])
                       for i, n in enumerate(names))
    has_text = any(t.strip() for t in frames.texts)
    text = (f'<pre class="nnkit-explorer-text">{html.escape(frames.texts[first[1]])}</pre>'
            if has_text else "")
    image = ""
    if first[0] >= 0:
        image = (f'<img class="nnkit-explorer-frame" style="max-width:100%" alt="{html.escape(frames.name)}" '
                 f'src="data:image/png;base64,{data["images"][first[0]]}">')
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    uid = uuid.uuid4().hex[:8]
    return (f'<div class="nnkit-explorer" id="nnkit-explorer-{uid}" data-name="{html.escape(frames.name)}">'
            f'<div class="nnkit-explorer-controls" style="{CSS}">{controls}</div>{text}{image}'
            f'<script type="application/json" class="nnkit-explorer-data">{payload}</script>'
            f"<script>\n{SWAP_JS}</script></div>")


# ------------------------------------------------------------------------------------------
# The entry point
# ------------------------------------------------------------------------------------------
def static_mode() -> bool:
    """True when explorers are drawn as pre-rendered frames (the book build and its tests)."""
    return os.environ.get(MODE_VARIABLE, "").strip().lower() == "static"


def _call_without_result(func):
    def call(**kwargs):
        func(**kwargs)  # an explorer shows what func draws and prints, never what it returns
    call.__name__ = getattr(func, "__name__", "explorer")
    return call


def explorer(func, *, frames: int = DEFAULT_FRAMES, **controls):
    """The explorer for ``func`` without showing it: an ``ipywidgets.interactive`` in a kernel,
    a :class:`Frames` in static mode (see the module docstring)."""
    parsed = _controls(func, controls)
    if static_mode():
        rendered = render_frames(func, parsed, frames)
        dead = rendered.dead_controls()
        if dead:
            raise ValueError(f"explore({rendered.name}): moving {', '.join(map(repr, dead))} never "
                             "changes the picture or the printed text at the positions kept for "
                             "the built page")
        return rendered
    import ipywidgets as widgets  # noqa: PLC0415

    return widgets.interactive(_call_without_result(func),
                               **{name: c.widget(name) for name, c in parsed.items()})


def explore(func, *, frames: int = DEFAULT_FRAMES, **controls) -> None:
    """Show an explorer of ``func``: one control per keyword argument (see the module docstring).

    Returns None, so a cell that ends with this call shows the explorer and nothing else.
    """
    from IPython.display import display  # noqa: PLC0415

    made = explorer(func, frames=frames, **controls)
    if isinstance(made, Frames):
        summary = ", ".join(f"{c.label or n} ({len(made.kept[n])} positions)"
                            for n, c in made.controls.items())
        display({"text/html": to_html(made), "text/plain": f"Explorer of {made.name}: {summary}"},
                raw=True)
    else:
        display(made)
