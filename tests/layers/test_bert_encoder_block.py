import keras
import numpy as np
import pytest

from keras_bert_impl.layers import BertEncoderBlock
from tests.bert_test_case import run_layer_test


def test_post_layer_norm_block_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    block = BertEncoderBlock(
        num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0
    )
    inputs = np.random.default_rng(1).normal(size=(1, 3, 8)).astype("float32")
    found = keras.ops.convert_to_numpy(
        block(inputs, padding_mask=np.ones((1, 3), "int32"))
    )

    def t(variable):
        return torch.tensor(variable.numpy())

    def dense(layer, x):
        return x @ t(layer.kernel) + t(layer.bias)

    def norm(layer, x):
        return F.layer_norm(x, (8,), t(layer.gamma), t(layer.beta), eps=1e-12)

    x = torch.tensor(inputs)
    attention = block.attention
    q, k, v = (
        dense(d, x).reshape(1, 3, 2, 4).transpose(1, 2)
        for d in (attention.query_dense, attention.key_dense, attention.value_dense)
    )
    context = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, 3, 8)
    x = norm(block.attention_layer_norm, x + dense(attention.output_dense, context))
    ffn = dense(block.output_dense, F.gelu(dense(block.intermediate_dense, x)))
    expected = norm(block.output_layer_norm, x + ffn)
    np.testing.assert_allclose(found, expected.numpy(), atol=1e-5)


def test_layer_shapes_and_config_round_trip():
    run_layer_test(
        BertEncoderBlock,
        dict(
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            activation="gelu_approximate",
        ),
        {
            "inputs": np.ones((2, 3, 8), "float32"),
            "padding_mask": np.array([[1, 1, 1], [1, 1, 0]], "int32"),
        },
        expected_output_shape=(2, 3, 8),
    )
