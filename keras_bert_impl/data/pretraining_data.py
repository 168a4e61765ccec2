"""Pretraining data generation: the original `create_pretraining_data.py`, fast.

The algorithm is google-research/bert's `create_pretraining_data.py`, step by step:

- Input: one sentence per line, a blank line between documents; many files.
- Documents are shuffled; each is visited `dupe_factor` times.
- For each visit a target length is drawn: `max_seq_length - 3`, or with
  probability `short_seq_prob` a uniform integer in `[2, max_seq_length - 3]`.
  Sentences are gathered into a chunk until the target is reached (or the
  document ends); `a_end`, the number of sentences in segment A, is uniform in
  `[1, len(chunk) - 1]`.
- B is the rest of the chunk, or (probability 0.5, and always when the chunk
  holds a single sentence) sentences from a random other document starting at a
  random sentence, filled up to the target; the chunk's unused sentences are put
  back.
- The longer of A and B loses tokens, from the front or the back at random
  (probability 0.5 each), until `len(A) + len(B) <= max_seq_length - 3`.
- `[CLS] A [SEP] B [SEP]`; `min(max_predictions_per_seq, max(1, round(len *
  masked_lm_prob)))` positions are masked, chosen at random among all tokens but
  `[CLS]`/`[SEP]` (whole words when `do_whole_word_mask`: a `##` piece joins the
  piece before it, and a word that would overflow the count is skipped); each
  masked token becomes `[MASK]` (80%), stays (10%) or becomes a token drawn
  uniformly from the vocabulary (10%).
- All instances are shuffled and written round-robin to the output files as
  `tf.train.Example`s with the original feature names and layout (`input_ids`,
  `input_mask`, `segment_ids`, `masked_lm_positions`, `masked_lm_ids`,
  `masked_lm_weights`, `next_sentence_labels`; ids and masks zero-padded).
- Optionally (`pack_sequences=True`, not in the original) the instances of each
  task are packed several to a row (`keras_bert_impl.data.sequence_packing`) before
  the shuffle; the instances themselves are the same as without packing.

What differs is how it runs, not what it draws from:

- Lines are tokenized in batches of thousands (tensorflow-text, through
  `keras_bert_impl.tokenizers.BertTokenizer`); the corpus is one flat id array.
- The work is cut into tasks (one dupe round over a fixed block of documents);
  each task has its own seeds derived from `random_seed` and its position, and
  tasks run in worker processes. Outputs are byte-identical for any number of
  workers.
- Masking and the `tf.train.Example` encoding are vectorized with numpy.
- Random draws come from per-task generators, so a seed gives other instances
  than the original tool's single `random.Random(seed)` does, with the same
  distribution. A truncation draws, for each of A and B, how many of its removed
  tokens come from the front (a binomial, as the original's one coin per token).

Skipped input (counted in the returned summary, with `file:line` for the first):

- lines that are not valid UTF-8 (`invalid_lines="error"` raises a
  `DataFormatError` naming the file and line instead);
- lines longer than `max_line_chars` characters (no sentence is that long; a
  file without line breaks is the usual cause);
- lines that produce no tokens (only control characters, say), as the original.

Empty input files are listed in the summary; no text at all is an error, so is
a vocabulary without `[CLS]`, `[SEP]` or `[MASK]`. A document of one sentence is
kept (its instances always take a random B, as in the original). The end of a
file ends a document (the original ran a file's last document on into the next
file's first).
"""

import contextlib
import gc
import math
import multiprocessing
import os
import random
import time
import warnings

import numpy as np

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.sequence_packing import pack_instances

FEATURE_NAMES = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)
REQUIRED_TOKENS = ("[CLS]", "[SEP]", "[MASK]")
# Tokens per task: a task is one dupe round over a block of documents holding about
# this many tokens. Fixed (not derived from the number of workers) so that outputs do
# not depend on it.
_TOKENS_PER_TASK = 1 << 16
_TOKENIZE_BATCH = 8192
_MAX_SKIP_EXAMPLES = 20


# ----------------------------------------------------------------------------
# Inputs: files, vocabulary, lines, tokenization.


