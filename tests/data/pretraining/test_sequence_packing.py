"""Packed pretraining data holds exactly the instances of the unpacked recipe.

The reference is the unpacked output of `create_pretraining_data` (the original
recipe, checked against it in test_create_pretraining_data.py) for the same seed; packed
rows are split back into instances here, independently of the packer.
"""

import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data import create_pretraining_data
from tests.data.pretraining.test_create_pretraining_data import original_spec
from tests.data.pretraining.test_create_pretraining_data import read_records

SEQ = 128
PRED = 20
SLOTS = 8


def read_packed(path):
    spec = original_spec(SEQ, PRED)
    spec["next_sentence_positions"] = tf.io.FixedLenFeature([SLOTS], tf.int64)
    spec["next_sentence_labels"] = tf.io.FixedLenFeature([SLOTS], tf.int64)
    spec["next_sentence_weights"] = tf.io.FixedLenFeature([SLOTS], tf.float32)
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    parsed = tf.io.parse_example(tf.constant(records), spec)
    return {k: v.numpy() for k, v in parsed.items()}


def instance_key(ids, segments, positions, labels, nsp):
    return (tuple(ids), tuple(segments), tuple(positions), tuple(labels), int(nsp))


def unpacked_instances(rec):
    keys = []
    for r in range(len(rec["input_ids"])):
        length = int(rec["input_mask"][r].sum())
        real = rec["masked_lm_weights"][r] > 0
        keys.append(
            instance_key(
                rec["input_ids"][r][:length],
                rec["segment_ids"][r][:length],
                rec["masked_lm_positions"][r][real],
                rec["masked_lm_ids"][r][real],
                rec["next_sentence_labels"][r][0],
            )
        )
    return keys


def split_packed_rows(rec):
    """Instances of packed rows, each as if alone in a row; checks the layout."""
    keys, per_row = [], []
    for r in range(len(rec["input_ids"])):
        numbers = rec["input_mask"][r]
        count = int(numbers.max())
        per_row.append(count)
        # Instances 1..count side by side from position 0, then padding only.
        assert numbers.tolist() == sorted(numbers[numbers > 0].tolist()) + [0] * int(
            (numbers == 0).sum()
        )
        assert (rec["input_ids"][r][numbers == 0] == 0).all()
        real = rec["masked_lm_weights"][r] > 0
        assert real.tolist() == sorted(real.tolist(), reverse=True)
        positions = rec["masked_lm_positions"][r][real]
        labels = rec["masked_lm_ids"][r][real]
        assert (rec["next_sentence_weights"][r] == (np.arange(SLOTS) < count)).all()
        assert (rec["next_sentence_positions"][r][count:] == 0).all()
        for number in range(1, count + 1):
            span = np.flatnonzero(numbers == number)
            start, end = span[0], span[-1] + 1
            assert rec["next_sentence_positions"][r][number - 1] == start
            inside = (positions >= start) & (positions < end)
            keys.append(
                instance_key(
                    rec["input_ids"][r][start:end],
                    rec["segment_ids"][r][start:end],
                    positions[inside] - start,
                    labels[inside],
                    rec["next_sentence_labels"][r][number - 1],
                )
            )
    return keys, per_row


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("packing")
    options = dict(
        input_files=str(shared_data / "bert_sample_text" / "sample_text.txt"),
        vocab_file=str(shared_data / "vocab" / "uncased" / "vocab.txt"),
        short_seq_prob=0.5,  # many short instances, to pack several to a row
        dupe_factor=10,
        progress=False,
    )
    unpacked = create_pretraining_data(
        output_files=str(out / "unpacked.tfrecord"), num_workers=1, **options
    )
    packed = create_pretraining_data(
        output_files=str(out / "packed.tfrecord"),
        num_workers=1,
        pack_sequences=True,
        max_instances_per_row=SLOTS,
        **options,
    )
    create_pretraining_data(
        output_files=str(out / "packed_2_workers.tfrecord"),
        num_workers=2,
        pack_sequences=True,
        max_instances_per_row=SLOTS,
        **options,
    )
    return out, unpacked, packed


def test_packed_rows_hold_exactly_the_unpacked_instances(runs):
    out, unpacked, packed = runs
    reference = unpacked_instances(read_records([out / "unpacked.tfrecord"]))
    found, per_row = split_packed_rows(read_packed(out / "packed.tfrecord"))
    assert collections.Counter(found) == collections.Counter(reference)
    assert packed["instances"] == unpacked["instances"] == len(reference)
    assert packed["rows"] == len(per_row) < len(reference)
    assert max(per_row) >= 3


def test_packing_is_deterministic_for_a_seed(runs):
    out, _, _ = runs
    assert (out / "packed.tfrecord").read_bytes() == (
        out / "packed_2_workers.tfrecord"
    ).read_bytes()


def test_packed_rows_have_more_real_tokens(runs):
    out, unpacked, packed = runs
    unpacked_fraction = read_records([out / "unpacked.tfrecord"])["input_mask"].mean()
    assert packed["real_token_fraction"] > unpacked_fraction + 0.1
