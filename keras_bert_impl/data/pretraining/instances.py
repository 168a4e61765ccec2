"""Pretraining instances: google-research/bert's pairing and masking, vectorized.

The algorithm of the original `create_pretraining_data.py`, step by step, for each
visit of a document (documents are visited `dupe_factor` times, in shuffled order):

- A target length is drawn: `max_seq_length - 3`, or with probability
  `short_seq_prob` a uniform integer in `[2, max_seq_length - 3]`. Sentences are
  gathered into a chunk until the target is reached (or the document ends);
  `a_end`, the number of sentences in segment A, is uniform in `[1, len(chunk) - 1]`.
- B is the rest of the chunk, or (probability 0.5, and always when the chunk holds
  a single sentence) sentences from a random other document starting at a random
  sentence, filled up to the target; the chunk's unused sentences are put back.
- The longer of A and B loses tokens, from the front or the back at random
  (probability 0.5 each), until `len(A) + len(B) <= max_seq_length - 3`.
- `[CLS] A [SEP] B [SEP]`; `min(max_predictions_per_seq, max(1, round(len *
  masked_lm_prob)))` positions are masked, chosen at random among all tokens but
  `[CLS]`/`[SEP]` (whole words when `do_whole_word_mask`: a `##` piece joins the
  piece before it, and so does an ideograph that continues a Chinese word when a
  word segmenter marked it (`chinese_words`); a word that would overflow the count
  is skipped); each
  masked token becomes `[MASK]` (80%), stays (10%) or becomes a token drawn
  uniformly from the vocabulary (10%).

Pairing walks the documents in Python over flat index lists; assembling and masking
are numpy over all the instances of a block of documents at once. A truncation
draws, for each of A and B, how many of its removed tokens come from the front (a
binomial, as the original's one coin per token).
"""

import numpy as np

# The feature of records made with a Chinese word segmenter: 1 where the token joins
# the word of the token before it (`##` pieces and Chinese words), for dynamic masking.
WORD_CONTINUATION = "word_continuation"

# What `create_instances` counts into its `statistics` dict.
INSTANCE_STATISTICS = (
    "passes",
    "short_passes",
    "instances",
    "random_next",
    "tokens",
    "masked",
    "mask_token",
    "kept",
    "random_token",
)


def create_instances(
    tokens,
    corpus_lists,
    doc_range,
    num_docs,
    options,
    py_rng,
    np_rng,
    statistics,
    chinese_word_continuation=None,
):
    """One visit of documents `doc_range` -> features in the original layout.

    Args:
        tokens: the corpus' flat token-id array.
        corpus_lists: (sentence starts, sentence lengths, first sentence of each
            document + the end), as Python lists (`Corpus.index_lists()`).
        doc_range: (first, end) documents to visit.
        num_docs: documents in the corpus (random next sentences come from all).
        options: dict with `max_seq_length`, `short_seq_prob`,
            `max_predictions_per_seq`, `masked_lm_prob`, `do_whole_word_mask`,
            `vocab_size`, `cls_id`, `sep_id`, `mask_id`, `is_continuation` (bool per
            id: a `##` piece).
        py_rng: `random.Random` for pairing; np_rng: `numpy.random.Generator` for
            masking.
        statistics: dict of `INSTANCE_STATISTICS` counts, added to.
        chinese_word_continuation: optional bool per corpus token
            (`Corpus.chinese_word_continuation`): whole-word masking also joins
            the marked tokens to the token before them, and the features gain
            `word_continuation` (what joined, per position) for dynamic masking.

    Returns:
        dict of numpy arrays named as `FEATURE_NAMES` (n rows; plus
        `word_continuation` with `chinese_word_continuation`), or None when the
        documents give no instance.
    """
    max_seq_length = options["max_seq_length"]
    pairs = _pair_instances(
        corpus_lists,
        doc_range,
        num_docs,
        max_seq_length - 3,
        options["short_seq_prob"],
        py_rng,
        statistics,
    )
    if not pairs:
        return None
    source, inside = _token_sources(pairs, max_seq_length)
    ids, length, len_a = _assemble(
        tokens, pairs, source, inside, options["cls_id"], options["sep_id"]
    )
    continuation = None
    if options["do_whole_word_mask"]:
        continuation = options["is_continuation"][ids]
        if chinese_word_continuation is not None:
            # B's first token starts a word even when truncation cut the word's
            # start off: a Chinese word never joins the word before [SEP] (a `##`
            # piece there still does, as in the original).
            b_start = np.arange(max_seq_length)[None, :] == len_a[:, None] + 2
            continuation |= inside & ~b_start & chinese_word_continuation[source]
    masked, positions, label_ids, weights = _mask(
        ids, length, len_a, continuation, np_rng, options, statistics
    )
    pos = np.arange(max_seq_length)[None, :]
    input_mask = (pos < length[:, None]).astype(np.int64)
    segment_ids = ((pos >= len_a[:, None] + 2) & (pos < length[:, None])).astype(
        np.int64
    )
    nsp = np.array([[int(p[4])] for p in pairs], np.int64)
    statistics["instances"] += len(pairs)
    statistics["random_next"] += int(nsp.sum())
    features = {
        "input_ids": masked,
        "input_mask": input_mask,
        "segment_ids": segment_ids,
        "masked_lm_positions": positions,
        "masked_lm_ids": label_ids,
        "masked_lm_weights": weights,
        "next_sentence_labels": nsp,
    }
    if chinese_word_continuation is not None:
        features[WORD_CONTINUATION] = continuation.astype(np.int64)
    return features