def _split_paths(paths):
    """A comma-separated string (the original flag) or a list of paths/globs."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [p for p in os.fspath(paths).split(",") if p.strip()]
    return [os.fspath(p).strip() for p in paths]


def expand_input_files(input_files):
    """Expands comma-separated globs (or a list of them) into a list of files.

    Raises `FileNotFoundError` when a pattern matches nothing.
    """
    import tensorflow as tf

    files = []
    for pattern in _split_paths(input_files):
        if any(ch in pattern for ch in "*?["):
            matched = sorted(tf.io.gfile.glob(pattern))
        else:
            matched = [pattern] if tf.io.gfile.exists(pattern) else []
        if not matched:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        files.extend(matched)
    return files


def load_vocabulary(vocab_file):
    """Reads a WordPiece vocabulary file (one token a line) and checks it.

    Returns the list of tokens (line i is id i). Raises `ValueError` naming the file
    when `[CLS]`, `[SEP]` or `[MASK]` is missing.
    """
    import tensorflow as tf

    if isinstance(vocab_file, (list, tuple)):
        vocab = [str(t) for t in vocab_file]
        where = "the vocabulary"
    else:
        with tf.io.gfile.GFile(os.fspath(vocab_file), "rb") as f:
            raw = f.read()
        vocab = [t.strip() for t in raw.decode("utf-8").split("\n")]
        if vocab and vocab[-1] == "":
            vocab.pop()
        where = os.fspath(vocab_file)
    missing = [t for t in REQUIRED_TOKENS if t not in vocab]
    if missing:
        raise ValueError(
            f"{where}: the vocabulary lacks {', '.join(missing)} "
            f"(pretraining data needs {', '.join(REQUIRED_TOKENS)})"
        )
    return vocab


class _Skips:
    """Counts skipped lines by reason and keeps the first few locations."""

    def __init__(self):
        self.counts = {"invalid_utf8": 0, "too_long": 0, "no_tokens": 0}
        self.examples = []

    def add(self, reason, path, line_number):
        self.counts[reason] += 1
        if len(self.examples) < _MAX_SKIP_EXAMPLES:
            self.examples.append(f"{path}:{line_number}: {reason}")


def _read_lines(path, skips, invalid_lines, max_line_chars):
    """Yields (line_number, stripped text or '' for a document break)."""
    import tensorflow as tf

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


class _TFTextTokenizer:
    """Stand-in while `keras_bert_impl.tokenizers.BertTokenizer` is unavailable."""

    def __init__(self, vocabulary, lowercase):
        import tensorflow as tf
        import tensorflow_text as tf_text

        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                vocabulary, tf.range(len(vocabulary), dtype=tf.int64)
            ),
            num_oov_buckets=1,
        )
        self._tokenizer = tf_text.BertTokenizer(
            table,
            lower_case=lowercase,
            token_out_type=tf.int64,
            unknown_token="[UNK]",
        )

    def __call__(self, lines):
        return self._tokenizer.tokenize(lines).merge_dims(-2, -1)


def make_tokenizer(vocabulary, do_lower_case=True):
    """The project's `BertTokenizer` over `vocabulary` (a list of tokens)."""
    try:
        from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
    except ImportError:
        warnings.warn(
            "keras_bert_impl.tokenizers.bert_tokenizer is unavailable; tokenizing with "
            "tensorflow_text.BertTokenizer directly",
            stacklevel=2,
        )
        return _TFTextTokenizer(vocabulary, do_lower_case)
    return BertTokenizer(vocabulary=list(vocabulary), lowercase=do_lower_case)


def _ragged_to_arrays(output):
    """Tokenizer output for a batch -> (flat ids, per-line lengths) as numpy arrays."""
    import tensorflow as tf

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


def tokenize_lines(lines, tokenizer, batch_size=_TOKENIZE_BATCH, bar=None):
    """Tokenizes sentences in batches; returns (flat ids int32, lengths int64).

    `tokenizer` maps a 1-D `tf.string` tensor to ragged token ids (a
    `tf.RaggedTensor` or a list of id lists), e.g.
    `keras_bert_impl.tokenizers.BertTokenizer` (its `tokenize` is used when present:
    one TensorFlow call per batch of thousands of lines).
    """
    import tensorflow as tf

    tokenize = getattr(tokenizer, "tokenize", tokenizer)
    try:  # our layers return tf.RaggedTensors (not Python lists) in this scope
        from keras_bert_impl.tokenizers._preprocessing_utils import no_convert_scope
    except ImportError:
        no_convert_scope = contextlib.nullcontext
    flats, lengths = [], []
    for start in range(0, len(lines), batch_size):
        batch = lines[start : start + batch_size]
        with no_convert_scope():
            output = tokenize(tf.constant(batch, tf.string))
        flat, length = _ragged_to_arrays(output)
        if bar is not None:
            bar.update(len(batch))
        if len(length) != len(batch):
            raise ValueError(
                f"the tokenizer returned {len(length)} rows for {len(batch)} lines"
            )
        flats.append(flat)
        lengths.append(length)
    if not flats:
        return np.zeros((0,), np.int32), np.zeros((0,), np.int64)
    return np.concatenate(flats), np.concatenate(lengths)


