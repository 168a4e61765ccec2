import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.tokenizers import BertPacker
from keras_bert_impl.tokenizers import BertTokenizer
from tests.tokenizers import reference


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def pairs_and_ids(shared_data):
    path = reference.vocab_path(shared_data, "uncased")
    pairs = reference.sentence_pairs(shared_data)
    tokenizer = BertTokenizer(path)
    first = tokenizer([a for a, _ in pairs])
    second = tokenizer([b for _, b in pairs])
    return path, pairs, first, second


@pytest.mark.parametrize("sequence_length", [8, 32, 128])
def test_pairs_match_hf_longest_first_truncation(pairs_and_ids, sequence_length):
    """`hf(a, b, truncation=True, max_length=N)` on 1,608 MRPC/RTE pairs."""
    path, pairs, first, second = pairs_and_ids
    hf = reference.hf_legacy(path)
    packer = BertPacker(sequence_length, cls_token_id=101, sep_token_id=102)
    ours = packer((first, second))
    expected = hf(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        truncation=True,
        max_length=sequence_length,
        padding="max_length",
        return_token_type_ids=True,
    )
    np.testing.assert_array_equal(_np(ours["token_ids"]), expected["input_ids"])
    np.testing.assert_array_equal(_np(ours["segment_ids"]), expected["token_type_ids"])
    np.testing.assert_array_equal(_np(ours["padding_mask"]), expected["attention_mask"])
    assert _np(ours["token_ids"]).dtype == np.int32
    if sequence_length == 8:  # truncation really happened on (nearly) all
        assert (_np(ours["padding_mask"]).sum(1) == 8).mean() > 0.99


@pytest.mark.parametrize("sequence_length", [8, 32, 128])
def test_singles_match_hf_truncation(pairs_and_ids, sequence_length):
    path, pairs, first, _ = pairs_and_ids
    hf = reference.hf_legacy(path)
    ours = BertPacker(sequence_length, 101, 102)(first[:600])
    expected = hf(
        [a for a, _ in pairs[:600]],
        truncation=True,
        max_length=sequence_length,
        padding="max_length",
        return_token_type_ids=True,
    )
    np.testing.assert_array_equal(_np(ours["token_ids"]), expected["input_ids"])
    np.testing.assert_array_equal(_np(ours["segment_ids"]), expected["token_type_ids"])
    np.testing.assert_array_equal(_np(ours["padding_mask"]), expected["attention_mask"])


def test_longest_first_ties_and_short_sides_as_the_original():
    """google-research/bert's `_truncate_seq_pair`, run on lists."""

    def original(a, b, budget):
        a, b = list(a), list(b)
        while len(a) + len(b) > budget:
            if len(a) > len(b):
                a.pop()
            else:
                b.pop()
        return a, b

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 20, size=(500, 2))
    first = [list(range(1, n + 1)) for n, _ in lengths]
    second = [list(range(50, 50 + m)) for _, m in lengths]
    for sequence_length in (3, 4, 9, 16):
        out = BertPacker(sequence_length, 101, 102)(
            (tf.ragged.constant(first), tf.ragged.constant(second))
        )
        ids = _np(out["token_ids"])
        for row, (a, b) in enumerate(zip(first, second)):
            a, b = original(a, b, sequence_length - 3)
            expected = [101, *a, 102, *b, 102]
            expected += [0] * (sequence_length - len(expected))
            assert ids[row].tolist() == expected


def test_waterfall_matches_keras_hub(pairs_and_ids):
    keras_hub = pytest.importorskip("keras_hub")
    _, _, first, second = pairs_and_ids
    first, second = tf.ragged.constant(first[:300]), tf.ragged.constant(second[:300])
    for sequence_length in (8, 32, 128):
        ours = BertPacker(sequence_length, 101, 102, truncate="waterfall")(
            (first, second)
        )
        packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length, start_value=101, end_value=102, truncate="waterfall"
        )
        token_ids, segment_ids = packer((first, second))
        np.testing.assert_array_equal(_np(ours["token_ids"]), _np(token_ids))
        np.testing.assert_array_equal(_np(ours["segment_ids"]), _np(segment_ids))


def test_input_forms_and_edge_cases():
    packer = BertPacker(6, cls_token_id=2, sep_token_id=3, pad_token_id=0)
    # One example (1-D) → 1-D outputs.
    out = packer([7, 8])
    assert _np(out["token_ids"]).tolist() == [2, 7, 8, 3, 0, 0]
    assert _np(out["padding_mask"]).tolist() == [1, 1, 1, 1, 0, 0]
    # Dense batch, empty rows, empty second segment.
    out = packer((np.array([[7, 8, 9, 10]]), tf.ragged.constant([[]], tf.int32)))
    assert _np(out["token_ids"]).tolist() == [[2, 7, 8, 9, 3, 3]]
    assert _np(out["segment_ids"]).tolist() == [[0, 0, 0, 0, 0, 1]]
    out = packer([[], [1, 2, 3, 4, 5, 6]])
    assert _np(out["token_ids"]).tolist() == [[2, 3, 0, 0, 0, 0], [2, 1, 2, 3, 4, 3]]
    with pytest.raises(ValueError, match="truncate"):
        BertPacker(8, 2, 3, truncate="round_robin")
    with pytest.raises(ValueError, match="at least 3"):
        BertPacker(2, 2, 3)
    with pytest.raises(ValueError, match="one or two"):
        packer(([1], [2], [3]))


def test_tf_data_and_config_round_trip():
    packer = BertPacker(5, 2, 3, pad_token_id=0, truncate="waterfall", name="p")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(packer)
    )
    assert restored.get_config() == packer.get_config()
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant([[5, 6, 7], [8]]), tf.ragged.constant([[9], [10, 11]]))
    )
    ds = ds.batch(2).map(lambda a, b: restored((a, b)))
    out = next(iter(ds))
    assert isinstance(out["token_ids"], tf.Tensor)
    assert out["token_ids"].shape.as_list() == [2, 5]
    assert out["token_ids"].numpy().tolist() == [[2, 5, 6, 3, 3], [2, 8, 3, 10, 3]]
