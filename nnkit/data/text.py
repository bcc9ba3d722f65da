"""Offline text corpora and the counting tools of n-gram language models.

Nothing here is downloaded (Lecture 5, "Distributed representations"):

- :func:`grammar_sentences` generates sentences from a small grammar with word
  classes (animals, places, days, ...), singular and plural subjects, and
  verbs that agree with them, in the spirit of the lecture's "The cat got
  squashed in the garden on Friday" example.  Words of one class are
  interchangeable, which is exactly what a distributed representation can
  discover and a table of counts cannot.
- :func:`stdlib_corpus` reads the docstrings of modules that ship with Python:
  real English, a few hundred thousand characters, on every machine.

- :func:`tokenize` splits text into lower-case words.
- :class:`Vocabulary` maps words to integer ids (rare words become ``<unk>``).
- :func:`ngram_counts`, :class:`NGramModel` count n-grams and turn the counts
  into a conditional probability table, with optional add-alpha smoothing
  (the lecture's "imaginary counts").
- :func:`context_windows` cuts id sequences into (context, next word) pairs
  for an autoregressive model.
"""
from __future__ import annotations

import importlib
import inspect
import math
import re
from collections import Counter

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"

_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` (letters and apostrophes; digits and punctuation dropped)."""
    return _WORD_RE.findall(text.lower())


# ------------------------------------------------------------------- corpora
GRAMMAR = {
    "animal": ["cat", "dog", "pig", "rabbit", "horse", "goat"],
    "place": ["garden", "yard", "park", "field", "kitchen"],
    "day": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "passive": ["squashed", "flattened", "chased", "found", "fed", "seen"],
    "active": ["runs", "sleeps", "eats", "plays", "waits"],
    "adjective": ["fat", "small", "old", "happy", "hungry"],
    "determiner": ["the", "a", "my", "this"],
}


def _plural(noun: str) -> str:
    return noun + "s"


def grammar_sentences(n: int, seed: int = 0) -> list[list[str]]:
    """``n`` sentences (lists of words) from a small grammar, reproducible from ``seed``.

    Two templates, with number agreement between the subject and the verb:

        [det] [adj] ANIMAL   got|was PASSIVE in the PLACE on DAY
        the [adj] ANIMALS    were PASSIVE in the PLACE on DAY
        [det] [adj] ANIMAL   ACTIVE in the PLACE          (plural: ANIMALS + verb without s)
    """
    if n < 0:
        raise ValueError(f"grammar_sentences: n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    g = GRAMMAR

    def pick(key):
        words = g[key]
        return words[rng.integers(len(words))]

    sentences = []
    for _ in range(n):
        plural = rng.random() < 0.3
        animal = pick("animal")
        subject = ["the"] if plural else [pick("determiner")]
        if rng.random() < 0.4:
            subject.append(pick("adjective"))
        subject.append(_plural(animal) if plural else animal)
        if rng.random() < 0.6:
            verb = ["were"] if plural else [("got" if rng.random() < 0.5 else "was")]
            words = subject + verb + [pick("passive"), "in", "the", pick("place"), "on", pick("day")]
        else:
            verb = pick("active")
            words = subject + [verb[:-1] if plural else verb, "in", "the", pick("place")]
        sentences.append(words)
    return sentences


STDLIB_MODULES = ("argparse", "asyncio", "collections", "configparser", "csv", "datetime", "decimal",
                  "difflib", "email.message", "fractions", "functools", "heapq", "http.client",
                  "inspect", "ipaddress", "json", "logging", "pathlib", "pickle", "random",
                  "shutil", "statistics", "string", "subprocess", "tarfile", "textwrap",
                  "threading", "typing", "unittest", "urllib.parse", "zipfile")


def stdlib_corpus(modules=STDLIB_MODULES) -> list[list[str]]:
    """Sentences of words from the docstrings of standard-library ``modules``.

    Each module, class, function and method docstring is split into sentences at
    '.', '!', '?' and blank lines; sentences with fewer than 3 words are dropped.
    The text ships with Python, so its exact size varies a little between versions.
    """
    seen, sentences = set(), []
    for name in modules:
        module = importlib.import_module(name)
        objects = [module] + [obj for _, obj in sorted(vars(module).items())
                              if (inspect.isclass(obj) or inspect.isfunction(obj))
                              and getattr(obj, "__module__", None) == module.__name__]
        for cls in [o for o in objects if inspect.isclass(o)]:
            objects += [m for _, m in sorted(vars(cls).items()) if inspect.isfunction(m)]
        for obj in objects:
            doc = inspect.getdoc(obj)
            if not doc or doc in seen:  # inherited docstrings repeat: keep each text once
                continue
            seen.add(doc)
            for part in re.split(r"[.!?]\s|\n\s*\n", doc):
                words = tokenize(part)
                if len(words) >= 3:
                    sentences.append(words)
    return sentences


# ---------------------------------------------------------------- vocabulary
class Vocabulary:
    """Words <-> integer ids.  Ids 0, 1, 2 are ``<s>``, ``</s>`` and ``<unk>``.

    Words seen fewer than ``min_count`` times in the sentences map to ``<unk>``.
    """

    def __init__(self, sentences, min_count: int = 1):
        counts = Counter(w for s in sentences for w in s)
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        self.words = [BOS, EOS, UNK] + kept
        self.index = {w: i for i, w in enumerate(self.words)}
        self.counts = counts

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self.index

    def encode(self, words) -> list[int]:
        """Ids of ``words``; unknown words get the id of ``<unk>``."""
        unk = self.index[UNK]
        return [self.index.get(w, unk) for w in words]

    def decode(self, ids) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"


def context_windows(sentences, vocab: Vocabulary, context: int):
    """(context, next word) training pairs for an autoregressive model.

    Each sentence is padded with ``context`` copies of ``<s>`` in front and one
    ``</s>`` at the end, so every real word and the end marker is predicted once.

    Returns ``X`` of shape (N, context) and ``y`` of shape (N,), both int64.
    """
    if context < 1:
        raise ValueError(f"context_windows: context must be >= 1, got {context}")
    X, y = [], []
    bos, eos = vocab.index[BOS], vocab.index[EOS]
    for s in sentences:
        ids = [bos] * context + vocab.encode(s) + [eos]
        for t in range(context, len(ids)):
            X.append(ids[t - context:t])
            y.append(ids[t])
    return np.array(X, dtype=np.int64).reshape(-1, context), np.array(y, dtype=np.int64)


# ----------------------------------------------------------------- n-grams
def padded(sentence, n: int) -> list[str]:
    """``n - 1`` start markers, the words, one end marker."""
    return [BOS] * (n - 1) + list(sentence) + [EOS]


def ngram_counts(sentences, n: int) -> Counter:
    """Counter of the n-grams (tuples of n words) in padded sentences."""
    if n < 1:
        raise ValueError(f"ngram_counts: n must be >= 1, got {n}")
    counts = Counter()
    for s in sentences:
        words = padded(s, n)
        for t in range(n - 1, len(words)):
            counts[tuple(words[t - n + 1:t + 1])] += 1
    return counts


class NGramModel:
    """An n-gram language model: a conditional probability table estimated from counts.

        p(w | context) = (count(context, w) + alpha) / (count(context) + alpha * V)

    with ``context`` the previous ``n - 1`` words (Lecture 5, eq. (8)).  ``alpha = 0``
    is the maximum-likelihood table; ``alpha > 0`` adds imaginary counts so no
    word has probability zero.  V counts the vocabulary plus the end marker.
    """

    def __init__(self, n: int, alpha: float = 0.0):
        if n < 1:
            raise ValueError(f"NGramModel: n must be >= 1, got {n}")
        if alpha < 0:
            raise ValueError(f"NGramModel: alpha must be >= 0, got {alpha}")
        self.n, self.alpha = n, float(alpha)

    def fit(self, sentences) -> "NGramModel":
        self.counts = ngram_counts(sentences, self.n)
        self.context_counts = Counter()
        for gram, c in self.counts.items():
            self.context_counts[gram[:-1]] += c
        self.vocab = sorted({gram[-1] for gram in self.counts} | {EOS})
        return self

    def prob(self, word: str, context=()) -> float:
        """p(word | the last n - 1 words of ``context``); nan for an unseen context without smoothing."""
        ctx = tuple(context)[-(self.n - 1):] if self.n > 1 else ()
        ctx = (BOS,) * (self.n - 1 - len(ctx)) + ctx
        num = self.counts.get(ctx + (word,), 0) + self.alpha
        den = self.context_counts.get(ctx, 0) + self.alpha * len(self.vocab)
        return num / den if den > 0 else float("nan")

    def sentence_logprob(self, sentence) -> float:
        """log p(sentence) = sum_t log p(w_t | previous n - 1 words), end marker included (-inf if any is 0)."""
        words = padded(sentence, self.n)
        total = 0.0
        for t in range(self.n - 1, len(words)):
            p = self.prob(words[t], words[t - self.n + 1:t])
            if not p > 0:
                return -math.inf
            total += math.log(p)
        return total

    def perplexity(self, sentences) -> float:
        """exp(average negative log-probability per predicted word)."""
        total, count = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            count += len(s) + 1
        return math.exp(-total / count) if count else float("nan")

    def sample(self, rng, max_len: int = 30) -> list[str]:
        """Draw one sentence word by word from the table."""
        words = [BOS] * (self.n - 1)
        while len(words) < max_len + self.n - 1:
            ctx = tuple(words[len(words) - self.n + 1:]) if self.n > 1 else ()
            probs = np.array([self.prob(w, ctx) for w in self.vocab])
            if not np.all(np.isfinite(probs)) or probs.sum() <= 0:
                break
            w = self.vocab[rng.choice(len(self.vocab), p=probs / probs.sum())]
            if w == EOS:
                break
            words.append(w)
        return words[self.n - 1:]