class _Corpus:
    """Documents as index ranges over sentences over one flat token-id array.

    Sentences of a document are consecutive in `sent_start` and their tokens are
    consecutive in `tokens`. Documents are in the (shuffled) order they are visited.
    """

    def __init__(self, tokens, sent_start, sent_len, doc_sent_start):
        self.tokens = tokens
        self.sent_start = sent_start
        self.sent_len = sent_len
        self.doc_sent_start = doc_sent_start

    @property
    def num_documents(self):
        return len(self.doc_sent_start) - 1


def _build_corpus(files, tokenizer, skips, invalid_lines, max_line_chars, progress):
    """Reads and tokenizes all files into a `_Corpus` (documents in file order)."""
    token_parts, sent_lengths, sent_doc = [], [], []
    doc = 0
    empty_files = []
    bar = _progress_bar(progress, None, "reading and tokenizing", "line")
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
        flat, lengths = tokenize_lines(texts, tokenizer, bar=bar)
        for n in np.flatnonzero(lengths == 0):
            skips.add("no_tokens", path, numbers[n])
        token_parts.append(flat)
        sent_lengths.append(lengths)
        sent_doc.append(np.asarray(doc_ids, np.int64))
    bar.close()
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
    return _Corpus(tokens, starts, lengths, doc_sent_start), empty_files


def _shuffle_documents(corpus, rng):
    """Reorders documents (sentence index arrays only; tokens stay where they are)."""
    n = corpus.num_documents
    order = rng.permutation(n)
    counts = np.diff(corpus.doc_sent_start)[order]
    firsts = corpus.doc_sent_start[:-1][order]
    new_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # Sentence index of every sentence in the new order.
    index = np.repeat(firsts - new_start[:-1], counts) + np.arange(new_start[-1])
    return _Corpus(
        corpus.tokens, corpus.sent_start[index], corpus.sent_len[index], new_start
    )


# ----------------------------------------------------------------------------
# The algorithm, per task (one dupe round over one block of documents).


def _seed_words(random_seed):
    return int(random_seed) & 0xFFFFFFFFFFFFFFFF


def _task_generators(random_seed, dupe, block):
    seed = _seed_words(random_seed)
    py_rng = random.Random(f"keras_bert_impl/{seed}/{dupe}/{block}")
    np_rng = np.random.default_rng([seed, 1, dupe, block])
    return py_rng, np_rng


def _pair_instances(
    corpus_lists, doc_range, num_docs, max_num_tokens, short_seq_prob, rng, stats
):
    """The original's create_instances_from_document over a block of documents.

    Returns a list of (a_lo, a_hi, b_lo, b_hi, is_random_next) token ranges.
    """
    sent_start, sent_len, doc_sent_start = corpus_lists
    rand = rng.random

    def randint(low, high):  # uniform on [low, high], as random.randint, faster
        return low + int(rand() * (high - low + 1))

    out = []
    for doc in range(*doc_range):
        s0 = doc_sent_start[doc]
        n_sent = doc_sent_start[doc + 1] - s0
        target = max_num_tokens
        stats["passes"] += 1
        if rand() < short_seq_prob:
            target = randint(2, max_num_tokens)
            stats["short_passes"] += 1
        chunk_first = 0  # sentence offset (in the document) of the current chunk
        current_length = 0
        i = 0
        while i < n_sent:
            current_length += sent_len[s0 + i]
            if i == n_sent - 1 or current_length >= target:
                n_seg = i - chunk_first + 1
                a_end = randint(1, n_seg - 1) if n_seg >= 2 else 1
                first = s0 + chunk_first
                a_lo = sent_start[first]
                last_a = first + a_end - 1
                a_hi = sent_start[last_a] + sent_len[last_a]
                len_a = a_hi - a_lo
                if n_seg == 1 or rand() < 0.5:
                    is_random = True
                    target_b = target - len_a
                    for _ in range(10):
                        other = randint(0, num_docs - 1)
                        if other != doc:
                            break
                    o0 = doc_sent_start[other]
                    o_n = doc_sent_start[other + 1] - o0
                    j = o0 + randint(0, o_n - 1)
                    b_lo = sent_start[j]
                    len_b = 0
                    end = o0 + o_n
                    while j < end:
                        len_b += sent_len[j]
                        j += 1
                        if len_b >= target_b:
                            break
                    b_hi = b_lo + len_b
                    i -= n_seg - a_end  # put the unused sentences back
                else:
                    is_random = False
                    b_lo = a_hi
                    b_hi = sent_start[s0 + i] + sent_len[s0 + i]
                    len_b = b_hi - b_lo
                # truncate_seq_pair: the longer one loses a token (front or back)
                # until they fit; counted in closed form, front/back by coins.
                excess = len_a + len_b - max_num_tokens
                if excess > 0:
                    gap = min(excess, abs(len_a - len_b))
                    rest = excess - gap
                    cut_a = rest // 2 + (gap if len_a > len_b else 0)
                    cut_b = rest - rest // 2 + (gap if len_a <= len_b else 0)
                    if cut_a:
                        front = rng.getrandbits(cut_a).bit_count()
                        a_lo += front
                        a_hi -= cut_a - front
                    if cut_b:
                        front = rng.getrandbits(cut_b).bit_count()
                        b_lo += front
                        b_hi -= cut_b - front
                out.append((a_lo, a_hi, b_lo, b_hi, is_random))
                chunk_first = i + 1
                current_length = 0
            i += 1
    return out


