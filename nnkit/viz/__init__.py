"""Figures and small plotting helpers used by the book's chapters.

- ``nnkit.viz.surfaces``: cost surfaces on a grid and gradient-descent paths across them
- ``nnkit.viz.explorer``: ``explore(plot, **controls)``, a plot with sliders that keeps moving
  in the built book (frames drawn at build time)
"""
from .explorer import checkbox, dropdown, explore, log_slider, slider

__all__ = ["checkbox", "dropdown", "explore", "log_slider", "slider"]
