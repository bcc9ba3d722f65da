"""The embedding layer: a learned lookup table of word vectors.

Lecture 5, §3: the first layer of the neural probabilistic language model
keeps one vector per word of the vocabulary and, for each context word, pulls
out its row.  Multiplying the table by a one-hot vector gives the same row, so
the layer is a linear layer whose weights are shared by every context
position; looking the row up is just the fast way to do that product.
"""
from __future__ import annotations

from nnkit import backend
from nnkit.autodiff import Tensor
from nnkit.nn.module import Module, Parameter


class Embedding(Module):
    """out[..., :] = weight[indices[...], :].

    Shapes: indices (...) of integers in ``0 .. num_embeddings - 1``
    -> out (..., dim); weight (num_embeddings, dim), as in PyTorch's
    ``nn.Embedding``.  The lecture's matrix R is ``weight.T`` (one column per word).

    Backward: the gradient of a row is the sum of the output gradients of every
    position that looked it up (a scatter-add), so a word that appears twice
    in a batch gets both contributions; rows nobody looked up get zero.

    Parameters
    ----------
    num_embeddings : size of the vocabulary V
    dim : length d of each vector
    std : the rows start as N(0, std^2) draws (PyTorch uses std = 1)
    """

    def __init__(self, num_embeddings: int, dim: int, std: float = 1.0, dtype=None):
        super().__init__()
        if num_embeddings < 1 or dim < 1:
            raise ValueError(f"Embedding: num_embeddings and dim must be >= 1, got {num_embeddings} and {dim}")
        self.num_embeddings, self.dim = int(num_embeddings), int(dim)
        dtype = dtype or backend.default_dtype()
        table = backend.rng().normal(0.0, std, size=(self.num_embeddings, self.dim)).astype(dtype)
        self.weight = Parameter(backend.to_device(table))

    def _indices(self, indices):
        xp = backend.xp()
        idx = indices.data if isinstance(indices, Tensor) else xp.asarray(indices)
        if idx.dtype.kind not in "iu":
            if idx.dtype.kind == "f" and idx.size and bool(xp.all(idx == xp.round(idx))):
                idx = idx.astype(int)
            elif idx.size:
                raise TypeError(f"{self!r} expects integer indices, got dtype {idx.dtype}")
            else:
                idx = idx.astype(int)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.num_embeddings):
            raise IndexError(
                f"{self!r}: indices must lie in 0..{self.num_embeddings - 1}, "
                f"got values from {int(idx.min())} to {int(idx.max())} (input shape {tuple(idx.shape)})"
            )
        return idx

    def forward(self, indices) -> Tensor:
        idx = self._indices(indices)
        weight = self.weight
        out = weight.data[idx]

        def vjp(g):
            grad = backend.xp().zeros_like(weight.data)
            # add.at adds repeated indices instead of keeping only the last write
            backend.xp().add.at(grad, idx.reshape(-1), g.reshape(-1, self.dim))
            return (grad,)

        return Tensor.from_op(out, (weight,), vjp, "embedding")

    def extra_repr(self) -> str:
        return f"num_embeddings={self.num_embeddings}, dim={self.dim}"