def _assemble(tokens, pairs, max_seq_length, cls_id, sep_id):
    """Builds padded `[CLS] A [SEP] B [SEP]` rows; returns (ids, lengths, len_a)."""
    p = np.asarray(pairs, np.int64).reshape(-1, 5)
    a_lo, a_hi, b_lo, b_hi = p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4]
    len_a = a_hi - a_lo
    length = len_a + (b_hi - b_lo) + 3
    pos = np.arange(max_seq_length)[None, :]
    in_a = (pos >= 1) & (pos <= len_a)
    in_b = (pos >= len_a + 2) & (pos < length - 1)
    src = np.where(in_a, a_lo + pos - 1, np.where(in_b, b_lo + pos - len_a - 2, 0))
    ids = np.where(in_a | in_b, tokens[src], 0).astype(np.int64)
    ids[:, 0] = cls_id
    rows = np.arange(len(p))
    ids[rows, len_a[:, 0] + 1] = sep_id
    ids[rows, length[:, 0] - 1] = sep_id
    return ids, length[:, 0], len_a[:, 0]


def _choose_whole_words(cand, group_start, keys, num_to_predict):
    """Whole-word selection with the original's greedy rule, vectorized over rows.

    Groups (a piece and the `##` pieces joined to it) are visited in random order
    (the key of their first piece); a group is taken when it fits in the count,
    skipped when it would overflow it, until the count is reached.
    """
    n, seq = cand.shape
    group = np.where(cand, np.cumsum(group_start, axis=1) - 1, seq)
    flat = group + (np.arange(n) * (seq + 1))[:, None]
    sizes = np.bincount(flat.ravel(), weights=cand.ravel(), minlength=n * (seq + 1))
    sizes = sizes.reshape(n, seq + 1)[:, :seq].astype(np.int64)
    group_keys = np.full((n, seq + 1), 2.0)
    rows, cols = np.nonzero(group_start)
    group_keys[rows, group[rows, cols]] = keys[rows, cols]
    order = np.argsort(group_keys[:, :seq], axis=1, kind="stable")
    sorted_sizes = np.take_along_axis(sizes, order, axis=1)
    count = np.zeros(n, np.int64)
    taken_sorted = np.zeros((n, seq), bool)
    for j in range(int((sizes > 0).sum(axis=1).max(initial=0))):
        size = sorted_sizes[:, j]
        take = (count < num_to_predict) & (size > 0) & (count + size <= num_to_predict)
        count += np.where(take, size, 0)
        taken_sorted[:, j] = take
        if (count >= num_to_predict).all():
            break
    taken = np.zeros((n, seq + 1), bool)
    np.put_along_axis(taken[:, :seq], order, taken_sorted, axis=1)
    return np.take_along_axis(taken, group, axis=1) & cand


