"""Chinese word boundaries for whole-word masking (the Chinese BERT-wwm remedy).

WordPiece makes every CJK ideograph a word of its own, so `do_whole_word_mask` alone
masks Chinese one character at a time (google-research/bert #780). Chinese BERT-wwm
(Cui et al., 2019) segments the raw text into words with a Chinese segmenter and
masks all characters of a word together, while the model still sees characters.

`chinese_word_continuation` marks the tokens that continue a Chinese word: a CJK
ideograph (the tokenizer's `_is_chinese_char` ranges) whose previous token in the
line is a CJK ideograph of the same segmenter word, found through the tokens'
character offsets. Whole-word masking then joins a token to the one before it when
it is a `##` piece (the original rule) or marked here, so text without ideographs is
grouped exactly as without a segmenter.

The segmenter runs once, at data time, only on lines holding an ideograph; the marks
travel with the corpus into the instances and the records (`word_continuation`), so
dynamic masking groups the same words without segmenting again.
"""

import logging
import re

import numpy as np

from keras_bert_impl.tokenizers._bert_normalizer import CJK_RANGES

WORD_SEGMENTERS = ("jieba",)

# Runs of the tokenizer's CJK ideographs, found without a Python loop over the
# characters of a line.
_CJK_RUN = re.compile(
    "[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_RANGES) + "]+"
)


def word_segmenter(segmenter):
    """`"jieba"` or a callable (str -> words) -> a callable (str -> list of words).

    jieba is optional (`pip install jieba`); its default (accurate) mode with HMM
    for words missing from its dictionary, as Chinese BERT-wwm's LTP segmentation
    does one word per token of text. Any other segmenter (LTP, pkuseg, a custom
    dictionary) can be passed as a callable returning the words of a line in order.
    """
    if callable(segmenter):
        return lambda text: list(segmenter(text))
    if segmenter != "jieba":
        raise ValueError(
            f"chinese_word_segmenter: expected one of {', '.join(WORD_SEGMENTERS)} "
            f"or a callable (str -> words), got {segmenter!r}"
        )
    try:
        import jieba
    except ImportError:
        raise ImportError(
            "chinese_word_segmenter='jieba' needs the jieba package: "
            "pip install jieba (or pip install 'keras_bert_impl[chinese]')"
        ) from None
    jieba.setLogLevel(logging.WARNING)  # its dictionary load logs at INFO
    tokenizer = jieba.Tokenizer()
    return tokenizer.lcut


def _word_of_each_character(line, words):
    """Word number of each character of `line` (characters outside every word,
    such as spaces a segmenter drops, get numbers of their own)."""
    word_of = np.full(len(line), -1, np.int64)
    position = 0
    for number, word in enumerate(words):
        if not word:
            continue
        found = line.find(word, position)
        if found < 0:
            raise ValueError(
                f"chinese_word_segmenter: the word {word!r} is not in the line "
                f"{line!r} after character {position}; expected the line's words in "
                "order, as jieba.lcut returns them"
            )
        word_of[found : found + len(word)] = number
        position = found + len(word)
    outside = word_of < 0
    word_of[outside] = len(words) + np.arange(int(outside.sum()))
    return word_of


def chinese_word_continuation(lines, starts, ends, row_lengths, segment):
    """Marks the tokens that continue a CJK word of the segmenter.

    Args:
        lines: the tokenized strings.
        starts, ends: flat int arrays, each token's character offsets in its line.
        row_lengths: tokens of each line.
        segment: str -> list of words (`word_segmenter`).

    Returns:
        bool array, one per token: a CJK ideograph whose previous token (in the same
        line) is a CJK ideograph of the same word.
    """
    continues = np.zeros(len(starts), bool)
    first_token = np.concatenate([[0], np.cumsum(row_lengths)[:-1]]).astype(np.int64)
    for row, line in enumerate(lines):
        count = int(row_lengths[row])
        runs = [m.span() for m in _CJK_RUN.finditer(line)] if count > 1 else []
        if not runs:
            continue
        ideograph = np.zeros(len(line), bool)
        for run_start, run_end in runs:
            ideograph[run_start:run_end] = True
        first = int(first_token[row])
        start = starts[first : first + count]
        single = (ends[first : first + count] - start) == 1
        cjk = single & ideograph[start]
        word = _word_of_each_character(line, segment(line))[start]
        continues[first + 1 : first + count] = (
            cjk[1:] & cjk[:-1] & (word[1:] == word[:-1])
        )
    return continues
