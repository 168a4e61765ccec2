"""The vocabulary pretraining needs: a vocab.txt with `[CLS]`, `[SEP]`, `[MASK]`."""

import os

from keras_bert_impl.utils.vocabulary_file import read_vocabulary

REQUIRED_TOKENS = ("[CLS]", "[SEP]", "[MASK]")


def read_pretraining_vocabulary(vocabulary, purpose="pretraining data"):
    """The tokens (line i is id i) of a vocab file, a token list or a tokenizer.

    Raises `ValueError` naming the file when `[CLS]`, `[SEP]` or `[MASK]` is
    missing; `purpose` says what needs them.
    """
    where = "the vocabulary"
    if hasattr(vocabulary, "get_vocabulary"):
        tokens = list(vocabulary.get_vocabulary())
    elif hasattr(vocabulary, "vocabulary"):
        tokens = list(vocabulary.vocabulary)
    elif isinstance(vocabulary, (str, os.PathLike)):
        if os.path.isdir(vocabulary):
            raise ValueError(
                f"--vocab_file {os.fspath(vocabulary)} is a directory, expected "
                "a vocab.txt file (one token a line): name the file inside it"
            )
        tokens = read_vocabulary(vocabulary)
        where = f"{os.fspath(vocabulary)}: the vocabulary"
    else:
        tokens = [str(t) for t in vocabulary]
    missing = [t for t in REQUIRED_TOKENS if t not in tokens]
    if missing:
        raise ValueError(
            f"{where} lacks {', '.join(missing)} "
            f"({purpose} needs {', '.join(REQUIRED_TOKENS)})"
        )
    return tokens
