"""Figures and small plotting helpers used by the book's chapters.

- ``nnkit.viz.surfaces``: cost surfaces on a grid and gradient-descent paths across them
"""
