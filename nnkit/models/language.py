"""The neural probabilistic language model (Bengio, Ducharme, Vincent & Jauvin, 2003).

Lecture 5, §3.  Given the previous K words w_{t-K}, ..., w_{t-1} (as ids):

    e = [R w_{t-K}; ...; R w_{t-1}]          embedding layer, shape (K d,)
    h = tanh(W_h e + b_h)                     hidden layer, shape (H,)
    z = W_o h + b_o + W_s e                   logits over the vocabulary, shape (V,)
    p(w_t = v | context) = softmax(z)_v

The term ``W_s e`` is the skip connection from the embeddings to the outputs.
The lecture leaves the hidden nonlinearity open; tanh is the one of the paper.
Training minimises the cross-entropy, which summed over a sentence is its
negative log-probability (Lecture 5, eqs. (9)-(12)).
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import backend, losses
from nnkit.autodiff import Tensor, no_grad
from nnkit.nn import Embedding, Linear, Module, ShapeError


class NeuralLanguageModel(Module):
    """Context ids (N, K) -> next-word logits (N, V).

    Parameters
    ----------
    vocab_size : V
    context : K, the number of previous words seen
    embed_dim : d, the length of each word vector
    hidden : H, hidden units (0 for none: then z = W_s e + b_o)
    skip : include the embedding-to-output connection W_s
    """

    def __init__(self, vocab_size: int, context: int, embed_dim: int = 16, hidden: int = 64,
                 skip: bool = True, dtype=None):
        super().__init__()
        self.vocab_size, self.context, self.embed_dim, self.hidden = vocab_size, context, embed_dim, hidden
        self.embedding = Embedding(vocab_size, embed_dim, std=0.1, dtype=dtype)
        width = context * embed_dim
        self.to_hidden = Linear(width, hidden, dtype=dtype) if hidden else None
        self.to_output = Linear(hidden, vocab_size, dtype=dtype) if hidden else None
        self.skip = Linear(width, vocab_size, bias=not hidden, dtype=dtype) if (skip or not hidden) else None

    def forward(self, contexts) -> Tensor:
        ids = contexts.data if isinstance(contexts, Tensor) else np.asarray(contexts)
        if ids.ndim != 2 or ids.shape[1] != self.context:
            raise ShapeError(f"{self!r} expects context ids of shape (N, {self.context}), got shape {tuple(ids.shape)}")
        e = self.embedding(ids).reshape(ids.shape[0], self.context * self.embed_dim)
        z = None
        if self.to_hidden is not None:
            z = self.to_output(self.to_hidden(e).tanh())
        if self.skip is not None:
            z = self.skip(e) if z is None else z + self.skip(e)
        return z

    @property
    def embeddings(self):
        """The learned word vectors as a (V, d) NumPy array (row i is word i)."""
        return backend.to_numpy(self.embedding.weight.data)

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, context={self.context}, embed_dim={self.embed_dim}, "
                f"hidden={self.hidden}, skip={self.skip is not None}")


def mean_nll(model: Module, X, y, batch_size: int = 4096) -> float:
    """Average negative log-probability (nats) of the words ``y`` given the contexts ``X``."""
    total = 0.0
    with no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(X[start:start + batch_size])
            total += losses.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
    return total / len(y)


def perplexity(model: Module, X, y, batch_size: int = 4096) -> float:
    """exp(mean NLL): the size of a uniform choice that would be as uncertain as the model."""
    return math.exp(mean_nll(model, X, y, batch_size))


def unigram_perplexity(y_train, y_eval, vocab_size: int, alpha: float = 1.0) -> float:
    """Perplexity on ``y_eval`` of word frequencies counted in ``y_train`` (add-alpha smoothed).

    The baseline a language model must beat: it ignores the context entirely.
    """
    counts = np.bincount(np.asarray(y_train), minlength=vocab_size).astype(float) + alpha
    probs = counts[np.asarray(y_eval)] / counts.sum()
    return float(np.exp(-np.log(probs).mean()))
