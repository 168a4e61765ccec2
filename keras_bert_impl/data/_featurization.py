"""Helpers shared by the fine-tuning featurizers: batched tokenization, packing."""

import numpy as np

# Strings tokenized per tokenizer call: large enough to amortize the op
# launch, small enough to keep the ragged results' memory modest.
_TOKENIZE_CHUNK = 4096


def tokenize_batch(tokenizer, texts):
    """Token ids of every string in `texts`: a list of lists of int."""
    ids = []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        chunk = list(texts[start : start + _TOKENIZE_CHUNK])
        ids.extend(list(row) for row in tokenizer.tokenize(chunk))
    return ids


def tokenize_batch_with_offsets(tokenizer, texts):
    """`(ids, starts, ends)` per string; offsets are `str` (character) indices."""
    ids, starts, ends = [], [], []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        chunk = list(texts[start : start + _TOKENIZE_CHUNK])
        chunk_ids, chunk_starts, chunk_ends = tokenizer.tokenize_with_offsets(
            chunk, unit="char"
        )
        ids.extend(list(row) for row in chunk_ids)
        starts.extend(list(row) for row in chunk_starts)
        ends.extend(list(row) for row in chunk_ends)
    return ids, starts, ends


def truncate_longest_first(first, second, max_tokens):
    """Shortens the pair in place, one token off the end of the longer at a time.

    The original `_truncate_seq_pair` (run_classifier.py, run_swag.py).
    """
    while len(first) + len(second) > max_tokens:
        if len(first) > len(second):
            first.pop()
        else:
            second.pop()


def pack(tokenizer, first, second, sequence_length):
    """`[CLS] first [SEP] (second [SEP])`, padded: ids, segment ids, mask (int32).

    The pieces must already fit (`len(first) + len(second) + 3 <= length`).
    """
    ids = [tokenizer.cls_token_id, *first, tokenizer.sep_token_id]
    segments = [0] * len(ids)
    if second is not None:
        ids += [*second, tokenizer.sep_token_id]
        segments += [1] * (len(second) + 1)
    if len(ids) > sequence_length:
        raise ValueError(
            f"{len(ids)} tokens do not fit sequence_length={sequence_length}."
        )
    token_ids = np.full(sequence_length, tokenizer.pad_token_id, np.int32)
    token_ids[: len(ids)] = ids
    segment_ids = np.zeros(sequence_length, np.int32)
    segment_ids[: len(segments)] = segments
    padding_mask = np.zeros(sequence_length, np.int32)
    padding_mask[: len(ids)] = 1
    return token_ids, segment_ids, padding_mask


def stack_inputs(rows):
    """The backbone's input dict from `(token_ids, segment_ids, mask)` rows."""
    if not rows:
        raise ValueError("Nothing to featurize: no examples were given.")
    token_ids, segment_ids, padding_mask = (np.stack(column) for column in zip(*rows))
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": padding_mask,
    }
