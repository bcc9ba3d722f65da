"""Offline sequence data for recurrent networks: a character corpus and generated tasks.

Nothing is downloaded.  Lecture 13, §4 (language modelling, machine
translation, learning to execute) and Lecture 14 (long-term dependencies).

- :func:`char_corpus` turns the standard-library docstrings of
  :func:`nnkit.data.text.stdlib_corpus` into one lower-case text, a sentence a
  line; :class:`CharVocab` maps its characters to ids; :func:`lm_windows`
  cuts (input, target) windows, the target being the input shifted by one.
- :func:`bigram_bits_per_char` is the baseline a character model must beat.
- Generated tasks with known answers: :func:`copy_task`, :func:`reverse_task`,
  :func:`parity_task`, :func:`first_symbol_task` (a long-range dependency), and
  :func:`execute_programs`, small Python programs with their printed output
  (Zaremba & Sutskever, 2015).
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np

from nnkit.data.text import stdlib_corpus


# ------------------------------------------------------------ character corpus
def char_corpus(max_chars: int | None = None) -> str:
    """Lower-case English from standard-library docstrings: words separated by spaces,
    each sentence ended by '.' and a newline.  About 30 distinct characters."""
    text = "".join(" ".join(words) + ".\n" for words in stdlib_corpus())
    return text[:max_chars] if max_chars else text


class CharVocab:
    """Characters <-> integer ids (sorted order)."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError as err:
            raise KeyError(f"CharVocab.encode: character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"


def lm_windows(ids, length: int, batch: int, rng):
    """``batch`` random windows of a long id sequence: x (batch, length), y = x shifted by one."""
    ids = np.asarray(ids)
    if len(ids) <= length + 1:
        raise ValueError(f"lm_windows: need more than {length + 1} ids, got {len(ids)}")
    starts = rng.integers(0, len(ids) - length - 1, size=batch)
    idx = starts[:, None] + np.arange(length + 1)
    windows = ids[idx]
    return windows[:, :-1], windows[:, 1:]


def bigram_bits_per_char(train_ids, val_ids, vocab_size: int, alpha: float = 0.1) -> float:
    """Validation bits per character of the add-alpha bigram model p(c_t | c_{t-1}).

    -(1 / N) sum_t log2 p(c_t | c_{t-1}), p from counts of the training ids.
    """
    counts = np.full((vocab_size, vocab_size), alpha)
    np.add.at(counts, (np.asarray(train_ids[:-1]), np.asarray(train_ids[1:])), 1)
    probs = counts / counts.sum(axis=1, keepdims=True)
    val_ids = np.asarray(val_ids)
    return float(-np.mean(np.log2(probs[val_ids[:-1], val_ids[1:]])))


# --------------------------------------------------------------- generated tasks
def copy_task(n: int, length: int, n_symbols: int, rng, reverse: bool = False):
    """Source sequences of symbols 1..n_symbols and their copies (or reversals).

    Returns src, tgt, both (n, length) int64.  Id 0 is left free for a start marker.
    """
    if length < 1 or n_symbols < 1:
        raise ValueError(f"copy_task: length and n_symbols must be >= 1, got {length} and {n_symbols}")
    src = rng.integers(1, n_symbols + 1, size=(n, length))
    tgt = src[:, ::-1] if reverse else src
    return src.astype(np.int64), np.ascontiguousarray(tgt).astype(np.int64)


def reverse_task(n: int, length: int, n_symbols: int, rng):
    """:func:`copy_task` with the target reversed (Lecture 14, §3.2: input reversal)."""
    return copy_task(n, length, n_symbols, rng, reverse=True)


def parity_task(n: int, length: int, rng):
    """Bits x (n, length) and the running parity y_t = x_1 xor ... xor x_t (Lecture 13, §2)."""
    x = rng.integers(0, 2, size=(n, length))
    return x.astype(np.int64), (np.cumsum(x, axis=1) % 2).astype(np.int64)


def first_symbol_task(n: int, length: int, n_symbols: int, rng, n_distractors: int = 2):
    """A long-range dependency: remember the first symbol through ``length - 1`` distractors.

    x (n, length): x[:, 0] is a signal symbol in 0..n_symbols-1; the other
    positions hold distractor ids n_symbols..n_symbols+n_distractors-1.
    Target (n,) = x[:, 0].  Reading left to right, a network must carry the
    first symbol for ``length`` steps; the vocabulary has n_symbols + n_distractors ids.
    """
    x = rng.integers(n_symbols, n_symbols + n_distractors, size=(n, length)).astype(np.int64)
    x[:, 0] = rng.integers(0, n_symbols, size=n)
    return x, x[:, 0].copy()


# -------------------------------------------------------------- learning to execute
def run_program(source: str) -> str:
    """Execute a generated program and return what it printed (stripped).

    Only the programs of :func:`execute_programs` are meant to run here: no
    builtins but ``print`` and ``range``.
    """
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(source, {"__builtins__": {"print": print, "range": range}})  # noqa: S102 - generated code
    return out.getvalue().strip()


def _number(rng, digits):
    return int(rng.integers(10 ** (digits - 1), 10 ** digits))


def execute_programs(n: int, rng, digits: int = 2, max_loop: int = 4):
    """``n`` small programs in the style of Zaremba & Sutskever (2015) and their outputs.

    Each program assigns a variable, optionally updates it in a loop or through
    an if-else expression, and prints one expression; numbers have ``digits`` digits.
    Returns a list of (program text, printed output) pairs.
    """
    items = []
    for _ in range(n):
        v, w = rng.choice(list("abcdijx"), size=2, replace=False)
        a, b, c = (_number(rng, digits) for _ in range(3))
        kind = rng.integers(4)
        op = "+" if rng.random() < 0.5 else "-"
        if kind == 0:
            prog = f"print({a}{op}{b})"
        elif kind == 1:
            prog = f"{v}={a};print({v}{op}{b})"
        elif kind == 2:
            k = int(rng.integers(1, max_loop + 1))
            prog = f"{v}={a}\nfor {w} in range({k}):{v}+={b}\nprint({v}{op}{c})"
        else:
            cmp = "<" if rng.random() < 0.5 else ">"
            prog = f"{v}={a};print(({v}{op}{b}) if {c}{cmp}{b} else {c})"
        items.append((prog, run_program(prog)))
    return items


def bits_per_char(nll_nats: float) -> float:
    """Convert an average negative log-likelihood in nats to bits: nll / ln 2."""
    return nll_nats / math.log(2)
