"""Dynamic masking: the original masking rule, in the graph, stateless in its seed."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data import dynamic_mask
from keras_bert_impl.data.pretraining.dynamic_masking import masking_vocabulary
from keras_bert_impl.data.pretraining.dynamic_masking import unmask
from tests.bert_test_case import TINY_VOCABULARY


def test_dynamic_mask_function_directly():
    token_ids = tf.constant([[101, 5, 6, 7, 8, 9, 102, 10, 11, 102, 0, 0]] * 64)
    padding = tf.cast(token_ids != 0, tf.int32)

    def mask():
        return dynamic_mask(
            token_ids,
            padding,
            tf.constant([1, 2]),
            vocabulary_size=200,
            mask_token_id=103,
            special_token_ids=(101, 102, 0),
            max_predictions_per_seq=4,
        )

    masked, positions, labels, weights = mask()
    assert masked.shape == token_ids.shape and positions.shape == (64, 4)
    # len 10 -> round(1.5) = 2 predictions (round half to even, as Python's round).
    np.testing.assert_array_equal(tf.reduce_sum(weights, 1), [2] * 64)
    real = weights.numpy() > 0
    picked = positions.numpy()[real]
    assert set(picked.tolist()) <= {1, 2, 3, 4, 5, 7, 8}
    np.testing.assert_array_equal(
        labels.numpy()[real], token_ids.numpy()[np.nonzero(real)[0], picked]
    )
    # Stateless: the same seed masks the same way.
    np.testing.assert_array_equal(mask()[0], masked)


def test_unmask_puts_the_labels_back_at_real_positions():
    input_ids = tf.constant([[2, 4, 6, 4, 3, 0], [2, 7, 4, 3, 0, 0]])
    restored = unmask(
        input_ids,
        masked_lm_positions=tf.constant([[1, 3], [2, 0]]),
        masked_lm_ids=tf.constant([[5, 8], [9, 0]]),
        masked_lm_weights=tf.constant([[1.0, 1.0], [1.0, 0.0]]),
    )
    np.testing.assert_array_equal(restored, [[2, 5, 6, 8, 3, 0], [2, 7, 9, 3, 0, 0]])


def test_masking_vocabulary_from_a_list_and_a_file(tmp_path):
    vocabulary = TINY_VOCABULARY + ["##s"]
    masking = masking_vocabulary(vocabulary)
    assert masking["vocabulary_size"] == len(vocabulary)
    assert masking["mask_token_id"] == vocabulary.index("[MASK]")
    assert masking["special_token_ids"] == tuple(
        vocabulary.index(t) for t in ("[CLS]", "[SEP]", "[PAD]")
    )
    assert masking["is_continuation"].tolist() == [t == "##s" for t in vocabulary]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    from_file = masking_vocabulary(str(vocab_file))
    assert from_file["mask_token_id"] == masking["mask_token_id"]
    no_mask = tmp_path / "no_mask.txt"
    no_mask.write_text("[PAD]\n[CLS]\n[SEP]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no_mask\.txt.*\[MASK\].*masking"):
        masking_vocabulary(str(no_mask))
