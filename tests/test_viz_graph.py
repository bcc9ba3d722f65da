"""Drawing the computation graph recorded on a Tensor's tape (Lecture 6, §4.1)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnkit.autodiff import Tensor, no_grad, sin  # noqa: E402
from nnkit.viz.graph import draw_graph, trace_graph  # noqa: E402


def test_logistic_traces_to_neg_exp_add_div():
    z = Tensor(0.3, requires_grad=True, name="z")
    y = 1 / (1 + (-z).exp())
    g = trace_graph(y)
    assert g.ops() == ["neg", "exp", "add", "div"]
    kinds = {n.label: n.kind for n in g.nodes}
    assert kinds["z"] == "input" and kinds["1"] == "constant"
    # parents come before children, and every edge points forward
    assert all(a < b for a, b in g.edges)
    assert g.nodes[-1].tensor is y and len(g.edges) == 6
    # constants sit one layer before their operation
    for a, b in g.edges:
        if g.nodes[a].kind == "constant":
            assert g.nodes[a].depth == g.nodes[b].depth - 1


def test_shared_node_appears_once_with_three_children():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True, name="x")
    z = x * 2.0
    out = (sin(z) + z.exp() + z * z).sum()
    g = trace_graph(out)
    z_index = next(i for i, n in enumerate(g.nodes) if n.tensor is z)
    children = [b for a, b in g.edges if a == z_index]
    assert len(children) == 4  # sin, exp and both operands of z * z
    assert sum(n.tensor is x for n in g.nodes) == 1


def test_draw_returns_axes_with_one_box_per_node():
    w = Tensor(1.5, requires_grad=True, name="w")
    b = Tensor(-0.5, requires_grad=True, name="b")
    loss = ((w * 2.0 + b).sigmoid() - 1.0) ** 2
    loss.backward()
    ax = draw_graph(loss, show_grads=True, title="loss")
    g = trace_graph(loss)
    arrows = [t for t in ax.texts if isinstance(t, matplotlib.text.Annotation)]
    boxes = [t.get_text() for t in ax.texts if not isinstance(t, matplotlib.text.Annotation)]
    assert len(boxes) == len(g.nodes) and len(arrows) == len(g.edges)
    s = 1 / (1 + np.exp(-2.5))
    dw = 2 * (s - 1) * s * (1 - s) * 2.0  # d/dw (sigmoid(2w + b) - 1)^2 at w = 1.5, b = -0.5
    assert any(t.startswith("w") and f"grad {dw:.4g}" in t for t in boxes)
    assert ax.get_title() == "loss"
    plt.close("all")


def test_untraced_tensor_is_a_clear_error():
    with pytest.raises(ValueError, match="recorded no operations"):
        trace_graph(Tensor(1.0) * 2.0)
    x = Tensor(1.0, requires_grad=True)
    with no_grad():
        y = x * 2.0
    with pytest.raises(ValueError, match="requires_grad=True"):
        trace_graph(y)
    with pytest.raises(TypeError, match="expected a Tensor"):
        trace_graph(3.0)
