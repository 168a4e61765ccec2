"""Pretraining instances as `tf.train.Example`s, serialized without protobuf objects.

The records have the original `create_pretraining_data.py` feature names and layout
(`FEATURE_NAMES`; ids and masks zero-padded), so the original `run_pretraining.py`
reads them. The protobuf wire format is written with numpy, vectorized over rows:
one call encodes a whole task's instances.
"""

import numpy as np

FEATURE_NAMES = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)


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
            values of the size of token ids: they index a table of varints) or
            "float" (float32).

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
