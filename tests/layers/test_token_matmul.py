"""`dense_over_tokens` computes what the Dense layer computes on the 3-D input."""

import keras
import numpy as np
import pytest

from keras_bert_impl.layers.token_matmul import dense_over_tokens


@pytest.mark.parametrize("variant", ["float", "int8", "lora"])
def test_dense_over_tokens_equals_the_dense_layer(variant):
    dense = keras.layers.Dense(6, activation="gelu")
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    dense.build(x.shape)
    if variant == "int8":
        dense.quantize("int8")
    elif variant == "lora":
        dense.enable_lora(2)
        dense.lora_kernel_b.assign(np.ones((2, 6), "float32"))
    expected = keras.ops.convert_to_numpy(dense(x))
    found = keras.ops.convert_to_numpy(dense_over_tokens(dense, x))
    assert found.shape == (3, 5, 6)
    # int8 quantizes each token's input row: the same rows either way.
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-5)


def test_a_chain_of_dense_layers_keeps_the_tokens_as_rows_between_them():
    first = keras.layers.Dense(6, activation="gelu")
    second = keras.layers.Dense(4)
    x = np.random.default_rng(1).normal(size=(3, 5, 4)).astype("float32")
    expected = keras.ops.convert_to_numpy(second(first(x)))
    found = dense_over_tokens((first, second), x, tokens=(3, 5))
    assert tuple(found.shape) == (3, 5, 4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(found), expected, rtol=1e-5, atol=1e-5
    )
