"""Draw the computation graph that a Tensor's tape recorded (matplotlib only).

Every operation on tensors that need gradients leaves a node behind: the
output tensor knows its operation (``_op``), its parents (``_parents``) and its
vector-Jacobian product.  Walking the parents from a result back to the
leaves recovers the whole graph that ``backward()`` will traverse (Lecture 6,
§4.1, "Tracing the computation").

    >>> z = Tensor([0.5], requires_grad=True, name="z")
    >>> y = 1 / (1 + (-z).exp())
    >>> g = trace_graph(y)            # nodes and edges, leaves first
    >>> draw_graph(y)                 # boxes in layers, arrows from inputs to outputs
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnkit.autodiff import Tensor


@dataclass
class GraphNode:
    """One node: ``kind`` is "op", "input" (a leaf that needs a gradient) or "constant"."""

    tensor: Tensor
    label: str
    kind: str
    depth: int = 0
    parents: list = field(default_factory=list)   # indices into Graph.nodes


@dataclass
class Graph:
    """Nodes in topological order (every parent before its children) and edges (parent, child)."""

    nodes: list
    edges: list

    def ops(self) -> list[str]:
        """The operation names, in the order they were applied."""
        return [n.label for n in self.nodes if n.kind == "op"]


def _leaf_label(t: Tensor) -> str:
    if t.name:
        return t.name
    if t.size == 1:
        return f"{float(np.asarray(t.numpy()).reshape(-1)[0]):.4g}"
    return f"array {t.shape}"


def trace_graph(output: Tensor) -> Graph:
    """The graph recorded behind ``output``, leaves first.

    Raises ``ValueError`` if ``output`` recorded nothing (no input required a gradient).
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"trace_graph: expected a Tensor, got {type(output).__name__}")
    if output._op is None or not output._parents:
        raise ValueError("trace_graph: this tensor recorded no operations; create its inputs "
                         "with requires_grad=True and do not compute it under no_grad()")
    order, seen, stack = [], set(), [(output, False)]
    while stack:  # iterative post-order depth-first search: parents before children
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        for p in reversed(t._parents):
            if isinstance(p, Tensor) and id(p) not in seen:
                stack.append((p, False))
    position = {id(t): i for i, t in enumerate(order)}
    nodes, edges = [], []
    for t in order:
        if t._parents:
            kind, label = "op", t._op
        else:
            kind = "input" if t.requires_grad else "constant"
            label = _leaf_label(t)
        parents = [position[id(p)] for p in t._parents if isinstance(p, Tensor)]
        depth = 1 + max((nodes[i].depth for i in parents), default=-1)
        nodes.append(GraphNode(t, label, kind, depth, parents))
        edges.extend((i, len(nodes) - 1) for i in parents)
    for a, b in edges:  # draw each constant just left of the operation that uses it
        if nodes[a].kind == "constant":
            nodes[a].depth = max(nodes[a].depth, nodes[b].depth - 1)
    return Graph(nodes, edges)


_COLORS = {"op": "#fff2cc", "input": "#d5e8d4", "constant": "#eeeeee"}


def draw_graph(output: Tensor, ax=None, show_values: bool = True, show_grads: bool = False,
               horizontal: bool = True, title: str | None = None):
    """Draw the graph behind ``output``: leaves on the left, ``output`` on the right.

    Operations are yellow boxes, inputs that need a gradient green, constants grey.
    ``show_values`` writes each node's value under its label when it is a single
    number; ``show_grads`` writes ``.grad`` (of inputs, or of nodes that retained it).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    graph = trace_graph(output)
    layers: dict[int, list[int]] = {}
    for i, n in enumerate(graph.nodes):
        layers.setdefault(n.depth, []).append(i)
    width, height = len(layers), max(len(v) for v in layers.values())
    if ax is None:
        size = (1.7 * width + 1, 1.1 * height + 1) if horizontal else (1.8 * height + 1, 1.1 * width + 1)
        _, ax = plt.subplots(figsize=size)
    pos = {}
    for depth, members in layers.items():
        for k, i in enumerate(members):
            offset = k - (len(members) - 1) / 2
            pos[i] = (depth, -offset) if horizontal else (offset, -depth)
    for i, n in enumerate(graph.nodes):
        text = n.label
        t = n.tensor
        if show_values and n.kind != "constant" and t.size == 1:
            text += f"\n= {float(np.asarray(t.numpy()).reshape(-1)[0]):.4g}"
        if show_grads and t.grad is not None and np.size(t.grad) == 1:
            text += f"\ngrad {float(np.asarray(t.grad).reshape(-1)[0]):.4g}"
        ax.text(*pos[i], text, ha="center", va="center", fontsize=9, zorder=3,
                bbox=dict(boxstyle="round,pad=0.35", fc=_COLORS[n.kind], ec="0.3"))
    for a, b in graph.edges:  # arrows start and end on a box of half-size (0.3, 0.22) around each node
        (x0, y0), (x1, y1) = pos[a], pos[b]
        dx, dy = x1 - x0, y1 - y0
        cut = min(0.3 / abs(dx) if dx else np.inf, 0.22 / abs(dy) if dy else np.inf)
        ax.annotate("", xy=(x1 - cut * dx, y1 - cut * dy), xytext=(x0 + cut * dx, y0 + cut * dy),
                    zorder=2, arrowprops=dict(arrowstyle="-|>", color="0.35", lw=1.1,
                                              shrinkA=0, shrinkB=0, mutation_scale=12))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
