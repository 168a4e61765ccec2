"""In-memory texts made of printable ASCII: a tokenizer graph without its general path.

`BertTokenizer`'s graph holds two exact paths behind a `tf.cond`: one for
printable ASCII (tensorflow-text's end-to-end WordPiece) and the general one
(the vectorised reference normalisation, 20 of the graph's 24 functions).
Tracing both for `tf.data` cost 0.40 s and the first run of the graph 0.27 to
0.43 s more; the ASCII path alone 0.11 s and 0.07 s (BERT-mini `fit` on 1,024
SST-2 sentences took 9.4 s in all). When every in-memory text is printable
ASCII, which Python checks in microseconds, the graph is traced for that path
alone (`BertTokenizer.tracing_for_printable_ascii`).
"""

import re

import numpy as np

# Printable ASCII, tab, newline and carriage return. The tokenizer's graph
# tests the same class with RE2, which reads it as Python's `re` does.
PRINTABLE_ASCII = "[\t\n\r -~]*"
_TEXT = re.compile(PRINTABLE_ASCII)
_BYTES = re.compile(PRINTABLE_ASCII.encode())


def _leaf_texts(x):
    """Yields each text of nested lists, tuples, dicts and arrays; None for a tensor."""
    if isinstance(x, dict):
        for value in x.values():
            yield from _leaf_texts(value)
    elif isinstance(x, (list, tuple)):
        for value in x:
            yield from _leaf_texts(value)
    elif isinstance(x, np.ndarray):
        if x.dtype.kind in "OUS":
            yield from _leaf_texts(x.ravel().tolist())
    elif isinstance(x, (str, bytes)):
        yield x
    elif not isinstance(x, (int, float, np.generic)):
        yield None  # a tensor, a dataset, ...: its texts are not known here


def all_printable_ascii(x):
    """Whether every text in the in-memory raw inputs `x` is printable ASCII.

    Args:
        x: texts as Python lists, tuples (pairs), dicts or NumPy arrays of
            `str` or `bytes`; numbers in them are skipped.

    Returns:
        bool. False when `x` holds a tensor or a dataset (texts not in memory).
    """
    for text in _leaf_texts(x):
        if text is None:
            return False
        pattern = _BYTES if isinstance(text, bytes) else _TEXT
        if pattern.fullmatch(text) is None:
            return False
    return True


def printable_ascii_tracing(preprocessor, x):
    """A context for tracing `preprocessor` on `x` alone, or None.

    Returns the tokenizer's `tracing_for_printable_ascii()` when
    `preprocessor.tokenizer` has one and every text of `x` is printable
    ASCII; a graph traced inside it must only ever see `x`'s texts.
    """
    tokenizer = getattr(preprocessor, "tokenizer", None)
    tracing = getattr(tokenizer, "tracing_for_printable_ascii", None)
    if tracing is None or not all_printable_ascii(x):
        return None
    return tracing()
