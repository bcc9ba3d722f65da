"""nnkit.viz.explorer: controls, the grid of pre-rendered frames, the page fragment, live mode.

The frames' JavaScript is exercised in a real browser by tests/test_browser.py.
"""
import base64
import io
import itertools
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from nnkit.viz import explorer as ex  # noqa: E402


@pytest.fixture
def static(monkeypatch):
    monkeypatch.setenv(ex.MODE_VARIABLE, "static")


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv(ex.MODE_VARIABLE, raising=False)


# ------------------------------------------------------------------------------------------
# Controls
# ------------------------------------------------------------------------------------------
def test_float_slider_positions_readouts_and_start():
    c = ex.slider(0.25, 5.0, 0.25, value=1.0, label="slope k")
    assert c.kind == "slider" and len(c.positions) == 20
    assert c.positions[0] == 0.25 and c.positions[-1] == 5.0 and c.positions[7] == 2.0
    assert c.value == 1.0 and c.start == 3
    assert c.names[:4] == ("0.25", "0.50", "0.75", "1.00")


def test_int_slider_from_a_tuple_takes_the_function_default():
    def f(steps=30):
        pass

    c = ex._controls(f, {"steps": (10, 120, 10)})["steps"]
    assert c.positions == tuple(range(10, 121, 10)) and c.value == 30
    assert all(isinstance(v, int) for v in c.positions) and c.names[0] == "10"


def test_float_tuple_defaults_to_a_hundredth_step_like_ipywidgets():
    c = ex.as_control((0.0, 1.0))
    assert len(c.positions) == 101 and c.positions[37] == pytest.approx(0.37)


def test_log_slider_positions_and_an_off_grid_start_value():
    c = ex.log_slider(-3, -1, 0.5, value=0.035)
    grid = [10.0 ** e for e in (-3, -2.5, -2, -1.5, -1)]
    assert c.value == 0.035
    assert [v for v in c.positions if v != 0.035] == pytest.approx(grid)
    assert c.positions[c.start - 1] < 0.035 < c.positions[c.start + 1]  # kept in order
    assert c.names[c.start] == "0.035"


def test_dropdown_checkbox_and_shorthands():
    d = ex.as_control({"logistic": "sig", "ReLU": "relu"}, default="relu")
    assert d.kind == "dropdown" and d.positions == ("sig", "relu") and d.names == ("logistic", "ReLU")
    assert d.value == "relu"
    assert ex.as_control(["a", "b", "c"]).value == "a"
    assert ex.as_control(True).value is True and ex.as_control(False, default=True).value is True
    given = ex.dropdown(["x", "y"])
    assert ex.as_control(given, default="y").value == "y"        # no value=: the default
    assert ex.as_control(ex.dropdown(["x", "y"], value="x"), default="y").value == "x"


def test_bad_controls_are_named():
    with pytest.raises(ValueError, match="outside"):
        ex.slider(0, 10, 1, value=11)
    with pytest.raises(ValueError, match="not one of the options"):
        ex.dropdown(["a"], value="b")
    with pytest.raises(TypeError, match="cannot make a control"):
        ex.as_control("text")

    def f(a=1):
        pass

    with pytest.raises(TypeError, match="no parameter named 'b'"):
        ex._controls(f, {"b": (0, 1)})


# ------------------------------------------------------------------------------------------
# The grid the page keeps
# ------------------------------------------------------------------------------------------
def test_spread_keeps_both_ends_and_the_start():
    assert ex.spread(5, 2, 10) == [0, 1, 2, 3, 4]
    kept = ex.spread(101, 37, 6)
    assert len(kept) == 6 and kept[0] == 0 and kept[-1] == 100 and 37 in kept
    gaps = np.diff([k for k in kept if k != 37])
    assert gaps.max() - gaps.min() <= 21  # evenly spread apart from the start


@pytest.mark.parametrize("sizes, categorical, frames", [
    ([20], [False], 48), ([101, 41], [False, False], 48), ([4, 2, 33], [True, True, False], 48),
    ([3, 3, 13, 17, 500], [False] * 5, 48),
])
def test_allocate_stays_within_the_budget_and_keeps_every_option(sizes, categorical, frames):
    counts = ex.allocate(sizes, categorical, frames)
    assert int(np.prod(counts)) <= frames
    for n, c, cat in zip(sizes, counts, categorical):
        assert c == n if cat else 2 <= c <= n
    # No slider could keep one more position without breaking the budget.
    for i, (n, c, cat) in enumerate(zip(sizes, counts, categorical)):
        if not cat and c < n:
            assert int(np.prod(counts)) // c * (c + 1) > frames


def test_a_slider_that_starts_inside_keeps_three_positions():
    controls = ex._controls(_bar, {"a": (0, 10), "b": (0.0, 2.0, 0.5)})  # starts 1 and 0.5
    frames = ex.render_frames(_bar, controls, frames=9)
    assert frames.kept == {"a": [0, 1, 10], "b": [0, 1, 4]} and len(frames.table) == 9


def test_allocate_refuses_too_many_options():
    with pytest.raises(ValueError, match="raise frames"):
        ex.allocate([2] * 6, [True] * 6, 48)


# ------------------------------------------------------------------------------------------
# Frames
# ------------------------------------------------------------------------------------------
def _bar(a=1, b=0.5, kind="x", on=True):
    print(a, b, kind, on)
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0], [a + b])
    ax.set_ylim(0, 12)
    ax.set_title(f"{kind} {on} {a + b:.3f}")
    plt.show()


