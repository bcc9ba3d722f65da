"""Offline corpora, vocabulary, n-gram counts and the n-gram language model (Lecture 5, §2)."""
import math
from collections import Counter

import numpy as np
import pytest

from nnkit.data.text import (BOS, EOS, GRAMMAR, NGramModel, Vocabulary, context_windows,
                             grammar_sentences, ngram_counts, stdlib_corpus, tokenize)

TOY = [["the", "fat", "cat", "sat"], ["the", "fat", "dog", "sat"], ["the", "fat", "cat", "ran"],
       ["a", "cat", "sat"]]


def test_tokenize():
    assert tokenize("The cat's hat, 3 times!  Isn't it?") == ["the", "cat's", "hat", "times", "isn't", "it"]


def test_grammar_is_reproducible_and_agrees_in_number():
    a, b = grammar_sentences(300, seed=4), grammar_sentences(300, seed=4)
    assert a == b and a != grammar_sentences(300, seed=5)
    animals = set(GRAMMAR["animal"])
    for s in a:
        noun = next(w for w in s if w in animals or w[:-1] in animals or w[:-2] in animals)
        plural = noun not in animals
        verb = s[s.index(noun) + 1]
        if plural:
            assert verb == "were" or verb + "s" in GRAMMAR["active"], s
        else:
            assert verb in ("got", "was") or verb in GRAMMAR["active"], s
    with pytest.raises(ValueError, match="n must be >= 0"):
        grammar_sentences(-1)


def test_stdlib_corpus_is_real_text():
    sentences = stdlib_corpus(("json", "textwrap"))
    words = Counter(w for s in sentences for w in s)
    assert len(sentences) > 20 and all(len(s) >= 3 for s in sentences)
    assert words["the"] > 10 and "json" in words


def test_vocabulary_round_trip_and_unknowns():
    vocab = Vocabulary(TOY, min_count=2)
    assert vocab.words[:3] == [BOS, EOS, "<unk>"]
    assert set(vocab.words[3:]) == {"the", "fat", "cat", "sat"}
    ids = vocab.encode(["the", "dog", "cat"])
    assert vocab.decode(ids) == ["the", "<unk>", "cat"]


def test_context_windows():
    vocab = Vocabulary(TOY)
    X, y = context_windows([["the", "fat", "cat"]], vocab, context=2)
    b, e = vocab.index[BOS], vocab.index[EOS]
    t, f, c = vocab.encode(["the", "fat", "cat"])
    np.testing.assert_array_equal(X, [[b, b], [b, t], [t, f], [f, c]])
    np.testing.assert_array_equal(y, [t, f, c, e])
    assert X.dtype == np.int64


def test_ngram_counts_and_trigram_estimate():
    tri = ngram_counts(TOY, 3)
    bi = ngram_counts(TOY, 2)
    assert tri[("the", "fat", "cat")] == 2 and bi[("the", "fat")] == 3
    assert tri[(BOS, BOS, "the")] == 3 and bi[("sat", EOS)] == 3
    model = NGramModel(3).fit(TOY)
    assert model.prob("cat", ["the", "fat"]) == pytest.approx(2 / 3)
    assert model.prob("dog", ["the", "fat"]) == pytest.approx(1 / 3)
    # each row of the table sums to one; an unseen context is 0/0
    for ctx in [("the", "fat"), (BOS, BOS), ("fat", "cat")]:
        assert sum(model.prob(w, ctx) for w in model.vocab) == pytest.approx(1.0)
    assert math.isnan(model.prob("cat", ["dog", "cat"]))


def test_smoothing_removes_zeros_and_keeps_rows_normalised():
    model = NGramModel(2, alpha=0.5).fit(TOY)
    V = len(model.vocab)
    assert model.prob("ran", ["the"]) == pytest.approx(0.5 / (3 + 0.5 * V))
    assert sum(model.prob(w, ["dog"]) for w in model.vocab) == pytest.approx(1.0)
    assert NGramModel(2).fit(TOY).sentence_logprob(["the", "cat", "ran"]) == -math.inf
    assert math.isfinite(model.sentence_logprob(["the", "cat", "ran"]))


def test_sentence_logprob_is_chain_rule_and_unigram_perplexity():
    model = NGramModel(1).fit(TOY)
    n_words = sum(len(s) + 1 for s in TOY)
    s = ["the", "cat", "sat"]
    expected = sum(math.log(model.counts[(w,)] / n_words) for w in s + [EOS])
    assert model.sentence_logprob(s) == pytest.approx(expected)
    assert model.perplexity([s]) == pytest.approx(math.exp(-expected / 4))


def test_sampling_follows_the_table():
    model = NGramModel(3).fit(TOY)
    rng = np.random.default_rng(0)
    samples = [model.sample(rng) for _ in range(200)]
    assert all(s[:2] in (["the", "fat"], ["a", "cat"]) for s in samples)
    starts = Counter(s[0] for s in samples)
    assert 120 < starts["the"] < 180  # p(the | <s> <s>) = 3/4
