"""Loss functions, each a scalar Tensor averaged over the batch (``reduction="mean"``).

Every loss that takes logits works in log space so that large scores never
overflow: log sigma(z) = -softplus(-z) and log softmax = z - logsumexp(z).
(Lecture 2.3, "Training a classifier"; the neural-nets notes, "Cost functions";
hacker's guide ch. 2, "Loss functions".)
"""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import Tensor, ops


def _t(x, like=None) -> Tensor:
    t = x if isinstance(x, Tensor) else Tensor(x)
    if like is not None and t.data.dtype != like.data.dtype and t.data.dtype.kind in "fiub" and not t.requires_grad:
        t = Tensor(t.data.astype(like.data.dtype))
    return t


def _reduce(per_example: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(name, pred, target):
    if pred.shape != target.shape:
        raise ValueError(f"{name}: predictions have shape {pred.shape} but targets have shape {target.shape}")


def mse(pred, target, reduction="mean") -> Tensor:
    """Mean squared error: mean (y - t)^2."""
    pred = _t(pred)
    target = _t(target, pred)
    _same_shape("mse", pred, target)
    d = pred - target
    return _reduce(d * d, reduction)


def l1(pred, target, reduction="mean") -> Tensor:
    """Mean absolute error: mean |y - t|."""
    pred = _t(pred)
    target = _t(target, pred)
    _same_shape("l1", pred, target)
    return _reduce(ops.abs(pred - target), reduction)


def huber(pred, target, delta=1.0, reduction="mean") -> Tensor:
    """Huber loss: d^2 / 2 for |d| <= delta, delta (|d| - delta / 2) beyond (quadratic near 0, linear in the tails)."""
    pred = _t(pred)
    target = _t(target, pred)
    _same_shape("huber", pred, target)
    d = pred - target
    a = ops.abs(d)
    quad = d * d * 0.5
    lin = (a - delta / 2) * delta
    return _reduce(ops.where(a.data <= delta, quad, lin), reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean") -> Tensor:
    """-[t log sigma(z) + (1 - t) log(1 - sigma(z))] = softplus(z) - t z, stable for any z.

    Shapes: logits and targets (N,) or (N, 1), targets in {0, 1} (or in [0, 1]).
    """
    z = _t(logits)
    t = _t(target, z)
    _same_shape("binary_cross_entropy_with_logits", z, t)
    if reduction != "mean" or t.requires_grad:
        return _reduce(ops.softplus(z) - t * z, reduction)
    # The common case as one fused node: d/dz mean(softplus(z) - t z) = (sigma(z) - t) / N.
    xp = backend.xp()
    zd, td = z.data, t.data
    per_example = xp.maximum(zd, 0) + xp.log1p(xp.exp(-xp.abs(zd))) - td * zd
    n = zd.size
    out = xp.asarray(per_example.mean())
    return Tensor.from_op(out, (z,), lambda g: (g * (ops.sigmoid_array(zd) - td) / n,), "bce_with_logits")


logistic_cross_entropy = binary_cross_entropy_with_logits


def binary_cross_entropy(prob, target, eps=1e-12, reduction="mean") -> Tensor:
    """-[t log p + (1 - t) log(1 - p)] for probabilities p (clipped to [eps, 1 - eps])."""
    p = ops.clip(_t(prob), eps, 1 - eps)
    t = _t(target, p)
    _same_shape("binary_cross_entropy", p, t)
    return _reduce(-(t * ops.log(p) + (1 - t) * ops.log(1 - p)), reduction)


def _class_indices(name, logits, target):
    xp = backend.xp()
    labels = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"{name}: expected integer labels of shape ({logits.shape[0]},), got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and xp.all(labels == xp.round(labels)):
            labels = labels.astype(int)
        else:
            raise ValueError(f"{name}: labels must be integers 0..C-1, got dtype {labels.dtype}")
    C = logits.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"{name}: labels must lie in 0..{C - 1}, got values from {int(labels.min())} to {int(labels.max())}")
    return labels


def nll(log_probs, target, reduction="mean") -> Tensor:
    """Negative log-likelihood -log p[y] from log-probabilities of shape (N, C) and labels (N,)."""
    log_probs = _t(log_probs)
    labels = _class_indices("nll", log_probs, target)
    picked = log_probs[backend.xp().arange(labels.shape[0]), labels]
    return _reduce(-picked, reduction)


def cross_entropy(logits, target, reduction="mean") -> Tensor:
    """Softmax cross-entropy: -log softmax(z)[y] = logsumexp(z) - z[y].  Shapes: (N, C), labels (N,)."""
    logits = _t(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    if reduction != "mean":
        return nll(ops.log_softmax(logits, axis=1), target, reduction)
    # The common case as one fused node: d/dz = (softmax(z) - onehot(y)) / N.
    xp = backend.xp()
    labels = _class_indices("cross_entropy", logits, target)
    rows = xp.arange(labels.shape[0])
    z = logits.data
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    out = xp.asarray(-log_probs[rows, labels].mean())

    def vjp(g):
        dz = xp.exp(log_probs)
        dz[rows, labels] -= 1
        return (dz * (g / labels.shape[0]),)

    return Tensor.from_op(out, (logits,), vjp, "cross_entropy")


def hinge(scores, target, margin=1.0, reduction="mean") -> Tensor:
    """Binary hinge (SVM) loss max(0, margin - t s) with labels t in {-1, +1}."""
    s = _t(scores)
    t = _t(target, s)
    _same_shape("hinge", s, t)
    return _reduce(ops.relu(margin - t * s), reduction)


def multiclass_hinge(scores, target, margin=1.0, reduction="mean") -> Tensor:
    """Multiclass SVM loss sum_{j != y} max(0, s_j - s_y + margin) (Weston & Watkins; cs231n).

    Shapes: scores (N, C), labels (N,).
    """
    s = _t(scores)
    labels = _class_indices("multiclass_hinge", s, target)
    xp = backend.xp()
    rows = xp.arange(labels.shape[0])
    correct = s[rows, labels].reshape(-1, 1)
    margins = ops.relu(s - correct + margin)
    not_true = xp.ones(s.shape, dtype=s.dtype)
    not_true[rows, labels] = 0  # the true class contributes no margin
    return _reduce((margins * Tensor(not_true)).sum(axis=1), reduction)


def kl_divergence(log_q, p, reduction="mean") -> Tensor:
    """KL(p || q) = sum_i p_i (log p_i - log q_i), with q given as log-probabilities.

    Shapes: (N, C) for both; the sum runs over the last axis, then ``reduction``
    combines the N rows.  Entries with p_i = 0 contribute 0 (0 log 0 = 0).

    Both arguments get a gradient: d/d(log q_i) = -p_i and
    d/dp_i = log p_i + 1 - log q_i (the ``+ 1`` comes from the p_i log p_i term;
    where p_i = 0 the log p_i + 1 part is left out, so the gradient is -log q_i).

    Differs from PyTorch on purpose: ``torch.nn.functional.kl_div(log_q, p)``
    takes the arguments in the same order, but its ``reduction="mean"`` divides
    by N * C; nnkit's ``"mean"`` divides by N, the mean KL per example
    (PyTorch's ``reduction="batchmean"``).
    (Kullback & Leibler, 1951; the course's sources do not cover it, it is here
    for distillation and variational models.)
    """
    log_q = _t(log_q)
    p = _t(p, log_q)
    _same_shape("kl_divergence", log_q, p)
    log_p = ops.log(ops.where(p.data > 0, p, 1.0))  # log 1 = 0 where p_i = 0
    return _reduce((p * (log_p - log_q)).sum(axis=-1), reduction)


LOSSES = {
    "mse": mse, "l1": l1, "huber": huber, "bce_logits": binary_cross_entropy_with_logits,
    "bce": binary_cross_entropy, "nll": nll, "cross_entropy": cross_entropy, "hinge": hinge,
    "multiclass_hinge": multiclass_hinge, "kl": kl_divergence,
}
