"""A character-level recurrent language model (Lecture 13, §4.1).

    e_t = E[c_t]                          embedding of the current character
    h_t, c_t = LSTM(e_t, h_{t-1}, c_{t-1})   (or a GRU / vanilla RNN)
    p(c_{t+1} | c_1..c_t) = softmax(h_t W^T + b)

Trained on windows whose target is the input shifted by one character; no
Markov assumption: the state can carry information from any earlier character.
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import backend, losses
from nnkit.autodiff import Tensor, no_grad, ops
from nnkit.nn import GRU, LSTM, RNN, Embedding, Linear, Module, ShapeError

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


class CharRNN(Module):
    """Ids (B, T) -> logits (B, T, V) and the final state.

    Parameters: ``vocab_size`` V, ``embed_dim``, ``hidden_size`` H, ``cell`` in
    {"lstm", "gru", "rnn"}.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 16, hidden_size: int = 128, cell: str = "lstm", dtype=None):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"CharRNN: cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.vocab_size, self.cell = vocab_size, cell
        self.embedding = Embedding(vocab_size, embed_dim, std=0.1, dtype=dtype)
        self.rnn = _CELLS[cell](embed_dim, hidden_size, dtype=dtype)
        self.output = Linear(hidden_size, vocab_size, dtype=dtype)

    def forward(self, ids, state=None):
        ids = backend.xp().asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2:
            raise ShapeError(f"{self!r} expects ids of shape (batch, time), got {ids.shape}")
        hs, state = self.rnn(self.embedding(ids), state)
        return self.output(hs), state

    def loss(self, x, y, state=None):
        """Mean cross-entropy (nats per character) of predicting y from x; both (B, T)."""
        logits, state = self(x, state)
        B, T, V = logits.shape
        return losses.cross_entropy(ops.reshape(logits, B * T, V), backend.xp().asarray(y).reshape(-1)), state

    def bits_per_char(self, ids, length: int = 200) -> float:
        """Average -log2 p(next char) over a long id sequence, read in chunks carrying the state."""
        ids = np.asarray(ids)
        total, count, state = 0.0, 0, None
        with no_grad():
            for start in range(0, len(ids) - 1, length):
                x = ids[start:start + length][None]
                y = ids[start + 1:start + length + 1][None]
                x = x[:, :y.shape[1]]
                loss, state = self.loss(x, y, state)
                total += loss.item() * y.shape[1]
                count += y.shape[1]
        return total / count / math.log(2)

    def sample(self, prefix_ids, n: int, rng, temperature: float = 1.0) -> list[int]:
        """Feed ``prefix_ids``, then draw ``n`` characters one at a time, feeding each back in."""
        out = [int(i) for i in prefix_ids]
        with no_grad():
            logits, state = self(np.asarray(out)[None])
            for _ in range(n):
                z = backend.to_numpy(logits.data[0, -1]).astype(np.float64) / temperature
                p = np.exp(z - z.max())
                nxt = int(rng.choice(len(p), p=p / p.sum()))
                out.append(nxt)
                logits, state = self(np.array([[nxt]]), state)
        return out
