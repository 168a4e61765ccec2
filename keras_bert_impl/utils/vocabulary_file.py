"""The one reader of WordPiece `vocab.txt` files."""

import os
import re

# Python's text mode ends lines at "\n", "\r\n" and "\r" only. Other Unicode
# line separators (U+0085, U+2028, ...) stay inside tokens, as in the
# reference tokenizer, so `str.splitlines()` would miscount the vocabulary.
_LINE_END = re.compile("\r\n|\r|\n")


def read_vocabulary(path):
    """The tokens of a `vocab.txt`, one a line, line i = id i.

    `path` may be a local path or any URL `tf.io.gfile` reads (`gs://...`).
    Invalid UTF-8 is an error naming the file and the byte offset.
    """
    path = os.fspath(path)
    if os.path.isdir(path) or ("://" not in path and not os.path.exists(path)):
        what = "a folder" if os.path.isdir(path) else "nothing"
        raise ValueError(
            f"vocabulary {path}: expected a vocab.txt file (one token a line), "
            f"found {what}; pass the file (--vocab_file)."
        )
    if "://" in path:
        import tensorflow as tf  # Only remote file systems need it.

        with tf.io.gfile.GFile(path, "rb") as file:
            raw = file.read()
    else:
        with open(path, "rb") as file:
            raw = file.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"vocabulary {path}:{line}: expected UTF-8 text, got byte "
            f"{raw[error.start]:#04x} at offset {error.start}. Re-save it as UTF-8."
        ) from error
    tokens = _LINE_END.split(text)
    if tokens and tokens[-1] == "":
        tokens.pop()
    return tokens
