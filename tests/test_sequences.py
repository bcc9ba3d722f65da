"""Offline sequence data: the character corpus, the bigram baseline, generated tasks, programs."""

import numpy as np
import pytest

from nnkit.data.sequences import (CharVocab, bigram_bits_per_char, char_corpus, copy_task, execute_programs,
                                  first_symbol_task, lm_windows, parity_task, reverse_task, run_program)


def test_char_corpus_and_vocab_round_trip():
    text = char_corpus(20000)
    assert len(text) == 20000
    vocab = CharVocab(text)
    assert 20 <= len(vocab) <= 40 and set(text) <= set(vocab.chars)
    assert vocab.decode(vocab.encode(text[:500])) == text[:500]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab.encode("Z")


def test_lm_windows_targets_are_inputs_shifted():
    ids = np.arange(100)
    x, y = lm_windows(ids, 10, 5, np.random.default_rng(0))
    assert x.shape == y.shape == (5, 10)
    np.testing.assert_array_equal(y, x + 1)


def test_bigram_bits_per_char():
    # a deterministic cycle a->b->c->a: the bigram model predicts it almost surely
    ids = np.tile([0, 1, 2], 300)
    assert bigram_bits_per_char(ids, ids, 3, alpha=1e-6) < 1e-4
    # uniform random text: about log2(V) bits
    rng = np.random.default_rng(0)
    bpc = bigram_bits_per_char(rng.integers(0, 8, 50000), rng.integers(0, 8, 20000), 8)
    assert abs(bpc - 3.0) < 0.02


def test_generated_tasks():
    rng = np.random.default_rng(1)
    src, tgt = copy_task(4, 6, 5, rng)
    np.testing.assert_array_equal(src, tgt)
    assert src.min() >= 1 and src.max() <= 5
    src, tgt = reverse_task(4, 6, 5, rng)
    np.testing.assert_array_equal(tgt, src[:, ::-1])
    x, y = parity_task(3, 10, rng)
    np.testing.assert_array_equal(y[:, -1], x.sum(1) % 2)
    x, y = first_symbol_task(50, 20, 3, rng, n_distractors=2)
    np.testing.assert_array_equal(y, x[:, 0])
    assert y.max() < 3 and x[:, 1:].min() >= 3 and x.max() <= 4


def test_parity_of_the_lecture_example():
    x = np.array([[0, 1, 0, 1, 1, 0, 1, 0, 1, 1]])
    assert list(np.cumsum(x, axis=1)[0] % 2) == [0, 1, 1, 0, 1, 1, 0, 0, 1, 0]


def test_programs_of_the_lecture_and_generated_ones():
    assert run_program("j=8584\nfor x in range(8):j+=920\nb=(1500+j)\nprint((b+7567))") == "25011"
    assert run_program("i=8827\nc=(i-5347)\nprint(((c+8704) if 2641<8500 else 5308))") == "12184"
    items = execute_programs(20, np.random.default_rng(2))
    assert len(items) == 20
    for prog, out in items:
        assert out.lstrip("-").isdigit() and "print" in prog
    assert run_program("a=12;print(a-30)") == "-18"
