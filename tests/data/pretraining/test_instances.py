"""Instances of one block of documents: the original layout and the recipe's counts."""

import random

import numpy as np

from keras_bert_impl.data.pretraining.corpus import Corpus
from keras_bert_impl.data.pretraining.example_encoding import FEATURE_NAMES
from keras_bert_impl.data.pretraining.instances import INSTANCE_STATISTICS
from keras_bert_impl.data.pretraining.instances import create_instances

CLS, SEP, MASK, VOCAB = 2, 3, 4, 100
SEQ, PRED = 32, 5


def small_corpus(num_docs=6, sentences=5, length=6):
    rng = np.random.default_rng(0)
    sent_len = np.full(num_docs * sentences, length)
    return Corpus(
        rng.integers(10, VOCAB, int(sent_len.sum())).astype(np.int32),
        np.arange(0, int(sent_len.sum()), length),
        sent_len,
        np.arange(0, num_docs * sentences + 1, sentences),
    )


def options(**overrides):
    return {
        "max_seq_length": SEQ,
        "short_seq_prob": 0.1,
        "max_predictions_per_seq": PRED,
        "masked_lm_prob": 0.15,
        "do_whole_word_mask": False,
        "vocab_size": VOCAB,
        "cls_id": CLS,
        "sep_id": SEP,
        "mask_id": MASK,
        "is_continuation": np.zeros(VOCAB, bool),
        **overrides,
    }


def run(corpus, seed=0, **overrides):
    statistics = dict.fromkeys(INSTANCE_STATISTICS, 0)
    features = create_instances(
        corpus.tokens,
        corpus.index_lists(),
        (0, corpus.num_documents),
        corpus.num_documents,
        options(**overrides),
        random.Random(seed),
        np.random.default_rng(seed),
        statistics,
    )
    return features, statistics


def test_layout_of_every_instance():
    corpus = small_corpus()
    features, statistics = run(corpus)
    assert tuple(features) == FEATURE_NAMES
    n = len(features["input_ids"])
    assert statistics["instances"] == n > 0
    assert statistics["passes"] == corpus.num_documents
    for row in range(n):
        length = int(features["input_mask"][row].sum())
        real = features["masked_lm_weights"][row] > 0
        ids = features["input_ids"][row].copy()
        ids[features["masked_lm_positions"][row][real]] = features["masked_lm_ids"][
            row
        ][real]
        seps = np.flatnonzero(ids[:length] == SEP)
        assert ids[0] == CLS and len(seps) == 2 and seps[1] == length - 1
        assert (ids[length:] == 0).all()
        segments = features["segment_ids"][row][:length]
        assert (segments[: seps[0] + 1] == 0).all() and (
            segments[seps[0] + 1 :] == 1
        ).all()
        expected = min(PRED, max(1, round(length * 0.15)))
        assert real.sum() == expected
        assert not np.isin(features["masked_lm_positions"][row][real], [0, *seps]).any()
    assert statistics["masked"] == int(features["masked_lm_weights"].sum())


def test_same_generators_same_instances():
    corpus = small_corpus()
    first, _ = run(corpus, seed=5, do_whole_word_mask=True)
    second, _ = run(corpus, seed=5, do_whole_word_mask=True)
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(first[name], second[name])