def _pair_instances(
    corpus_lists, doc_range, num_docs, max_num_tokens, short_seq_prob, rng, statistics
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
        statistics["passes"] += 1
        if rand() < short_seq_prob:
            target = randint(2, max_num_tokens)
            statistics["short_passes"] += 1
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


def _token_sources(pairs, max_seq_length):
    """Where each position of the `[CLS] A [SEP] B [SEP]` rows comes from.

    Returns (source, inside), (n, seq) arrays: the corpus token index of each
    position of A or B (0 elsewhere) and whether the position is in A or B.
    """
    p = np.asarray(pairs, np.int64).reshape(-1, 5)
    a_lo, a_hi, b_lo, b_hi = p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4]
    len_a = a_hi - a_lo
    length = len_a + (b_hi - b_lo) + 3
    pos = np.arange(max_seq_length)[None, :]
    in_a = (pos >= 1) & (pos <= len_a)
    in_b = (pos >= len_a + 2) & (pos < length - 1)
    source = np.where(in_a, a_lo + pos - 1, np.where(in_b, b_lo + pos - len_a - 2, 0))
    return source, in_a | in_b


def _assemble(tokens, pairs, source, inside, cls_id, sep_id):
    """Builds padded `[CLS] A [SEP] B [SEP]` rows; returns (ids, lengths, len_a)."""
    p = np.asarray(pairs, np.int64).reshape(-1, 5)
    len_a = p[:, 1:2] - p[:, 0:1]
    length = len_a + (p[:, 3:4] - p[:, 2:3]) + 3
    ids = np.where(inside, tokens[source], 0).astype(np.int64)
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


def _mask(ids, length, len_a, continuation, rng, options, statistics):
    """The original's create_masked_lm_predictions, vectorized over rows.

    `continuation` (n, seq) marks the tokens that join the word before them (whole-
    word masking), None for per-token masking.

    Returns (masked ids, positions, labels, weights) with positions ascending.
    """
    n, seq = ids.shape
    pos = np.arange(seq)[None, :]
    cand = (pos >= 1) & (pos < length[:, None] - 1) & (pos != len_a[:, None] + 1)
    cand &= (ids != options["cls_id"]) & (ids != options["sep_id"])
    num_to_predict = np.minimum(
        options["max_predictions_per_seq"],
        np.maximum(1, np.round(length * options["masked_lm_prob"]).astype(np.int64)),
    )
    num_to_predict = np.minimum(num_to_predict, cand.sum(axis=1))
    keys = rng.random((n, seq))
    if continuation is not None:
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
    random_ids = rng.integers(0, options["vocab_size"], len(rows))
    replaced = np.where(
        u < 0.8, options["mask_id"], np.where(u < 0.9, labels, random_ids)
    )
    masked = ids.copy()
    masked[rows, cols] = replaced
    counts = selected.sum(axis=1)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = options["max_predictions_per_seq"]
    positions = np.zeros((n, width), np.int64)
    label_ids = np.zeros((n, width), np.int64)
    weights = np.zeros((n, width), np.float32)
    positions[rows, slot] = cols
    label_ids[rows, slot] = labels
    weights[rows, slot] = 1.0
    statistics["tokens"] += int(length.sum())
    statistics["masked"] += len(rows)
    statistics["mask_token"] += int((u < 0.8).sum())
    statistics["kept"] += int(((u >= 0.8) & (u < 0.9)).sum())
    statistics["random_token"] += int((u >= 0.9).sum())
    return masked, positions, label_ids, weights
