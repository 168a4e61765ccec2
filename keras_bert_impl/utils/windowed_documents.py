"""A batch of documents read in overlapping windows, and the way back to documents.

BERT reads at most `sequence_length` tokens. A longer document is cut into
windows of `window_size` pieces (`sequence_length - 2`, for `[CLS]` and `[SEP]`),
each starting `stride` pieces after the one before, the last reaching the end:
the rule of `document_windows` (run_squad.py's doc spans). `WindowedDocuments`
remembers which window is which, so that the model's outputs on the windows
become outputs on the documents:

- `combine`: one value per document from its windows' values, their mean (the
  default of `BertClassifier`) or maximum;
- `stitch_tokens`: per-token values laid out as if the whole document were one
  `[CLS] pieces [SEP]` sequence, each piece's value taken from the window where
  it has the most context (run_squad.py's `_check_is_max_context`, as the QA
  model's answers are), `[CLS]` from the first window, `[SEP]` from the last;
- `per_window` and `window_token_labels`: document labels for training on the
  windows.

A document shorter than a window has exactly one window, and what comes back
for it is exactly that window's output.
"""

import numpy as np

from keras_bert_impl.utils.document_windows import context_score
from keras_bert_impl.utils.document_windows import window_count
from keras_bert_impl.utils.document_windows import window_span

WINDOW_AGGREGATIONS = ("mean", "max")


class WindowedDocuments:
    """Which document each window reads, and which of its pieces.

    Args:
        document_lengths: int array (documents,), pieces of each document.
        window_size: pieces a window holds.
        stride: pieces between the starts of consecutive windows.

    Attributes:
        document_index, start, length: int arrays (windows,): each window's
            document, its first piece in the document and its piece count;
            windows are in document order, a document's in reading order.
    """

    def __init__(self, document_lengths, window_size, stride):
        self.document_lengths = np.asarray(document_lengths, np.int64)
        self.window_size = int(window_size)
        self.stride = int(stride)
        counts = window_count(self.document_lengths, self.window_size, self.stride)
        self.document_index = np.repeat(np.arange(len(counts)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        number = np.arange(len(self.document_index)) - first[self.document_index]
        self.start, self.length = window_span(
            number,
            self.document_lengths[self.document_index],
            self.window_size,
            self.stride,
        )

    @property
    def num_documents(self):
        return len(self.document_lengths)

    @property
    def num_windows(self):
        return len(self.document_index)

    def per_window(self, values):
        """Per-document values (documents, ...) -> per-window values."""
        return None if values is None else np.asarray(values)[self.document_index]

    def combine(self, values, how="mean"):
        """Per-window values (windows, ...) -> per-document values (documents, ...).

        `how`: "mean" or "max" over each document's windows.
        """
        values = np.asarray(values)
        if how not in WINDOW_AGGREGATIONS:
            raise ValueError(
                "window_aggregation: expected one of "
                f"{', '.join(WINDOW_AGGREGATIONS)}, got {how!r}"
            )
        shape = (self.num_documents,) + values.shape[1:]
        if how == "max":
            out = np.full(shape, -np.inf, values.dtype)
            np.maximum.at(out, self.document_index, values)
            return out
        out = np.zeros(shape, np.float64)
        np.add.at(out, self.document_index, values)
        counts = np.bincount(self.document_index, minlength=self.num_documents)
        counts = counts.reshape((-1,) + (1,) * (values.ndim - 1))
        return (out / counts).astype(values.dtype)

    def _window_pieces(self):
        """(window, offset) of every piece of every window, flat."""
        window = np.repeat(np.arange(self.num_windows), self.length)
        offset = np.arange(len(window)) - np.repeat(
            np.cumsum(self.length) - self.length, self.length
        )
        return window, offset

    def _best_windows(self):
        """(window, piece) of every piece of every document, from the window
        where it has the most context (the first such window on ties)."""
        window, offset = self._window_pieces()
        piece = self.start[window] + offset
        score = context_score(piece, self.start[window], self.length[window])
        document = self.document_index[window]
        order = np.lexsort((window, -score, piece, document))
        document, piece, window, offset = (
            a[order] for a in (document, piece, window, offset)
        )
        first = np.ones(len(order), bool)
        first[1:] = (document[1:] != document[:-1]) | (piece[1:] != piece[:-1])
        return document[first], piece[first], window[first], offset[first]

    def stitch_tokens(self, values, sequence_length):
        """Per-token window values (windows, sequence_length, ...) -> documents.

        Returns (documents, max(sequence_length, longest document + 2), ...):
        position 0 is the first window's `[CLS]`, position `1 + p` piece `p` from
        the window where it has the most context, position `1 + n` the last
        window's `[SEP]`; zeros after it.
        """
        values = np.asarray(values)
        width = max(int(sequence_length), int(self.document_lengths.max(initial=0)) + 2)
        out = np.zeros((self.num_documents, width) + values.shape[2:], values.dtype)
        document, piece, window, offset = self._best_windows()
        out[document, 1 + piece] = values[window, 1 + offset]
        starts = np.flatnonzero(np.r_[True, np.diff(self.document_index) != 0])
        ends = np.r_[starts[1:], self.num_windows] - 1
        out[self.document_index[starts], 0] = values[starts, 0]
        out[self.document_index[ends], 1 + self.document_lengths] = values[
            ends, 1 + self.length[ends]
        ]
        return out

    def window_token_labels(self, labels, sequence_length, ignore_index):
        """Per-token document labels (documents, >= longest + 2), laid out as
        `stitch_tokens` returns values -> per-window labels
        (windows, sequence_length); `[CLS]`, `[SEP]` and padding get
        `ignore_index`."""
        labels = np.asarray(labels)
        out = np.full((self.num_windows, int(sequence_length)), ignore_index)
        out = out.astype(labels.dtype)
        window, offset = self._window_pieces()
        source = 1 + self.start[window] + offset
        if labels.shape[1] <= int(source.max(initial=0)):
            raise ValueError(
                f"labels: expected one per token of each document laid out as "
                f"[CLS] pieces [SEP] (at least {int(source.max()) + 2} columns), got "
                f"{labels.shape[1]} columns"
            )
        out[window, 1 + offset] = labels[self.document_index[window], source]
        return out
