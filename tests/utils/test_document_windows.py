"""Document windows against run_squad.py's own loops, in NumPy and in a TF graph."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.experimental import numpy as tnp

from keras_bert_impl.utils.document_windows import context_score
from keras_bert_impl.utils.document_windows import document_windows
from keras_bert_impl.utils.document_windows import first_best
from keras_bert_impl.utils.document_windows import max_context_windows
from keras_bert_impl.utils.document_windows import max_window_overlap
from keras_bert_impl.utils.document_windows import pair_window_offset
from keras_bert_impl.utils.document_windows import pair_window_size
from keras_bert_impl.utils.document_windows import window_count
from keras_bert_impl.utils.document_windows import window_span

# (document length, window size, stride): empty, shorter than a window, exact
# fits, strides above the window size, and lengths where scores tie.
CASES = list(
    itertools.product(
        [0, 1, 2, 7, 8, 9, 10, 31, 64, 100], [1, 3, 4, 8, 29], [1, 3, 4, 8, 128]
    )
)


def _run_squad_doc_spans(length, max_tokens_for_doc, doc_stride):
    """google-research/bert run_squad.py's `doc_spans` loop, as written there."""
    doc_spans = []
    start_offset = 0
    while start_offset < length:
        span_length = min(length - start_offset, max_tokens_for_doc)
        doc_spans.append((start_offset, span_length))
        if start_offset + span_length == length:
            break
        start_offset += min(span_length, doc_stride)
    return doc_spans


def _run_squad_is_max_context(doc_spans, cur_span_index, position):
    """run_squad.py's `_check_is_max_context`, as written there."""
    best_score = None
    best_span_index = None
    for span_index, (start, length) in enumerate(doc_spans):
        end = start + length - 1
        if position < start:
            continue
        if position > end:
            continue
        num_left_context = position - start
        num_right_context = end - position
        score = min(num_left_context, num_right_context) + 0.01 * length
        if best_score is None or score > best_score:
            best_score = score
            best_span_index = span_index
    return cur_span_index == best_span_index


@pytest.mark.parametrize("length, window_size, stride", CASES)
def test_windows_and_max_context_are_run_squads(length, window_size, stride):
    starts, lengths = document_windows(length, window_size, stride)
    expected = _run_squad_doc_spans(length, window_size, stride) or [(0, 0)]
    # run_squad.py makes no window for an empty document; ours is one empty one.
    assert list(zip(starts.tolist(), lengths.tolist())) == expected
    best = max_context_windows(length, window_size, stride)
    assert best.shape == (length,)
    for position in range(length):
        for index in range(len(expected)):
            assert (best[position] == index) == _run_squad_is_max_context(
                expected, index, position
            ), (position, index)
    # No piece shares a window further away than `max_window_overlap`.
    overlap = max_window_overlap(window_size, stride)
    for index, (start, span) in enumerate(expected):
        far = [s for s, _ in expected[index + overlap + 1 :]]
        assert all(s > start + span - 1 for s in far)


def test_ties_go_to_the_first_window():
    # Piece 3 has no context on one side in both windows: a tie, window 0.
    assert max_context_windows(10, 4, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(first_best(np.array([[1.0, 2.0, 2.0]])), [1])
    assert first_best(np.full((1, 3), -np.inf)).tolist() == [0]


def test_pair_layout():
    # [CLS] q q q [SEP] w w w w w w w w w w [SEP]: 10 pieces from position 5.
    assert pair_window_size(16, 3) == 10
    assert pair_window_offset(3) == 5


def test_a_tensorflow_graph_computes_the_same_windows_and_scores():
    """The rules with `tensorflow.experimental.numpy` in a graph equal NumPy's."""
    lengths, sizes, strides = (np.array(column, np.int32) for column in zip(*CASES))
    indices = np.arange(-2, 6, dtype=np.int32)[:, None]
    positions = np.arange(0, 40, 3, dtype=np.int32)[:, None, None]

    def rules(xp, document_length, window_size, stride):
        start, length = window_span(indices, document_length, window_size, stride, xp)
        scores = context_score(positions, start, length, xp)
        return (
            window_count(document_length, window_size, stride, xp),
            start,
            length,
            scores,
            first_best(xp.moveaxis(scores, 1, -1), xp),
        )

    graph = tf.function(lambda *args: rules(tnp, *args), autograph=False)
    in_graph = graph(tf.constant(lengths), tf.constant(sizes), tf.constant(strides))
    for got, expected in zip(in_graph, rules(np, lengths, sizes, strides)):
        np.testing.assert_array_equal(got.numpy(), expected)
    assert in_graph[0].dtype == tf.int32 and in_graph[3].dtype == tf.float64
