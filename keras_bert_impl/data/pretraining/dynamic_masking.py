"""Dynamic masking: new masked-LM masks for every batch, in the graph (RoBERTa's idea).

`unmask` puts the masked tokens of pretraining records back (`input_ids` at
`masked_lm_positions` <- `masked_lm_ids`); `dynamic_mask` draws new masks with the
original rule: `min(P, max(1, round(len * masked_lm_prob)))` positions among the real
tokens that are not `[CLS]`, `[SEP]` or `[PAD]` (whole words with
`is_continuation`, or with the records' `word_continuation` marks of Chinese words,
with the original's greedy rule), then 80% `[MASK]`, 10%
unchanged, 10% a token drawn uniformly from the vocabulary. Stateless in its seed,
so a pipeline that feeds it a new seed per batch masks anew every epoch.
"""

import numpy as np
import tensorflow as tf

from keras_bert_impl.data.pretraining.pretraining_vocabulary import (
    read_pretraining_vocabulary,
)


def masking_vocabulary(vocabulary):
    """What masking needs from a vocabulary (path, token list or tokenizer).

    Returns a dict: `vocabulary_size`, `mask_token_id`, `special_token_ids`
    (`[CLS]`, `[SEP]`, `[PAD]` when present), `is_continuation` (bool per id: `##`).
    """
    tokens = read_pretraining_vocabulary(vocabulary, purpose="masking")
    special = [tokens.index(t) for t in ("[CLS]", "[SEP]", "[PAD]") if t in tokens]
    return {
        "vocabulary_size": len(tokens),
        "mask_token_id": tokens.index("[MASK]"),
        "special_token_ids": tuple(special),
        "is_continuation": np.array([t.startswith("##") for t in tokens], bool),
    }


def unmask(input_ids, masked_lm_positions, masked_lm_ids, masked_lm_weights):
    """Puts the original tokens back at the masked positions (batched, in graph)."""
    input_ids = tf.convert_to_tensor(input_ids)
    positions = tf.cast(masked_lm_positions, tf.int32)
    real = masked_lm_weights > 0
    rows = tf.broadcast_to(
        tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions)
    )
    indices = tf.stack(
        [tf.boolean_mask(rows, real), tf.boolean_mask(positions, real)], 1
    )
    updates = tf.cast(tf.boolean_mask(masked_lm_ids, real), input_ids.dtype)
    return tf.tensor_scatter_nd_update(input_ids, indices, updates)


def _greedy_whole_words(sizes, need):
    """The original's rule over groups in random order: take a group when it fits,
    skip it when it would overflow, stop once `need` is reached. sizes: (B, G)."""

    def step(count, size):
        take = (count < need) & (size > 0) & (count + size <= need)
        return count + tf.where(take, size, 0), take

    def body(carry, size):
        count, _ = carry
        return step(count, size)

    _, taken = tf.scan(
        body,
        tf.transpose(sizes),
        initializer=(tf.zeros_like(need), tf.zeros_like(need, tf.bool)),
    )
    return tf.transpose(taken)


