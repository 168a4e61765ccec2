"""`all_printable_ascii`: when the tokenizer is traced for its ASCII path alone."""

import numpy as np
import tensorflow as tf

from keras_bert_impl.utils.printable_ascii import all_printable_ascii
from keras_bert_impl.utils.printable_ascii import printable_ascii_tracing
from tests.bert_test_case import tiny_preprocessor


def test_texts_in_lists_pairs_dicts_and_arrays():
    assert all_printable_ascii(["a b", "Tab\there", "new\nline\r", ""])
    assert all_printable_ascii((["first"], ["second ~!"]))
    assert all_printable_ascii({"text": np.array(["x", "y"]), "label": [0, 1]})
    assert all_printable_ascii(np.array([b"bytes", b"too"], dtype=object))
    assert all_printable_ascii([])


def test_any_other_character_or_unknown_texts_say_no():
    assert not all_printable_ascii(["fine", "clichés"])  # SST-2 train: 438 of 67,349
    assert not all_printable_ascii((["fine"], ["北京"]))
    assert not all_printable_ascii(["\x00 control"])
    assert not all_printable_ascii(["\x7f delete"])
    assert not all_printable_ascii(np.array(["caf\u00e9".encode()], dtype=object))
    # Tensors and datasets: their texts are not in memory here.
    assert not all_printable_ascii(tf.constant(["plain"]))
    assert not all_printable_ascii(tf.data.Dataset.from_tensor_slices(["plain"]))


def test_tracing_is_offered_only_for_a_preprocessor_with_such_a_tokenizer():
    preprocessor = tiny_preprocessor()
    assert printable_ascii_tracing(preprocessor, ["plain text"]) is not None
    assert printable_ascii_tracing(preprocessor, ["clichés"]) is None
    assert printable_ascii_tracing(object(), ["plain text"]) is None
