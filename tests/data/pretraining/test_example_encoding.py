"""The numpy tf.train.Example encoder writes what protobuf itself reads back."""

import numpy as np
import tensorflow as tf

from keras_bert_impl.data.pretraining.example_encoding import encode_examples


def protobuf_example(features, row):
    feature = {}
    for name, kind, values in features:
        if kind == "int64":
            value = tf.train.Int64List(value=values[row].tolist())
            feature[name] = tf.train.Feature(int64_list=value)
        else:
            value = tf.train.FloatList(value=values[row].tolist())
            feature[name] = tf.train.Feature(float_list=value)
    return tf.train.Example(features=tf.train.Features(feature=feature))


def parsed(blob, offsets, row):
    return tf.train.Example.FromString(blob[offsets[row] : offsets[row + 1]])


def test_rows_serialize_as_protobuf_does():
    rng = np.random.default_rng(0)
    rows = 5
    features = [
        # Varints of one to three bytes (ids of a large vocabulary), rows of differing
        # lengths.
        ("input_ids", "int64", rng.integers(0, 250_000, (rows, 130))),
        ("input_mask", "int64", rng.integers(0, 2, (rows, 130))),
        ("masked_lm_weights", "float", rng.random((rows, 20)).astype(np.float32)),
        ("next_sentence_labels", "int64", np.array([[0], [1], [0], [1], [1]])),
    ]
    blob, offsets = encode_examples(features)
    assert len(offsets) == rows + 1 and offsets[-1] == len(blob)
    for row in range(rows):
        # Equal messages (a map's entries may serialize in any order).
        assert parsed(blob, offsets, row) == protobuf_example(features, row)


def test_rows_of_equal_layout():
    features = [("input_ids", "int64", np.tile(np.arange(8), (3, 1)))]
    blob, offsets = encode_examples(features)
    for row in range(3):
        # One feature: protobuf's own bytes, exactly.
        expected = protobuf_example(features, row).SerializeToString()
        assert blob[offsets[row] : offsets[row + 1]] == expected
