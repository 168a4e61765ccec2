"""The corpus: text files read, tokenized and held as one flat token-id array.

Input is the original `create_pretraining_data.py` format: one sentence per line, a
blank line between documents, UTF-8, many files. Lines are tokenized in batches of
thousands (tensorflow-text, through `keras_bert_impl.tokenizers.BertTokenizer`).

Skipped input (counted in the report, with `file:line` for the first):

- lines that are not valid UTF-8 (`invalid_lines="error"` raises a
  `DataFormatError` naming the file and line instead);
- lines longer than `max_line_chars` characters (no sentence is that long; a
  file without line breaks is the usual cause);
- lines that produce no tokens (only control characters, say), as the original.

Empty input files are listed in the report. A document of one sentence is kept. The
end of a file ends a document (the original ran a file's last document on into the
next file's first).
"""

import numpy as np
import tensorflow as tf

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.pretraining.chinese_words import chinese_word_continuation
from keras_bert_impl.tokenizers._preprocessing_utils import no_convert_scope
from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer

_TOKENIZE_BATCH = 8192
_MAX_SKIP_EXAMPLES = 20


class Corpus:
    """Documents as index ranges over sentences over one flat token-id array.

    Sentences of a document are consecutive in `sent_start` and their tokens are
    consecutive in `tokens`. Documents are in the order they are visited.
    `chinese_word_continuation` (read with a word segmenter, else None) marks the
    tokens that continue a Chinese word, parallel to `tokens` (`chinese_words`).
    """

    def __init__(
        self,
        tokens,
        sent_start,
        sent_len,
        doc_sent_start,
        chinese_word_continuation=None,
    ):
        self.tokens = tokens
        self.sent_start = sent_start
        self.sent_len = sent_len
        self.doc_sent_start = doc_sent_start
        self.chinese_word_continuation = chinese_word_continuation

    @property
    def num_documents(self):
        return len(self.doc_sent_start) - 1

    def index_lists(self):
        """(sentence starts, sentence lengths, document starts) as Python lists,
        which the pairing loop indexes faster than numpy arrays."""
        return (
            self.sent_start.tolist(),
            self.sent_len.tolist(),
            self.doc_sent_start.tolist(),
        )

    def shuffled_documents(self, rng):
        """The corpus with its documents reordered by `rng` (a numpy Generator).

        Only the sentence index arrays move; the tokens stay where they are.
        """
        order = rng.permutation(self.num_documents)
        counts = np.diff(self.doc_sent_start)[order]
        firsts = self.doc_sent_start[:-1][order]
        new_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # Sentence index of every sentence in the new order.
        index = np.repeat(firsts - new_start[:-1], counts) + np.arange(new_start[-1])
        return Corpus(
            self.tokens,
            self.sent_start[index],
            self.sent_len[index],
            new_start,
            self.chinese_word_continuation,
        )


class _SkippedLines:
    """Counts skipped lines by reason and keeps the first few locations."""

    def __init__(self):
        self.counts = {"invalid_utf8": 0, "too_long": 0, "no_tokens": 0}
        self.examples = []

    def add(self, reason, path, line_number):
        self.counts[reason] += 1
        if len(self.examples) < _MAX_SKIP_EXAMPLES:
            self.examples.append(f"{path}:{line_number}: {reason}")


