"""Overlapping windows over a long document, and the window that scores each piece.

A document longer than a sequence is read in windows ("doc spans" of the
original run_squad.py): each holds at most `window_size` pieces, starts
`stride` pieces after the previous one, and the last one reaches the end. A
piece that lies in several windows is scored in the one where it has the most
context: the highest `min(pieces left of it, pieces right of it) + 0.01 *
window length`, the first such window on ties (`_check_is_max_context`).

The rules are written once, against an array module `xp` that is `numpy` for
the featurizers and `tensorflow.experimental.numpy` inside the graph of an
exported SavedModel, so that both compute the same windows and the same
scores. Only element-wise arithmetic with broadcasting is used: any shape
works, so a graph can compute every window of a batch of documents at once.
"""

import numpy as np

CONTEXT_LENGTH_WEIGHT = 0.01
"""Weight of a window's length in a piece's context score (run_squad.py's 0.01)."""
PAIR_SPECIAL_TOKENS = 3
"""`[CLS] question [SEP] window [SEP]`: the tokens a question-window pair adds."""


def pair_window_size(sequence_length, question_length):
    """Pieces a window holds packed as `[CLS] question [SEP] window [SEP]`."""
    return sequence_length - question_length - PAIR_SPECIAL_TOKENS


def pair_window_offset(question_length):
    """Position of a window's first piece in its packed sequence."""
    return question_length + 2


def window_step(window_size, stride, xp=np):
    """Pieces between the starts of windows: the stride, at most a window."""
    return xp.minimum(stride, window_size)


def window_count(document_length, window_size, stride, xp=np):
    """Windows over a document: the last reaches its end; an empty one has one."""
    step = window_step(window_size, stride, xp)
    return 1 + (xp.maximum(document_length - window_size, 0) + step - 1) // step


def window_span(index, document_length, window_size, stride, xp=np):
    """`(start, length)` of window `index` of a document, in pieces.

    Any integer index is computed: an index outside `[0, window_count)` gives
    a span the caller must mask (a negative or empty one, or one past the end).
    """
    start = index * window_step(window_size, stride, xp)
    return start, xp.minimum(document_length - start, window_size)


def context_score(position, start, length, xp=np):
    """How much context the window `(start, length)` gives the piece at `position`.

    Returns:
        float64 `min(left, right) + 0.01 * length`, as run_squad.py's Python
        floats (so that equal scores are the same ties), and -inf where the
        window does not hold the piece.
    """
    left = position - start
    right = start + length - 1 - position
    score = xp.asarray(xp.minimum(left, right), "float64") + (
        CONTEXT_LENGTH_WEIGHT * xp.asarray(length, "float64")
    )
    return xp.where((left >= 0) & (right >= 0), score, -np.inf)


def first_best(scores, xp=np):
    """Index of the highest score along the last axis: the first one on ties.

    Written out instead of `argmax`, whose choice among ties TensorFlow does
    not guarantee.
    """
    count = scores.shape[-1]
    best = xp.max(scores, axis=-1, keepdims=True)
    return xp.min(xp.where(scores == best, xp.arange(count), count), axis=-1)


def max_window_overlap(window_size, stride):
    """How many windows before (or after) a window can share a piece with it."""
    return (int(window_size) - 1) // max(min(int(stride), int(window_size)), 1)


def document_windows(document_length, window_size, stride):
    """`(starts, lengths)` of a document's windows, as NumPy int arrays.

    Example:
    ```python
    document_windows(10, window_size=4, stride=3)
    # (array([0, 3, 6]), array([4, 4, 4]))
    ```
    """
    count = int(window_count(document_length, window_size, stride))
    return window_span(np.arange(count), document_length, window_size, stride)


def max_context_windows(document_length, window_size, stride):
    """For each piece of a document, the window in which it has the most context.

    Example:
    ```python
    max_context_windows(10, window_size=4, stride=3)
    # array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    ```
    """
    starts, lengths = document_windows(document_length, window_size, stride)
    positions = np.arange(document_length)[:, None]
    return first_best(context_score(positions, starts[None, :], lengths[None, :]))