def test_every_combination_is_drawn_in_order_with_its_printed_text():
    controls = ex._controls(_bar, {"a": (0, 10), "b": ex.log_slider(-2, 0, 0.5),
                                   "kind": ["x", "y"], "on": True})
    frames = ex.render_frames(_bar, controls, frames=40)
    names = list(controls)
    kept_values = [[controls[n].positions[i] for i in frames.kept[n]] for n in names]
    combos = list(itertools.product(*kept_values))
    assert len(frames.table) == len(combos) <= 40
    for row, combo in zip(frames.table, combos):
        assert frames.texts[row[1]] == " ".join(map(str, combo)) + "\n"
    # Bars of different heights or titles give different pictures; equal ones are stored once.
    heights_titles = {(f"{a + b:.3f}", k, o) for a, b, k, o in combos}
    assert len(frames.images) == len(heights_titles)
    assert plt.get_fignums() == []  # nothing left open for the notebook to show
    start = frames.start()
    assert [kept_values[i][start[n]] for i, n in enumerate(names)] == [1, 0.5, "x", True]


def test_frames_are_small_palette_pngs_with_a_white_background():
    frames = ex.render_frames(_bar, ex._controls(_bar, {"a": (0, 10, 5)}))
    for png in frames.images:
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.mode == "P"
        assert img.convert("RGB").getpixel((1, 1)) == (255, 255, 255)
        assert len(png) < 8000


def test_a_control_that_changes_nothing_is_refused_in_static_mode(static):
    def ignores_b(a=1.0, b=0):
        plt.plot([0, a])
        plt.show()

    with pytest.raises(ValueError, match="moving 'b' never changes"):
        ex.explorer(ignores_b, a=(0.0, 2.0, 0.5), b=(0, 3))


def test_several_figures_become_one_picture():
    def figures(n=1, count=1):
        for _ in range(count):
            plt.figure(figsize=(2, 1))
            plt.plot([0, n])
            plt.show()

    def height(count):
        frames = ex.render_frames(figures, ex._controls(figures, {"n": (1, 3), "count": [count]}))
        assert len(frames.images) == 3  # one picture per value of n, whatever the count
        return Image.open(io.BytesIO(frames.images[0])).height

    assert height(2) == 2 * height(1)


# ------------------------------------------------------------------------------------------
# The page fragment
# ------------------------------------------------------------------------------------------
def _payload(fragment):
    m = re.search(r'<script type="application/json" class="nnkit-explorer-data">(.*?)</script>',
                  fragment, re.S)
    return json.loads(m.group(1))


def test_html_has_one_input_per_control_and_starts_at_the_start_frame(static):
    made = ex.explorer(_bar, a=(0, 10), kind={"X": "x", "Y": "y"}, on=ex.checkbox(False))
    fragment = ex.to_html(made)
    data = _payload(fragment)
    sizes = [len(made.kept[n]) for n in made.controls]
    assert data["sizes"] == sizes and len(data["table"]) == int(np.prod(sizes))
    ranges = re.findall(r'<input type="range" data-control="0" min="0" max="(\d+)" step="1" '
                        r'value="(\d+)"', fragment)
    assert ranges == [(str(sizes[0] - 1), str(made.start()["a"]))]
    assert re.findall(r"<option[^>]*>(\w)</option>", fragment) == ["X", "Y"]
    assert 'type="checkbox" data-control="2">' in fragment  # starts unchecked
    shown = re.search(r'<img class="nnkit-explorer-frame"[^>]*src="data:image/png;base64,([^"]+)"',
                      fragment).group(1)
    row = data["table"][made.combination(made.start())]
    assert shown == data["images"][row[0]]
    assert data["texts"][row[1]] == "1 0.5 x False\n"
    assert base64.b64decode(shown)[:8] == b"\x89PNG\r\n\x1a\n"


def test_explore_shows_html_and_returns_nothing(static, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    assert ex.explore(_bar, a=(0, 4)) is None
    (bundle, raw), = shown
    assert raw and set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/html"].startswith('<div class="nnkit-explorer"')
    assert bundle["text/plain"].startswith("Explorer of _bar: a (5 positions)")


# ------------------------------------------------------------------------------------------
# Live mode: an ordinary ipywidgets explorer
# ------------------------------------------------------------------------------------------
def test_live_mode_builds_ipywidgets_and_hides_the_return_value(live):
    import ipywidgets as widgets

    calls = []

    def f(a=2, b=0.5, lr=0.01, kind="y", on=True):
        calls.append((a, b, lr, kind, on))
        return "a value that must not be shown"

    w = ex.explorer(f, a=(0, 10), b=ex.slider(0.0, 1.0, 0.25, label="bias"),
                    lr=ex.log_slider(-3, -1, 0.1), kind=["x", "y"], on=ex.checkbox())
    assert isinstance(w, widgets.interactive)
    kinds = [type(c).__name__ for c in w.kwargs_widgets]
    assert kinds == ["IntSlider", "FloatSlider", "FloatLogSlider", "Dropdown", "Checkbox"]
    assert [c.value for c in w.kwargs_widgets] == [2, 0.5, pytest.approx(0.01), "y", True]
    assert w.kwargs_widgets[1].description == "bias" and w.kwargs_widgets[0].description == "a"
    assert w.kwargs_widgets[2].min == -3 and w.kwargs_widgets[2].base == 10
    w.kwargs_widgets[0].value = 7
    assert calls[-1] == (7, 0.5, pytest.approx(0.01), "y", True)
    assert w.result is None
