"""The export's in-graph SQuAD windows are `SquadFeaturizer`'s, on real SQuAD text."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data.squad import read_squad
from keras_bert_impl.data.squad_featurizer import SquadFeaturizer
from keras_bert_impl.export.question_answerer_serving_head import (
    question_context_windows,
)
from keras_bert_impl.tokenizers import BertTokenizer


@pytest.fixture(scope="module")
def squad(shared_data):
    tokenizer = BertTokenizer(str(shared_data / "vocab" / "uncased" / "vocab.txt"))
    # The real SQuAD v2.0 dev subset: 626 questions over 48 articles' paragraphs.
    path = shared_data / "squad" / "haystack_squad_v2_dev_subset_small.json"
    return tokenizer, read_squad(path)


@pytest.mark.parametrize(
    "sequence_length, doc_stride, max_query_length",
    [(384, 128, 64), (128, 32, 64), (64, 7, 16)],
    ids=["paper", "short", "tiny_stride"],
)
def test_windows_and_max_context_are_the_featurizers(
    squad, sequence_length, doc_stride, max_query_length
):
    tokenizer, examples = squad
    featurizer = SquadFeaturizer(
        tokenizer, sequence_length, doc_stride, max_query_length
    )
    features = featurizer.featurize(examples)

    @tf.function(autograph=False)
    def export_windows(questions, contexts):
        # As the exported string signature tokenizes: in the graph.
        query = tokenizer.tokenize(questions)
        document, char_starts, _ = tokenizer.tokenize_with_offsets(
            contexts, unit="char"
        )
        query_length = tf.minimum(
            tf.cast(query.row_lengths(), tf.int32), max_query_length
        )
        windows = question_context_windows(
            query_length,
            tf.cast(document.row_lengths(), tf.int32),
            sequence_length,
            doc_stride,
        )
        first_piece = tf.gather(document.row_starts(), windows["example"]) + tf.cast(
            windows["start"], tf.int64
        )
        windows["first_char"] = tf.gather(char_starts.flat_values, first_piece)
        return windows

    windows = export_windows(
        tf.constant([example.question for example in examples]),
        tf.constant([example.context for example in examples]),
    )
    # The same windows of the same questions, in the same order.
    np.testing.assert_array_equal(windows["example"], features["example_index"])
    holds = features["token_start_chars"] >= 0
    np.testing.assert_array_equal(windows["length"], holds.sum(axis=1))
    # Each window's first piece: at the same packed position, the same piece.
    first_position = np.argmax(holds, axis=1)
    np.testing.assert_array_equal(
        windows["piece_offset"] + first_position, windows["start"]
    )
    rows = np.arange(len(first_position))
    np.testing.assert_array_equal(
        windows["first_char"], features["token_start_chars"][rows, first_position]
    )
    np.testing.assert_array_equal(
        windows["has_max_context"], features["token_is_max_context"]
    )
    assert windows["count"].numpy().max() >= 2  # contexts longer than a window