def read_corpus(
    files,
    tokenizer,
    invalid_lines="skip",
    max_line_chars=100_000,
    bar=None,
    word_segmenter=None,
):
    """Reads and tokenizes `files` into a `Corpus` (documents in file order).

    Args:
        files: paths (anything `tf.io.gfile` reads).
        tokenizer: maps a 1-D `tf.string` tensor to ragged token ids (see
            `tokenize_lines`).
        invalid_lines: "skip" or "error" for lines that are not valid UTF-8.
        max_line_chars: longer lines (after stripping) are skipped.
        bar: optional tqdm progress bar, advanced by lines tokenized.
        word_segmenter: optional str -> words callable
            (`chinese_words.word_segmenter`): the corpus then marks the tokens that
            continue a Chinese word; the tokenizer must have `tokenize_with_offsets`.

    Returns:
        (corpus, report): report is a dict with `skipped_lines` ({reason: count}),
        `skipped_examples` (the first `file:line: reason`s) and `empty_files`.
    """
    skips = _SkippedLines()
    token_parts, sent_lengths, sent_doc, continuation_parts = [], [], [], []
    doc = 0
    empty_files = []
    for path in files:
        texts, doc_ids, numbers = [], [], []
        any_line = False
        for number, line in _read_lines(path, skips, invalid_lines, max_line_chars):
            any_line = any_line or bool(line)
            if not line:
                doc += 1
                continue
            texts.append(line)
            doc_ids.append(doc)
            numbers.append(number)
        doc += 1  # a new file starts a new document
        if not any_line:
            empty_files.append(path)
        if word_segmenter is None:
            flat, lengths = tokenize_lines(texts, tokenizer, bar=bar)
        else:
            flat, lengths, continues = tokenize_lines_with_words(
                texts, tokenizer, word_segmenter, bar=bar
            )
            continuation_parts.append(continues)
        for n in np.flatnonzero(lengths == 0):
            skips.add("no_tokens", path, numbers[n])
        token_parts.append(flat)
        sent_lengths.append(lengths)
        sent_doc.append(np.asarray(doc_ids, np.int64))
    tokens = np.concatenate(token_parts) if token_parts else np.zeros(0, np.int32)
    lengths = np.concatenate(sent_lengths) if sent_lengths else np.zeros(0, np.int64)
    docs = np.concatenate(sent_doc) if sent_doc else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    keep = lengths > 0
    starts, lengths, docs = starts[keep], lengths[keep], docs[keep]
    # Documents = runs of equal doc ids (empty documents vanish with their absence).
    if len(docs):
        boundaries = np.flatnonzero(np.diff(docs)) + 1
        doc_sent_start = np.concatenate([[0], boundaries, [len(docs)]]).astype(np.int64)
    else:
        doc_sent_start = np.zeros(1, np.int64)
    report = {
        "skipped_lines": dict(skips.counts),
        "skipped_examples": list(skips.examples),
        "empty_files": empty_files,
    }
    continuation = None
    if word_segmenter is not None:
        continuation = (
            np.concatenate(continuation_parts)
            if continuation_parts
            else np.zeros(0, bool)
        )
    return Corpus(tokens, starts, lengths, doc_sent_start, continuation), report


def _read_lines(path, skips, invalid_lines, max_line_chars):
    """Yields (line_number, stripped text or '' for a document break)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        lines = raw.decode("utf-8").split("\n")
        decoded = True
    except UnicodeDecodeError:
        lines = raw.split(b"\n")
        decoded = False
    if lines and lines[0][:1] in ("\ufeff", b"\xef"):
        lines[0] = lines[0][1:] if decoded else lines[0].removeprefix(b"\xef\xbb\xbf")
    if lines and not lines[-1]:
        lines.pop()  # the final newline does not open a line
    for number, line in enumerate(lines, start=1):
        if not decoded:
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as error:
                if invalid_lines == "error":
                    raise DataFormatError(
                        path,
                        number,
                        f"invalid UTF-8 at byte {error.start} of the line",
                        expected="UTF-8 text",
                        found=line[error.start : error.end],
                    ) from None
                skips.add("invalid_utf8", path, number)
                continue
        line = line.strip()
        if len(line) > max_line_chars:
            skips.add("too_long", path, number)
            continue
        yield number, line


def make_tokenizer(vocabulary, do_lower_case=True):
    """The project's `BertTokenizer` over `vocabulary` (a list of tokens)."""
    return BertTokenizer(vocabulary=list(vocabulary), lowercase=do_lower_case)


