"""Sequence packing: several pretraining instances in one row of `max_seq_length`.

On corpora of short documents, and for the `short_seq_prob` instances, most of a
padded row is padding that the model computes on for nothing. Packing places
complete instances (`[CLS] A [SEP] B [SEP]` each, masks and labels unchanged) one
after another in one row, with the layout `BertBackbone(packed_sequences=True)` and
its `BertPretrainer` read:

- `input_ids`, `segment_ids` (batch, seq): the instances' tokens and segments side by
  side, then zero padding;
- `input_mask` (batch, seq): the instance number 1..k of every token, 0 for padding;
- `masked_lm_positions`, `masked_lm_ids`, `masked_lm_weights` (batch, P): the
  instances' predictions concatenated, positions shifted by the instance's offset;
- `next_sentence_positions`, `next_sentence_labels`, `next_sentence_weights`
  (batch, K): each instance's `[CLS]` position, its label and weight 1; empty slots
  hold 0 with weight 0.

A row takes an instance only while its tokens fit in `max_seq_length`, its
predictions in `max_predictions_per_seq` and its instances in K, so nothing of any
instance is ever cut or dropped.
"""

import numpy as np

from keras_bert_impl.data.pretraining.instances import WORD_CONTINUATION

# The features packed rows add to the original ones (`next_sentence_labels` widens).
PACKED_FEATURE_NAMES = ("next_sentence_positions", "next_sentence_weights")


def assign_rows(
    lengths, num_predictions, max_seq_length, max_predictions, max_slots, window
):
    """Greedy first-fit of instances, in the given order, into rows.

    Each instance goes into the first of the `window` most recently opened rows
    that has room for its tokens, its predictions and one more instance; when none
    has, a new row opens (and the oldest open row closes once `window` are open).

    Args:
        lengths: int array (n,), tokens of each instance.
        num_predictions: int array (n,), masked-LM predictions of each instance.
        max_seq_length, max_predictions, max_slots: a row's capacity in tokens,
            predictions and instances.
        window: how many rows stay open to later instances.

    Returns:
        (row, slot, token_offset, prediction_offset), int arrays (n,): the row of
        each instance (rows numbered in the order they open), its instance number
        in the row minus one, and where its tokens and predictions start there.
    """
    n = len(lengths)
    row = np.zeros(n, np.int64)
    slot = np.zeros(n, np.int64)
    token_offset = np.zeros(n, np.int64)
    prediction_offset = np.zeros(n, np.int64)
    used_tokens, used_predictions, used_slots = [], [], []
    open_rows = []
    for index, (length, predictions) in enumerate(
        zip(np.asarray(lengths).tolist(), np.asarray(num_predictions).tolist())
    ):
        for candidate in open_rows:
            if (
                used_tokens[candidate] + length <= max_seq_length
                and used_predictions[candidate] + predictions <= max_predictions
                and used_slots[candidate] < max_slots
            ):
                target = candidate
                break
        else:
            target = len(used_tokens)
            used_tokens.append(0)
            used_predictions.append(0)
            used_slots.append(0)
            open_rows.append(target)
            if len(open_rows) > window:
                open_rows.pop(0)
        row[index] = target
        slot[index] = used_slots[target]
        token_offset[index] = used_tokens[target]
        prediction_offset[index] = used_predictions[target]
        used_tokens[target] += length
        used_predictions[target] += predictions
        used_slots[target] += 1
    return row, slot, token_offset, prediction_offset


def pack_instances(features, max_instances_per_row, window=64, rng=None):
    """Packs padded one-instance rows into rows of several instances.

    Args:
        features: dict of numpy arrays in the one-instance layout of
            `create_pretraining_data` (`input_ids`, `input_mask`, `segment_ids`
            (n, seq); `masked_lm_positions`, `masked_lm_ids`, `masked_lm_weights`
            (n, P); `next_sentence_labels` (n, 1); optionally `word_continuation`
            (n, seq), moved as the tokens are).
        max_instances_per_row: K, the most instances in one row.
        window: rows open to first-fit at a time (see `assign_rows`).
        rng: optional `numpy.random.Generator`: instances are visited in a random
            order drawn from it (else in the given order).

    Returns:
        dict of numpy arrays in the packed layout (module docstring), one row per
        packed row, rows in the order they were opened.

    Example:
    ```python
    packed = pack_instances(features, max_instances_per_row=8)
    packed["input_mask"][0]  # [1, 1, ..., 2, 2, ..., 3, ..., 0, 0]
    ```
    """
    sequence_length = features["input_ids"].shape[1]
    width = features["masked_lm_positions"].shape[1]
    lengths = (features["input_mask"] > 0).sum(axis=1)
    real_predictions = features["masked_lm_weights"] > 0
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    row, slot, token_offset, prediction_offset = (
        np.empty(len(lengths), np.int64) for _ in range(4)
    )
    row[order], slot[order], token_offset[order], prediction_offset[order] = (
        assign_rows(
            lengths[order],
            real_predictions.sum(axis=1)[order],
            sequence_length,
            width,
            max_instances_per_row,
            window,
        )
    )
    num_rows = int(row.max(initial=-1)) + 1

    def scatter(shape, dtype, rows, columns, values):
        out = np.zeros(shape, dtype)
        out[rows, columns] = values
        return out

    instance, position = np.nonzero(features["input_mask"] > 0)
    rows, columns = row[instance], token_offset[instance] + position
    tokens_shape = (num_rows, sequence_length)
    packed = {
        "input_ids": scatter(
            tokens_shape,
            np.int64,
            rows,
            columns,
            features["input_ids"][instance, position],
        ),
        "input_mask": scatter(
            tokens_shape, np.int64, rows, columns, slot[instance] + 1
        ),
        "segment_ids": scatter(
            tokens_shape,
            np.int64,
            rows,
            columns,
            features["segment_ids"][instance, position],
        ),
    }
    if WORD_CONTINUATION in features:
        packed[WORD_CONTINUATION] = scatter(
            tokens_shape,
            np.int64,
            rows,
            columns,
            features[WORD_CONTINUATION][instance, position],
        )
    instance, prediction = np.nonzero(real_predictions)
    rows = row[instance]
    columns = prediction_offset[instance] + prediction
    predictions_shape = (num_rows, width)
    packed["masked_lm_positions"] = scatter(
        predictions_shape,
        np.int64,
        rows,
        columns,
        features["masked_lm_positions"][instance, prediction] + token_offset[instance],
    )
    packed["masked_lm_ids"] = scatter(
        predictions_shape,
        np.int64,
        rows,
        columns,
        features["masked_lm_ids"][instance, prediction],
    )
    packed["masked_lm_weights"] = scatter(
        predictions_shape, np.float32, rows, columns, 1.0
    )
    slots_shape = (num_rows, max_instances_per_row)
    packed["next_sentence_positions"] = scatter(
        slots_shape, np.int64, row, slot, token_offset
    )
    packed["next_sentence_labels"] = scatter(
        slots_shape, np.int64, row, slot, features["next_sentence_labels"][:, 0]
    )
    packed["next_sentence_weights"] = scatter(slots_shape, np.float32, row, slot, 1.0)
    return packed