def dynamic_mask(
    token_ids,
    padding_mask,
    seed,
    *,
    vocabulary_size,
    mask_token_id,
    special_token_ids,
    max_predictions_per_seq,
    masked_lm_prob=0.15,
    is_continuation=None,
    word_continuation=None,
):
    """Masks a batch with the original recipe, in graph; stateless in `seed`.

    Args:
        token_ids: int (batch, seq) unmasked token ids.
        padding_mask: (batch, seq), nonzero for real tokens.
        seed: shape [2] int seed for `tf.random.stateless_*`.
        vocabulary_size, mask_token_id: for the 80% `[MASK]` / 10% random rule.
        special_token_ids: ids never masked (`[CLS]`, `[SEP]`, `[PAD]`).
        max_predictions_per_seq: P, the width of the outputs.
        masked_lm_prob: share of the tokens (with `[CLS]`/`[SEP]`) to mask.
        is_continuation: optional bool array over the vocabulary (`##` pieces): mask
            whole words.
        word_continuation: optional (batch, seq), nonzero where a token joins the
            word before it (the `word_continuation` feature of records made with a
            Chinese word segmenter): mask whole words by these marks instead of
            `is_continuation`.

    Returns:
        (masked token_ids, mask_positions, masked_lm_ids, masked_lm_weights): positions
        ascending, padded with 0 (weight 0).
    """
    token_ids = tf.convert_to_tensor(token_ids)
    ids = tf.cast(token_ids, tf.int32)
    shape = tf.shape(ids)
    batch, seq = shape[0], shape[1]
    width = int(max_predictions_per_seq)
    valid = tf.cast(padding_mask, tf.bool)
    cand = valid
    for special in special_token_ids:
        cand &= tf.not_equal(ids, int(special))
    length = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
    need = tf.cast(tf.round(tf.cast(length, tf.float64) * masked_lm_prob), tf.int32)
    need = tf.minimum(width, tf.maximum(1, need))
    need = tf.minimum(need, tf.reduce_sum(tf.cast(cand, tf.int32), axis=1))
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    keys = tf.random.stateless_uniform(shape, seeds[0])
    pos = tf.broadcast_to(tf.range(seq)[None, :], shape)
    if is_continuation is None and word_continuation is None:
        k = tf.minimum(width, seq)
        order = tf.math.top_k(tf.where(cand, -keys, -2.0), k=k).indices  # (B, k)
        take = tf.range(k)[None, :] < need[:, None]
        hit = tf.one_hot(
            tf.where(take, order, seq),
            seq + 1,
            on_value=True,
            off_value=False,
            dtype=tf.bool,
        )
        selected = tf.reduce_any(hit, axis=1)[:, :seq] & cand
    else:
        if word_continuation is not None:
            cont = tf.cast(word_continuation, tf.bool)
        else:
            cont = tf.gather(tf.constant(np.asarray(is_continuation, bool)), ids)
        before = tf.cumsum(tf.cast(cand, tf.int32), axis=1, exclusive=True) > 0
        start = cand & ~(cont & before)
        group = tf.cumsum(tf.cast(start, tf.int32), axis=1) - 1  # (B, S)
        group = tf.where(cand, group, seq)  # non-candidates: a dummy group
        flat_group = group + tf.range(batch)[:, None] * (seq + 1)
        segments = batch * (seq + 1)
        sizes = tf.math.unsorted_segment_sum(
            tf.reshape(tf.cast(cand, tf.int32), [-1]),
            tf.reshape(flat_group, [-1]),
            segments,
        )
        group_keys = tf.math.unsorted_segment_max(
            tf.reshape(tf.where(start, keys, -1.0), [-1]),
            tf.reshape(flat_group, [-1]),
            segments,
        )
        sizes = tf.reshape(sizes, [batch, seq + 1])[:, :seq]
        group_keys = tf.reshape(group_keys, [batch, seq + 1])[:, :seq]
        group_keys = tf.where(sizes > 0, group_keys, 2.0)
        order = tf.argsort(group_keys, axis=1, stable=True)
        taken_sorted = _greedy_whole_words(tf.gather(sizes, order, batch_dims=1), need)
        inverse = tf.argsort(order, axis=1, stable=True)
        taken = tf.gather(taken_sorted, inverse, batch_dims=1)
        taken = tf.concat([taken, tf.zeros([batch, 1], tf.bool)], axis=1)
        selected = tf.gather(taken, group, batch_dims=1) & cand
    # Selected positions, ascending, into (B, P).
    score = tf.where(selected, seq - pos, 0)
    top = tf.math.top_k(score, k=tf.minimum(width, seq)).values
    pad = width - tf.shape(top)[1]
    top = tf.pad(top, [[0, 0], [0, pad]])
    real = top > 0
    positions = tf.where(real, seq - top, 0)
    labels = tf.where(real, tf.gather(ids, positions, batch_dims=1), 0)
    u = tf.random.stateless_uniform([batch, width], seeds[1])
    random_ids = tf.random.stateless_uniform(
        [batch, width], seeds[2], minval=0, maxval=int(vocabulary_size), dtype=tf.int32
    )
    replaced = tf.where(
        u < 0.8, int(mask_token_id), tf.where(u < 0.9, labels, random_ids)
    )
    rows = tf.broadcast_to(tf.range(batch)[:, None], [batch, width])
    indices = tf.stack(
        [tf.boolean_mask(rows, real), tf.boolean_mask(positions, real)], 1
    )
    masked = tf.tensor_scatter_nd_update(ids, indices, tf.boolean_mask(replaced, real))
    return masked, positions, labels, tf.cast(real, tf.float32)