def _mask(ids, length, len_a, rng, cfg, stats):
    """The original's create_masked_lm_predictions, vectorized over rows.

    Returns (masked ids, positions, labels, weights) with positions ascending.
    """
    n, seq = ids.shape
    pos = np.arange(seq)[None, :]
    cand = (pos >= 1) & (pos < length[:, None] - 1) & (pos != len_a[:, None] + 1)
    cand &= (ids != cfg["cls_id"]) & (ids != cfg["sep_id"])
    num_to_predict = np.minimum(
        cfg["max_predictions_per_seq"],
        np.maximum(1, np.round(length * cfg["masked_lm_prob"]).astype(np.int64)),
    )
    num_to_predict = np.minimum(num_to_predict, cand.sum(axis=1))
    keys = rng.random((n, seq))
    if cfg["do_whole_word_mask"]:
        continuation = cfg["is_continuation"][ids]
        # A `##` piece joins the previous candidate (there is one unless it is at 1).
        group_start = cand & ~(continuation & (pos > 1))
        selected = _choose_whole_words(cand, group_start, keys, num_to_predict)
    else:
        keys = np.where(cand, keys, 2.0)
        kth = np.sort(keys, axis=1)[np.arange(n), np.maximum(num_to_predict - 1, 0)]
        selected = cand & (keys <= kth[:, None]) & (num_to_predict[:, None] > 0)
    rows, cols = np.nonzero(selected)
    labels = ids[rows, cols]
    u = rng.random(len(rows))
    random_ids = rng.integers(0, cfg["vocab_size"], len(rows))
    replaced = np.where(u < 0.8, cfg["mask_id"], np.where(u < 0.9, labels, random_ids))
    masked = ids.copy()
    masked[rows, cols] = replaced
    counts = selected.sum(axis=1)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = cfg["max_predictions_per_seq"]
    positions = np.zeros((n, width), np.int64)
    label_ids = np.zeros((n, width), np.int64)
    weights = np.zeros((n, width), np.float32)
    positions[rows, slot] = cols
    label_ids[rows, slot] = labels
    weights[rows, slot] = 1.0
    stats["tokens"] += int(length.sum())
    stats["masked"] += len(rows)
    stats["mask_token"] += int((u < 0.8).sum())
    stats["kept"] += int(((u >= 0.8) & (u < 0.9)).sum())
    stats["random_token"] += int((u >= 0.9).sum())
    return masked, positions, label_ids, weights


# ----------------------------------------------------------------------------
# tf.train.Example encoding without protobuf objects (vectorized over rows).


def _varint_len(values):
    v = np.asarray(values, np.uint64)
    n = np.ones(v.shape, np.int64)
    for k in range(1, 10):
        limit = np.uint64(1 << (7 * k))
        if not (v >= limit).any():
            break
        n += v >= limit
    return n


_TABLES = {}


def _varint_table(size):
    """Varint bytes (size, width) and byte counts (size,) of 0..size-1, cached."""
    size = max(int(size), 1 << 14)
    size = 1 << (size - 1).bit_length()
    if size not in _TABLES:
        values = np.arange(size, dtype=np.uint64)
        count = _varint_len(values)
        width = int(count[-1])
        k = np.arange(width)
        shifts = np.uint64(7) * k.astype(np.uint64)
        parts = (values[:, None] >> shifts) & np.uint64(0x7F)
        cont = (k < count[:, None] - 1).astype(np.uint64) << np.uint64(7)
        _TABLES[size] = ((parts | cont).astype(np.uint8), count.astype(np.int64))
    return _TABLES[size]


def _varint(values, width=None):
    """Varints of ints >= 0, (N, K) -> (bytes (N, K*w), mask, bytes per row)."""
    v = np.asarray(values, np.int64)
    table, count = _varint_table(int(v.max(initial=0)) + 1)
    if width is None:
        width = int(count[v.max(initial=0)])
    counts = count[v]
    data = table[v, :width]
    mask = np.arange(width) < counts[..., None]
    n = v.shape[0]
    return data.reshape(n, -1), mask.reshape(n, -1), counts.sum(axis=1)


def _const(n, data):
    data = np.frombuffer(bytes(data), np.uint8)
    return np.broadcast_to(data, (n, len(data))), None


def encode_examples(features):
    """Serializes rows of features as `tf.train.Example`s.

    Args:
        features: list of (name, kind, array (N, K)); kind is "int64" (non-negative
            values) or "float" (float32).

    Returns:
        (blob, offsets): the N serialized examples concatenated, and N + 1 offsets.
    """
    n = features[0][2].shape[0]
    pieces = []
    features_len = np.zeros(n, np.int64)
    for name, kind, values in features:
        key = name.encode()
        if kind == "int64":
            payload, payload_mask, payload_len = _varint(values)
            tag = 0x1A  # Feature.int64_list
        else:
            payload = np.ascontiguousarray(values, "<f4").view(np.uint8)
            payload = payload.reshape(n, -1)
            payload_mask = None
            payload_len = np.full(n, payload.shape[1], np.int64)
            tag = 0x12  # Feature.float_list
        list_len = 1 + _varint(payload_len[:, None])[2] + payload_len
        feature_len = 1 + _varint(list_len[:, None])[2] + list_len
        body_len = 2 + len(key) + 1 + _varint(feature_len[:, None])[2] + feature_len
        entry_len = 1 + _varint(body_len[:, None])[2] + body_len
        features_len += entry_len
        if (payload_len == payload_len[0]).all():
            # Every row has the same header: one constant piece.
            def one(x):
                return list(_varint(x[:1, None])[0][0])

            header = (
                [0x0A]
                + one(body_len)
                + [0x0A, len(key)]
                + list(key)
                + [0x12]
                + one(feature_len)
                + [tag]
                + one(list_len)
                + [0x0A]
                + one(payload_len)
            )
            pieces.append(_const(n, header))
        else:
            pieces += [
                _const(n, [0x0A]),
                _varint(body_len[:, None])[:2],
                _const(n, [0x0A, len(key)] + list(key) + [0x12]),
                _varint(feature_len[:, None])[:2],
                _const(n, [tag]),
                _varint(list_len[:, None])[:2],
                _const(n, [0x0A]),
                _varint(payload_len[:, None])[:2],
            ]
        pieces.append((payload, payload_mask))
    pieces = [_const(n, [0x0A]), _varint(features_len[:, None])[:2]] + pieces
    data = np.concatenate([p[0] for p in pieces], axis=1)
    mask = np.concatenate(
        [np.ones(p[0].shape, bool) if p[1] is None else p[1] for p in pieces], axis=1
    )
    offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    return data[mask].tobytes(), offsets


