import keras
import numpy as np
import pytest

from keras_bert_impl.layers import BertEncoderBlock
from tests.bert_test_case import run_layer_test


def _torch_block(block, inputs, padding_mask):
    """The block's weights in torch: post-LayerNorm attention then GELU FFN."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    batch, length, width = inputs.shape
    heads = block.num_heads

    def t(variable):
        return torch.tensor(variable.numpy())

    def dense(layer, x):
        return x @ t(layer.kernel) + t(layer.bias)

    def norm(layer, x):
        return F.layer_norm(x, (width,), t(layer.gamma), t(layer.beta), eps=1e-12)

    x = torch.tensor(inputs)
    attention = block.attention
    q, k, v = (
        dense(d, x).reshape(batch, length, heads, width // heads).transpose(1, 2)
        for d in (attention.query_dense, attention.key_dense, attention.value_dense)
    )
    key_mask = torch.tensor(padding_mask.astype(bool))[:, None, None, :]
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
    context = context.transpose(1, 2).reshape(batch, length, width)
    x = norm(block.attention_layer_norm, x + dense(attention.output_dense, context))
    ffn = dense(block.output_dense, F.gelu(dense(block.intermediate_dense, x)))
    return norm(block.output_layer_norm, x + ffn).numpy()


def test_post_layer_norm_block_matches_torch():
    block = BertEncoderBlock(
        num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0
    )
    inputs = np.random.default_rng(1).normal(size=(1, 3, 8)).astype("float32")
    padding_mask = np.ones((1, 3), "int32")
    found = keras.ops.convert_to_numpy(block(inputs, padding_mask=padding_mask))
    expected = _torch_block(block, inputs, padding_mask)
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_first_token_only_is_torchs_first_row():
    # What the backbone's `pooled_output` reads from the last block.
    block = BertEncoderBlock(
        num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0
    )
    inputs = np.random.default_rng(2).normal(size=(2, 5, 8)).astype("float32")
    padding_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32")
    found = keras.ops.convert_to_numpy(
        block(inputs, padding_mask=padding_mask, first_token_only=True)
    )
    expected = _torch_block(block, inputs, padding_mask)
    assert found.shape == (2, 1, 8)
    np.testing.assert_allclose(found, expected[:, :1], atol=1e-5)


def test_query_positions_give_torchs_rows_of_each_packed_text_alone():
    # Two texts packed in one row (tokens 0-2 and 3-4, then padding): each
    # sees only its own tokens; `query_positions` reads their first tokens.
    block = BertEncoderBlock(
        num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0
    )
    row = np.random.default_rng(3).normal(size=(1, 6, 8)).astype("float32")
    instance = np.array([[1, 1, 1, 2, 2, 0]])
    attention_mask = (instance[:, :, None] == instance[:, None, :]).astype("int32")
    found = keras.ops.convert_to_numpy(
        block(
            row,
            attention_mask=attention_mask,
            query_positions=np.array([[0, 3]], "int32"),
        )
    )
    assert found.shape == (1, 2, 8)
    for slot, (start, end) in enumerate([(0, 3), (3, 5)]):
        text = row[:, start:end]
        expected = _torch_block(block, text, np.ones((1, end - start), "int32"))
        np.testing.assert_allclose(found[:, slot], expected[:, 0], atol=1e-5)


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
