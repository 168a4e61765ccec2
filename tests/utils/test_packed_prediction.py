import numpy as np
import pytest

from keras_bert_impl.utils.packed_prediction import PackedRows
from keras_bert_impl.utils.packed_prediction import pack_rows


def test_pack_rows_fits_every_text_once_without_overlap():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 40, size=500)
    row, offset, slot = pack_rows(lengths, 64)
    used = {}
    for index, length in enumerate(lengths):
        assert offset[index] + length <= 64
        tokens = set(range(offset[index], offset[index] + length))
        assert not used.setdefault(row[index], set()) & tokens
        used[row[index]] |= tokens
    for target in set(row.tolist()):
        in_row = np.flatnonzero(row == target)
        assert sorted(slot[in_row].tolist()) == list(range(len(in_row)))
    # Best-fit decreasing: within 10% of the volume bound on these lengths.
    assert row.max() + 1 <= 1.1 * lengths.sum() / 64 + 1


def _features(lengths, width):
    token_ids = np.zeros((len(lengths), width), "int32")
    for index, length in enumerate(lengths):
        token_ids[index, :length] = 1000 + 10 * index + np.arange(length)
    return {
        "token_ids": token_ids,
        "segment_ids": (token_ids % 2).astype("int32"),
        "padding_mask": (token_ids > 0).astype("int32"),
    }


@pytest.mark.parametrize("fixed_shapes", [False, True])
def test_rows_hold_the_texts_and_outputs_come_back_in_input_order(fixed_shapes):
    lengths = [5, 3, 9, 2, 7, 4, 4, 6, 3, 2, 8, 5]
    features = _features(lengths, 16)
    packed = PackedRows(features, batch_size=2, fixed_shapes=fixed_shapes)
    shapes = []

    def first_tokens_and_lengths(batch):
        # A stand-in model: each text's first token id and its token count,
        # read through its instance number and first-token position.
        shapes.append(batch["token_ids"].shape + batch["first_token_positions"].shape)
        rows = np.arange(len(batch["token_ids"]))[:, None]
        first = batch["token_ids"][rows, batch["first_token_positions"]]
        slots = np.arange(batch["first_token_positions"].shape[1]) + 1
        counts = (batch["padding_mask"][:, None, :] == slots[None, :, None]).sum(-1)
        segments = batch["segment_ids"][rows, batch["first_token_positions"]]
        return {"first": first, "count": counts, "segment": segments}

    for step in packed.steps(first_tokens_and_lengths):
        step()
    outputs = packed.outputs()
    np.testing.assert_array_equal(outputs["first"], features["token_ids"][:, 0])
    np.testing.assert_array_equal(outputs["count"], lengths)
    np.testing.assert_array_equal(outputs["segment"], features["segment_ids"][:, 0])
    assert packed.num_rows == 4  # 58 tokens in rows of 16
    if fixed_shapes:
        assert set(shapes) == {(2, 16, 2, 4)}  # 4 texts in the fullest row
    else:
        assert all(shape[1] <= 16 for shape in shapes)


@pytest.mark.parametrize("fixed_shapes", [False, True])
def test_packing_pays_for_short_texts_only(fixed_shapes):
    assert PackedRows(_features([4] * 40, 128), 32, fixed_shapes).pays
    long_texts = _features([100] * 40, 128)
    assert not PackedRows(long_texts, 32, fixed_shapes).pays
    two_to_a_row = _features([60] * 40, 128)
    assert PackedRows(two_to_a_row, 32, fixed_shapes).pays == fixed_shapes