# ----------------------------------------------------------------------------
# Worker processes.

_STATE = {}


def _init_worker(state):
    _STATE.clear()
    _STATE.update(state)


def _new_stats():
    keys = (
        "passes",
        "short_passes",
        "instances",
        "random_next",
        "tokens",
        "masked",
        "mask_token",
        "kept",
        "random_token",
        "rows",
    )
    return dict.fromkeys(keys, 0)


def _run_task(task):
    """One dupe round over one block of documents -> serialized examples + stats."""
    dupe, block, doc_range = task
    cfg = _STATE["cfg"]
    py_rng, np_rng = _task_generators(cfg["random_seed"], dupe, block)
    stats = _new_stats()
    pairs = _pair_instances(
        _STATE["lists"],
        doc_range,
        _STATE["num_docs"],
        cfg["max_seq_length"] - 3,
        cfg["short_seq_prob"],
        py_rng,
        stats,
    )
    if not pairs:
        return b"", np.zeros(1, np.int64), stats, doc_range[1] - doc_range[0]
    ids, length, len_a = _assemble(
        _STATE["tokens"], pairs, cfg["max_seq_length"], cfg["cls_id"], cfg["sep_id"]
    )
    masked, positions, label_ids, weights = _mask(
        ids, length, len_a, np_rng, cfg, stats
    )
    pos = np.arange(cfg["max_seq_length"])[None, :]
    input_mask = (pos < length[:, None]).astype(np.int64)
    segment_ids = ((pos >= len_a[:, None] + 2) & (pos < length[:, None])).astype(
        np.int64
    )
    nsp = np.array([[int(p[4])] for p in pairs], np.int64)
    stats["instances"] += len(pairs)
    stats["random_next"] += int(nsp.sum())
    features = {
        "input_ids": masked,
        "input_mask": input_mask,
        "segment_ids": segment_ids,
        "masked_lm_positions": positions,
        "masked_lm_ids": label_ids,
        "masked_lm_weights": weights,
        "next_sentence_labels": nsp,
    }
    if cfg["pack_sequences"]:
        # A generator of its own: the instances are those of the unpacked run.
        features = pack_instances(
            features,
            cfg["max_instances_per_row"],
            rng=np.random.default_rng(
                [_seed_words(cfg["random_seed"]), 2, dupe, block]
            ),
        )
    stats["rows"] += len(features["input_ids"])
    blob, offsets = encode_examples(
        [
            (name, "float" if values.dtype == np.float32 else "int64", values)
            for name, values in features.items()
        ]
    )
    return blob, offsets, stats, doc_range[1] - doc_range[0]


def _make_tasks(corpus, dupe_factor):
    """Blocks of consecutive documents with about `_TOKENS_PER_TASK` tokens each."""
    doc_tokens = np.add.reduceat(corpus.sent_len, corpus.doc_sent_start[:-1])
    blocks, start, total = [], 0, 0
    for d, count in enumerate(doc_tokens.tolist()):
        total += count
        if total >= _TOKENS_PER_TASK:
            blocks.append((start, d + 1))
            start, total = d + 1, 0
    if start < corpus.num_documents:
        blocks.append((start, corpus.num_documents))
    return [(dupe, b, r) for dupe in range(dupe_factor) for b, r in enumerate(blocks)]


def _progress_bar(enabled, total, desc, unit):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)


def _default_workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------
# Entry point.