def _ragged_to_arrays(output):
    """Tokenizer output for a batch -> (flat ids, per-line lengths) as numpy arrays."""
    if isinstance(output, tf.RaggedTensor):
        while output.ragged_rank > 1:
            output = output.merge_dims(1, 2)
        return (
            np.asarray(output.flat_values.numpy(), np.int32),
            np.asarray(output.row_lengths().numpy(), np.int64),
        )
    if hasattr(output, "numpy"):
        output = output.numpy()
    rows = [np.asarray(row).reshape(-1) for row in output]
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    if not rows:
        return np.zeros((0,), np.int32), lengths
    return np.concatenate(rows).astype(np.int32), lengths


def _tokenized_batches(lines, tokenize, batch_size, bar):
    """(batch of lines, tokenizer output) for consecutive batches of `lines`."""
    for start in range(0, len(lines), batch_size):
        batch = lines[start : start + batch_size]
        with no_convert_scope():  # our layers return tf.RaggedTensors in this scope
            output = tokenize(tf.constant(batch, tf.string))
        if bar is not None:
            bar.update(len(batch))
        yield batch, output


def _checked_rows(flat_and_lengths, batch):
    if len(flat_and_lengths[1]) != len(batch):
        raise ValueError(
            f"the tokenizer returned {len(flat_and_lengths[1])} rows for "
            f"{len(batch)} lines"
        )
    return flat_and_lengths


def tokenize_lines(lines, tokenizer, batch_size=_TOKENIZE_BATCH, bar=None):
    """Tokenizes sentences in batches; returns (flat ids int32, lengths int64).

    `tokenizer` maps a 1-D `tf.string` tensor to ragged token ids (a
    `tf.RaggedTensor` or a list of id lists), e.g.
    `keras_bert_impl.tokenizers.BertTokenizer` (its `tokenize` is used when present:
    one TensorFlow call per batch of thousands of lines).
    """
    tokenize = getattr(tokenizer, "tokenize", tokenizer)
    flats, lengths = [], []
    for batch, output in _tokenized_batches(lines, tokenize, batch_size, bar):
        flat, length = _checked_rows(_ragged_to_arrays(output), batch)
        flats.append(flat)
        lengths.append(length)
    if not flats:
        return np.zeros((0,), np.int32), np.zeros((0,), np.int64)
    return np.concatenate(flats), np.concatenate(lengths)


def tokenize_lines_with_words(
    lines, tokenizer, word_segmenter, batch_size=_TOKENIZE_BATCH, bar=None
):
    """`tokenize_lines` plus each token's Chinese word continuation.

    Returns (flat ids int32, lengths int64, continuation bool per token), the last
    from `chinese_words.chinese_word_continuation` over character offsets.
    """
    if not hasattr(tokenizer, "tokenize_with_offsets"):
        raise ValueError(
            "chinese_word_segmenter needs a tokenizer with tokenize_with_offsets "
            f"(such as keras_bert_impl's BertTokenizer), got {type(tokenizer).__name__}"
        )

    def tokenize(strings):
        return tokenizer.tokenize_with_offsets(strings, unit="char")

    flats, lengths, continuations = [], [], []
    for batch, (ids, starts, ends) in _tokenized_batches(
        lines, tokenize, batch_size, bar
    ):
        flat, length = _checked_rows(_ragged_to_arrays(ids), batch)
        continuations.append(
            chinese_word_continuation(
                batch,
                _ragged_to_arrays(starts)[0],
                _ragged_to_arrays(ends)[0],
                length,
                word_segmenter,
            )
        )
        flats.append(flat)
        lengths.append(length)
    if not flats:
        return np.zeros((0,), np.int32), np.zeros((0,), np.int64), np.zeros(0, bool)
    return np.concatenate(flats), np.concatenate(lengths), np.concatenate(continuations)
