"""Windows of a batch of documents and the way back, against run_squad.py's loops."""

import numpy as np
import pytest

from keras_bert_impl.utils.windowed_documents import WindowedDocuments
from tests.utils.test_document_windows import _run_squad_doc_spans
from tests.utils.test_document_windows import _run_squad_is_max_context

LENGTHS = [0, 1, 9, 10, 11, 23, 40]
WINDOW, STRIDE = 10, 4


@pytest.fixture
def windows():
    return WindowedDocuments(LENGTHS, WINDOW, STRIDE)


def test_windows_are_run_squads_doc_spans_in_document_order(windows):
    expected = []
    for document, length in enumerate(LENGTHS):
        spans = _run_squad_doc_spans(length, WINDOW, STRIDE) or [(0, 0)]
        expected += [(document, start, size) for start, size in spans]
    found = zip(windows.document_index, windows.start, windows.length)
    assert [tuple(map(int, row)) for row in found] == expected


def test_combine_is_the_mean_or_max_of_each_documents_windows(windows):
    values = np.random.default_rng(0).normal(size=(windows.num_windows, 3))
    for how, reduce in (("mean", np.mean), ("max", np.max)):
        combined = windows.combine(values.astype("float32"), how)
        for document in range(len(LENGTHS)):
            mine = values[windows.document_index == document]
            np.testing.assert_allclose(combined[document], reduce(mine, 0), rtol=1e-6)
    with pytest.raises(ValueError, match="expected one of mean, max, got 'sum'"):
        windows.combine(values, "sum")


def test_stitched_tokens_come_from_the_max_context_window(windows):
    sequence = WINDOW + 2
    # A window's value at position i: (window number, i), to see where each came from.
    values = np.stack(
        np.meshgrid(np.arange(windows.num_windows), np.arange(sequence), indexing="ij"),
        axis=-1,
    )
    stitched = windows.stitch_tokens(values, sequence)
    assert stitched.shape == (len(LENGTHS), max(LENGTHS) + 2, 2)
    first_window = 0
    for document, length in enumerate(LENGTHS):
        spans = _run_squad_doc_spans(length, WINDOW, STRIDE) or [(0, 0)]
        row = stitched[document]
        assert tuple(row[0]) == (first_window, 0)  # [CLS] of the first window
        last = first_window + len(spans) - 1
        assert tuple(row[length + 1]) == (last, spans[-1][1] + 1)  # its [SEP]
        for piece in range(length):
            best = [
                i
                for i in range(len(spans))
                if _run_squad_is_max_context(spans, i, piece)
            ]
            start = spans[best[0]][0]
            assert tuple(row[piece + 1]) == (first_window + best[0], piece - start + 1)
        assert (row[length + 2 :] == 0).all()
        first_window += len(spans)


def test_window_token_labels_slice_the_document_labels(windows):
    labels = np.full((len(LENGTHS), max(LENGTHS) + 2), -100)
    for document, length in enumerate(LENGTHS):
        labels[document, 1 : length + 1] = 1000 * document + np.arange(length)
    per_window = windows.window_token_labels(labels, WINDOW + 2, -100)
    for w, (document, start, size) in enumerate(
        zip(windows.document_index, windows.start, windows.length)
    ):
        expected = np.full(WINDOW + 2, -100)
        expected[1 : size + 1] = 1000 * document + start + np.arange(size)
        np.testing.assert_array_equal(per_window[w], expected)
    with pytest.raises(ValueError, match="at least 42 columns"):
        windows.window_token_labels(labels[:, :30], WINDOW + 2, -100)
