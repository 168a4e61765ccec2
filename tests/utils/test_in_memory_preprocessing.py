"""Raw in-memory inputs featurized: one traced preprocessor, or eagerly for `fit`."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.utils import in_memory_preprocessing
from keras_bert_impl.utils.in_memory_preprocessing import InMemoryPreprocessing
from keras_bert_impl.utils.in_memory_preprocessing import featurized_eagerly
from tests.bert_test_case import texts_of_many_lengths
from tests.bert_test_case import tiny_preprocessor


class _CountingPreprocessor:
    """A `BertPreprocessor` that counts how often it is traced (Python runs)."""

    def __init__(self):
        self.preprocessor = tiny_preprocessor()
        self.traces = 0

    def __call__(self, x):
        self.traces += 1
        return self.preprocessor(x)


@pytest.fixture
def traced_at_once(monkeypatch):
    """No eager calls first: the graph tests below trace on the first call."""
    monkeypatch.setattr(in_memory_preprocessing, "EAGER_SECONDS_BEFORE_TRACING", 0.0)


def test_calls_run_eagerly_until_they_cost_a_trace_then_one_graph_serves(
    monkeypatch,
):
    monkeypatch.setattr(in_memory_preprocessing, "EAGER_SECONDS_BEFORE_TRACING", 1e9)
    counting = _CountingPreprocessor()
    preprocessing = InMemoryPreprocessing(counting, counting)
    texts = texts_of_many_lengths(7, seed=3)
    expected = counting.preprocessor(tf.constant(texts))
    for _ in range(3):
        found = preprocessing(texts)
        np.testing.assert_array_equal(
            found["token_ids"], np.asarray(expected["token_ids"])
        )
    assert counting.traces == 3 and not preprocessing.functions  # eager: Python ran
    assert preprocessing.eager_seconds > 0
    # Once the eager calls have cost the budget, the next call traces, once.
    monkeypatch.setattr(
        in_memory_preprocessing,
        "EAGER_SECONDS_BEFORE_TRACING",
        preprocessing.eager_seconds,
    )
    for _ in range(3):
        found = preprocessing(texts)
        np.testing.assert_array_equal(
            found["token_ids"], np.asarray(expected["token_ids"])
        )
    assert counting.traces == 4 and len(preprocessing.functions) == 1


@pytest.mark.usefixtures("traced_at_once")
def test_every_size_and_chunking_give_the_eager_features_from_one_trace():
    counting = _CountingPreprocessor()
    preprocessing = InMemoryPreprocessing(counting, counting)
    for count, chunk_size in ((1, 4096), (37, 4096), (37, 8), (5, 2)):
        texts = texts_of_many_lengths(count, seed=count)
        found = preprocessing(texts, chunk_size=chunk_size)
        expected = counting.preprocessor(tf.constant(texts))
        assert set(found) == set(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(found[key], np.asarray(value))
    assert counting.traces == 1  # batch axis unknown: one graph for every size


@pytest.mark.usefixtures("traced_at_once")
def test_pairs_and_arrays_follow_tf_datas_rule_and_no_texts_give_no_rows():
    counting = _CountingPreprocessor()
    preprocessing = InMemoryPreprocessing(counting, counting)
    first, second = texts_of_many_lengths(6, seed=1), texts_of_many_lengths(6, seed=2)
    found = preprocessing((first, np.array(second, dtype=object)))
    expected = counting.preprocessor((tf.constant(first), tf.constant(second)))
    np.testing.assert_array_equal(
        found["segment_ids"], np.asarray(expected["segment_ids"])
    )
    np.testing.assert_array_equal(found["token_ids"], np.asarray(expected["token_ids"]))
    assert preprocessing(np.array([], dtype=object))["token_ids"].shape == (0, 12)


@pytest.mark.usefixtures("traced_at_once")
def test_a_changed_sequence_length_is_traced_anew():
    counting = _CountingPreprocessor()
    preprocessing = InMemoryPreprocessing(counting.preprocessor, counting)
    texts = texts_of_many_lengths(4)
    assert preprocessing(texts)["token_ids"].shape == (4, 12)
    counting.preprocessor.sequence_length = 20
    assert preprocessing(texts)["token_ids"].shape == (4, 20)
    assert counting.traces == 2


@pytest.mark.usefixtures("traced_at_once")
def test_printable_ascii_texts_get_a_graph_of_their_own_that_others_never_reach():
    counting = _CountingPreprocessor()
    preprocessing = InMemoryPreprocessing(counting.preprocessor, counting)
    plain = ["the movie was good", "he runs in paris ."]
    accented = ["the movie wás góod", "she eats in london ?", "北京 the fox"]
    for texts in (plain, accented, plain + accented, plain):
        found = preprocessing(texts)
        expected = counting.preprocessor(tf.constant(texts))
        np.testing.assert_array_equal(
            found["token_ids"], np.asarray(expected["token_ids"])
        )
    # One graph for printable ASCII alone, one for any text: each traced once.
    assert counting.traces == 2
    # Accents are stripped as BERT's normaliser does, on the general graph.
    assert preprocessing(["wás"])["token_ids"][0][1] == 8  # "was"


def _features_and_labels(x, y=None, sample_weight=None):
    return tiny_preprocessor()(x), y, sample_weight


def test_fits_data_is_featurized_eagerly_with_its_labels_and_weights():
    texts = texts_of_many_lengths(9) + ["the movie wás góod"]
    labels, weights = list(range(10)), np.linspace(0.1, 1.0, 10)
    found = featurized_eagerly(
        _features_and_labels, (texts, labels, weights), tiny_preprocessor()
    )
    expected = tiny_preprocessor()(tf.constant(texts))
    for key, value in expected.items():
        np.testing.assert_array_equal(found[0][key], np.asarray(value))
    assert found[1].tolist() == labels
    np.testing.assert_allclose(found[2], weights)


def test_ragged_features_are_not_featurized_eagerly():
    def ragged(x):
        return ({"token_ids": tf.strings.split(x)},)

    assert featurized_eagerly(ragged, (["a b", "c"],), tiny_preprocessor()) is None
