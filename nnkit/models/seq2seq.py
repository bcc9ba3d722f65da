"""An encoder-decoder with attention (Lecture 13, §4.2; neural-nets notes, "Attention mechanisms").

Encoder (Sutskever, Vinyals & Le, 2014): a GRU reads the source x_1..x_S into
states k_1..k_S; its last state starts the decoder.

Decoder with attention (Bahdanau, Cho & Bengio, 2015), one output step at a time:

    context_t = sum_j alpha_tj k_j,  alpha_t = softmax_j(score(s_{t-1}, k_j))
    s_t       = GRU([E y_{t-1}; context_t], s_{t-1})
    p(y_t | y_<t, x) = softmax(W [s_t; context_t] + b)

Training feeds the true previous token (teacher forcing); :meth:`Seq2Seq.greedy`
feeds back its own most probable token.  Token id 0 is the start marker.
"""
from __future__ import annotations

import numpy as np

from nnkit import backend, losses
from nnkit.autodiff import no_grad, ops
from nnkit.nn import GRU, AdditiveAttention, DotProductAttention, Embedding, Linear, Module, ShapeError


class Seq2Seq(Module):
    """Source ids (B, S) and target ids (B, T) -> logits (B, T, V_out).

    ``attention``: "additive", "dot" or None (the plain encoder-decoder, which
    must squeeze the whole source into the encoder's last state).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_dim: int = 16, hidden_size: int = 64,
                 attention: str | None = "additive", dtype=None):
        super().__init__()
        if attention not in ("additive", "dot", None):
            raise ValueError(f"Seq2Seq: attention must be 'additive', 'dot' or None, got {attention!r}")
        H = hidden_size
        self.hidden_size, self.tgt_vocab, self.use_attention = H, tgt_vocab, attention is not None
        self.src_embedding = Embedding(src_vocab, embed_dim, std=0.3, dtype=dtype)
        self.tgt_embedding = Embedding(tgt_vocab, embed_dim, std=0.3, dtype=dtype)
        self.encoder = GRU(embed_dim, H, dtype=dtype)
        ctx = H if self.use_attention else 0
        self.decoder = GRU(embed_dim + ctx, H, dtype=dtype)
        if attention == "additive":
            self.attention = AdditiveAttention(H, H, H, dtype=dtype)
        elif attention == "dot":
            self.attention = DotProductAttention()
        else:
            self.attention = None
        self.output = Linear(H + ctx, tgt_vocab, dtype=dtype)

    def encode(self, src):
        src = np.asarray(src)
        if src.ndim != 2:
            raise ShapeError(f"{self!r}: source ids must have shape (batch, length), got {src.shape}")
        keys, last = self.encoder(self.src_embedding(src))
        return keys, last

    def _step(self, y_prev, s, keys, projected):
        """One decoder step: previous tokens (B,), state (B, H) -> logits (B, V), new state, weights (B, S)."""
        e = self.tgt_embedding(y_prev)                          # (B, d)
        weights = None
        if self.use_attention:
            if projected is not None:
                context, weights = self.attention(s, keys, projected_keys=projected)
            else:
                context, weights = self.attention(s, keys)
            inp = ops.concatenate([e, context], axis=1)
        else:
            inp = e
        B = inp.shape[0]
        _, s = self.decoder(ops.reshape(inp, B, 1, inp.shape[1]), s)
        feat = ops.concatenate([s, context], axis=1) if self.use_attention else s
        return self.output(feat), s, weights

    def forward(self, src, tgt_in):
        """Teacher forcing: ``tgt_in`` (B, T) holds the start marker 0 then y_1..y_{T-1}."""
        keys, s = self.encode(src)
        projected = self.attention.project_keys(keys) if isinstance(self.attention, AdditiveAttention) else None
        tgt_in = np.asarray(tgt_in)
        logits = []
        for t in range(tgt_in.shape[1]):
            z, s, _ = self._step(tgt_in[:, t], s, keys, projected)
            logits.append(z)
        return ops.stack(logits, axis=1)

    def loss(self, src, tgt):
        """Mean cross-entropy of the target tokens ``tgt`` (B, T), decoded with teacher forcing."""
        tgt = np.asarray(tgt)
        tgt_in = np.concatenate([np.zeros((tgt.shape[0], 1), dtype=tgt.dtype), tgt[:, :-1]], axis=1)
        logits = self(src, tgt_in)
        B, T, V = logits.shape
        return losses.cross_entropy(ops.reshape(logits, B * T, V), tgt.reshape(-1))

    def greedy(self, src, length: int):
        """Decode ``length`` tokens, feeding back the argmax.  Returns ids (B, length), attention (B, length, S)."""
        with no_grad():
            keys, s = self.encode(src)
            projected = self.attention.project_keys(keys) if isinstance(self.attention, AdditiveAttention) else None
            y = np.zeros(np.asarray(src).shape[0], dtype=np.int64)
            out, maps = [], []
            for _ in range(length):
                z, s, w = self._step(y, s, keys, projected)
                y = backend.to_numpy(z.data).argmax(axis=1)
                out.append(y)
                if w is not None:
                    maps.append(backend.to_numpy(w.data))
        attn = np.stack(maps, axis=1) if maps else None
        return np.stack(out, axis=1), attn