def create_pretraining_data(
    input_files,
    output_files,
    vocab_file,
    do_lower_case=True,
    do_whole_word_mask=False,
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    dupe_factor=10,
    random_seed=12345,
    num_workers=None,
    progress=True,
    *,
    tokenizer=None,
    invalid_lines="skip",
    max_line_chars=100_000,
    pack_sequences=False,
    max_instances_per_row=8,
):
    """Writes masked-LM / next-sentence TFRecords from raw text, as the original tool.

    Parameter names are the original `create_pretraining_data.py` flags. See the module
    docstring for the algorithm and for what is skipped.

    Args:
        input_files: comma-separated paths/globs (the original flag) or a list of them.
            One sentence per line, a blank line between documents, UTF-8.
        output_files: comma-separated paths or a list; instances go round-robin.
        vocab_file: WordPiece vocabulary file (or a list of tokens); needs `[CLS]`,
            `[SEP]`, `[MASK]` (and `[UNK]` for the tokenizer).
        do_lower_case: lower-case (and strip accents) before WordPiece.
        do_whole_word_mask: mask whole words (all `##` pieces of a word together).
        max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob,
            dupe_factor, random_seed: as the original flags.
        num_workers: worker processes (default: the CPUs this process may use). The
            output does not depend on it.
        progress: show progress bars (tqdm, on stderr).
        tokenizer: optional callable mapping a list of strings to ragged token ids
            consistent with `vocab_file` (default:
            `BertTokenizer(vocab, do_lower_case)`).
        invalid_lines: "skip" (count and go on) or "error" (`DataFormatError` naming the
            file and line) for lines that are not valid UTF-8.
        max_line_chars: lines longer than this (after stripping) are skipped.
        pack_sequences: write rows of several instances each (see
            `keras_bert_impl.data.sequence_packing`; the instances are the same as
            without packing), for `BertBackbone(packed_sequences=True)`.
        max_instances_per_row: K, the most instances in a packed row.

    Returns:
        dict summary: `instances`, `documents`, `sentences`, `tokens` (corpus),
        `single_sentence_documents`, `skipped_lines` ({reason: count}),
        `skipped_examples` (first `file:line: reason`s), `empty_files`,
        `masked_fraction` (masked / non-padding tokens), `mask_token_fraction`,
        `kept_fraction`, `random_token_fraction` (shares of the masked tokens),
        `random_next_fraction`, `short_target_fraction` (document visits with a short
        target), `input_files`, `output_files`, `num_workers`, `seconds`,
        `phase_seconds`, `instances_per_second`; with `pack_sequences`, also
        `rows` and `real_token_fraction` (real tokens / row positions).
    """
    import tensorflow as tf

    start_time = time.perf_counter()
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length must be at least 5, got {max_seq_length}")
    if max_predictions_per_seq < 1:
        raise ValueError("max_predictions_per_seq must be at least 1")
    if not 0.0 < masked_lm_prob <= 1.0:
        raise ValueError(f"masked_lm_prob must be in (0, 1], got {masked_lm_prob}")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be in [0, 1], got {short_seq_prob}")
    if dupe_factor < 1:
        raise ValueError(f"dupe_factor must be at least 1, got {dupe_factor}")
    if invalid_lines not in ("skip", "error"):
        raise ValueError(
            f"invalid_lines must be 'skip' or 'error', got {invalid_lines!r}"
        )
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    if pack_sequences and max_instances_per_row < 1:
        raise ValueError(
            f"max_instances_per_row must be at least 1, got {max_instances_per_row}"
        )

    files = expand_input_files(input_files)
    outputs = _split_paths(output_files)
    if not outputs:
        raise ValueError("no output file given")
    vocab = load_vocabulary(vocab_file)
    if tokenizer is None:
        tokenizer = make_tokenizer(vocab, do_lower_case)

    skips = _Skips()
    corpus, empty_files = _build_corpus(
        files, tokenizer, skips, invalid_lines, max_line_chars, progress
    )
    tokenized_time = time.perf_counter()
    if corpus.num_documents == 0:
        raise ValueError(
            f"no text in the input files ({', '.join(files)}): nothing to make "
            "pretraining data from"
        )
    seed = _seed_words(random_seed)
    corpus = _shuffle_documents(corpus, np.random.default_rng([seed, 0xD0C5]))
    sentences_per_doc = np.diff(corpus.doc_sent_start)

    cfg = {
        "random_seed": random_seed,
        "max_seq_length": int(max_seq_length),
        "max_predictions_per_seq": int(max_predictions_per_seq),
        "masked_lm_prob": float(masked_lm_prob),
        "short_seq_prob": float(short_seq_prob),
        "do_whole_word_mask": bool(do_whole_word_mask),
        "vocab_size": len(vocab),
        "cls_id": vocab.index("[CLS]"),
        "sep_id": vocab.index("[SEP]"),
        "mask_id": vocab.index("[MASK]"),
        "is_continuation": np.array([t.startswith("##") for t in vocab]),
        "pack_sequences": bool(pack_sequences),
        "max_instances_per_row": int(max_instances_per_row),
    }
    state = {
        "cfg": cfg,
        "tokens": corpus.tokens,
        "num_docs": corpus.num_documents,
        "lists": (
            corpus.sent_start.tolist(),
            corpus.sent_len.tolist(),
            corpus.doc_sent_start.tolist(),
        ),
    }
    tasks = _make_tasks(corpus, int(dupe_factor))
    workers = min(num_workers or _default_workers(), len(tasks))

    bar = _progress_bar(
        progress, int(dupe_factor) * corpus.num_documents, "creating instances", "doc"
    )
    blobs, offsets, totals = [], [], _new_stats()

    def collect(result):
        blob, offs, stats, docs = result
        blobs.append(blob)
        offsets.append(offs)
        for k, v in stats.items():
            totals[k] += v
        bar.update(docs)

    if workers <= 1:
        _init_worker(state)
        try:
            for task in tasks:
                collect(_run_task(task))
        finally:
            _STATE.clear()
    else:
        methods = multiprocessing.get_all_start_methods()
        # fork shares the corpus without copying it; the workers run numpy only.
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        # Objects that exist now are never collected in the workers: without this
        # their garbage collector walks (and so copies) the parent's whole heap.
        gc.freeze()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*fork.*")
                pool = context.Pool(
                    workers, initializer=_init_worker, initargs=(state,)
                )
        finally:
            gc.unfreeze()
        try:
            for result in pool.imap(_run_task, tasks, chunksize=1):
                collect(result)
        finally:
            pool.close()
            pool.join()
    bar.close()
    generated_time = time.perf_counter()

    # Shuffle all instances and write them round-robin (the original's order of work).
    sizes = [len(o) - 1 for o in offsets]
    bases = np.concatenate([[0], np.cumsum([len(b) for b in blobs])])
    starts = np.concatenate(
        [o[:-1] + base for o, base in zip(offsets, bases[:-1])] or [np.zeros(0)]
    ).astype(np.int64)
    ends = np.concatenate(
        [o[1:] + base for o, base in zip(offsets, bases[:-1])] or [np.zeros(0)]
    ).astype(np.int64)
    buffer = memoryview(b"".join(blobs))
    order = np.random.default_rng([seed, 0x5A0F]).permutation(int(sum(sizes)))
    for path in outputs:
        parent = os.path.dirname(path)
        if parent:
            tf.io.gfile.makedirs(parent)
    writers = [tf.io.TFRecordWriter(path) for path in outputs]
    try:
        n_writers = len(writers)
        starts, ends = starts.tolist(), ends.tolist()
        for k, idx in enumerate(order.tolist()):
            writers[k % n_writers].write(bytes(buffer[starts[idx] : ends[idx]]))
    finally:
        for writer in writers:
            writer.close()

    end_time = time.perf_counter()
    seconds = end_time - start_time
    masked = max(totals["masked"], 1)
    instances = totals["instances"]
    summary = {
        "instances": instances,
        "documents": corpus.num_documents,
        "sentences": int(len(corpus.sent_len)),
        "tokens": int(corpus.sent_len.sum()),
        "single_sentence_documents": int((sentences_per_doc == 1).sum()),
        "skipped_lines": dict(skips.counts),
        "skipped_examples": list(skips.examples),
        "empty_files": empty_files,
        "masked_fraction": totals["masked"] / max(totals["tokens"], 1),
        "mask_token_fraction": totals["mask_token"] / masked,
        "kept_fraction": totals["kept"] / masked,
        "random_token_fraction": totals["random_token"] / masked,
        "random_next_fraction": totals["random_next"] / max(instances, 1),
        "short_target_fraction": totals["short_passes"] / max(totals["passes"], 1),
        "input_files": files,
        "output_files": outputs,
        "num_workers": workers,
        "seconds": seconds,
        "phase_seconds": {
            "read_and_tokenize": tokenized_time - start_time,
            "create_instances": generated_time - tokenized_time,
            "shuffle_and_write": end_time - generated_time,
        },
        "instances_per_second": instances / seconds if seconds > 0 else math.inf,
    }
    if pack_sequences:
        summary["rows"] = totals["rows"]
        summary["real_token_fraction"] = totals["tokens"] / max(
            totals["rows"] * int(max_seq_length), 1
        )
    return summary
