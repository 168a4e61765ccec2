"""What raw inputs are: strings or not, examples, batches, candidate pairs."""

import numpy as np
import tensorflow as tf

from keras_bert_impl.utils.raw_inputs import batches_per_epoch
from keras_bert_impl.utils.raw_inputs import bucketable_length
from keras_bert_impl.utils.raw_inputs import has_strings
from keras_bert_impl.utils.raw_inputs import preprocess_choices


def hash_words(texts):
    """Strings to 4 hashed word ids each: a stand-in tokenizer."""
    words = tf.strings.split(texts)
    return {
        "token_ids": tf.strings.to_hash_bucket_fast(words, 1000).to_tensor(
            shape=[None, 4]
        )
    }


def test_strings_are_found_in_any_container():
    assert has_strings(["a"]) and has_strings(("x", np.array(["b"])))
    assert has_strings({"text": np.array([b"c"], dtype=object)})
    assert has_strings(tf.constant(["d"]))
    assert not has_strings(np.zeros((2, 3))) and not has_strings([])
    assert not has_strings({"token_ids": np.zeros((2, 3), "int32")})


def test_features_are_bucketable_without_sequence_labels():
    features = {
        "token_ids": tf.TensorSpec((None, 8), "int32"),
        "padding_mask": tf.TensorSpec((None, 8), "int32"),
    }
    assert bucketable_length(features) == 8
    labels = tf.TensorSpec((None,), "int32")
    assert bucketable_length((features, labels)) == 8
    token_labels = tf.TensorSpec((None, 8), "int32")
    assert bucketable_length((features, token_labels)) is None
    assert bucketable_length({"token_ids": features["token_ids"]}) is None


def test_preprocess_choices_pairs_each_choice_with_its_context():
    def hash_pairs(pairs):
        hashed = [tf.strings.to_hash_bucket_fast(part, 1000) for part in pairs]
        return {"token_ids": tf.stack(hashed, axis=1)}

    contexts = ["the fox", "a movie"]
    choices = [["runs", "eats", "sings"], ["was good", "was dull", "in paris"]]
    packed = preprocess_choices(hash_pairs, (contexts, choices), num_choices=3)
    token_ids = packed["token_ids"].numpy()
    assert token_ids.shape == (2, 3, 2)
    hashed_contexts = tf.strings.to_hash_bucket_fast(contexts, 1000).numpy()
    hashed_choices = tf.strings.to_hash_bucket_fast(choices, 1000).numpy()
    np.testing.assert_array_equal(
        token_ids[..., 0], np.repeat(hashed_contexts, 3).reshape(2, 3)
    )
    np.testing.assert_array_equal(token_ids[..., 1], hashed_choices)
    # Choices alone (one array, not a pair) are single segments.
    alone = preprocess_choices(hash_words, np.array(choices), num_choices=3)
    assert alone["token_ids"].shape == (2, 3, 4)


def test_batches_per_epoch():
    assert batches_per_epoch({"a": np.zeros((65, 3))}) == 3
    assert batches_per_epoch(np.zeros((65, 3)), batch_size=5) == 13
    assert batches_per_epoch(tf.data.Dataset.range(10).batch(4)) == 3
    assert batches_per_epoch(tf.data.Dataset.range(10).repeat()) < 0
    assert batches_per_epoch(None) is None
