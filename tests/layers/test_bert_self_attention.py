import keras
import numpy as np
import pytest

from keras_bert_impl.layers import BertSelfAttention
from tests.bert_test_case import run_layer_test


def _torch_attention(layer, inputs, attention_mask):
    """The layer's weights in torch's scaled_dot_product_attention (4 heads of 4).

    `attention_mask`: bool, broadcastable to (batch, heads, query, key).
    """
    torch = pytest.importorskip("torch")
    batch, length, width = inputs.shape

    def project(dense, x):
        return x @ torch.tensor(dense.kernel.numpy()) + torch.tensor(dense.bias.numpy())

    x = torch.tensor(inputs)
    heads = [
        project(d, x).reshape(batch, length, 4, 4).transpose(1, 2)
        for d in (layer.query_dense, layer.key_dense, layer.value_dense)
    ]
    context = torch.nn.functional.scaled_dot_product_attention(
        *heads, attn_mask=torch.tensor(attention_mask)
    )
    context = context.transpose(1, 2).reshape(batch, length, width)
    return project(layer.output_dense, context).numpy()


def test_matches_torch_scaled_dot_product_attention_with_padding():
    layer = BertSelfAttention(num_heads=4, hidden_dim=16, dropout=0.0)
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(2, 5, 16)).astype("float32")
    padding_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32")
    found = keras.ops.convert_to_numpy(layer(inputs, padding_mask=padding_mask))
    expected = _torch_attention(
        layer, inputs, padding_mask.astype(bool)[:, None, None, :]
    )
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_hidden_dim_must_divide_by_heads():
    with pytest.raises(ValueError, match="multiple of num_heads=5"):
        BertSelfAttention(num_heads=5, hidden_dim=16)


def test_layer_shapes_and_config_round_trip():
    run_layer_test(
        BertSelfAttention,
        dict(num_heads=2, hidden_dim=8, dropout=0.3),
        {
            "inputs": np.ones((2, 5, 8), "float32"),
            "padding_mask": np.array([[1] * 5, [1, 1, 1, 0, 0]], "int32"),
        },
        expected_output_shape=(2, 5, 8),
    )


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_implementations_agree(dtype):
    from keras_bert_impl.layers.bert_self_attention import set_attention_implementation

    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(3, 6, 16)).astype("float32")
    # Row 2 is all padding (as the filler rows of length bucketing).
    padding_mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0], [0] * 6], "int32")
    layer = BertSelfAttention(
        num_heads=4, hidden_dim=16, attention_implementation="einsum", dtype=dtype
    )
    expected = keras.ops.convert_to_numpy(layer(inputs, padding_mask=padding_mask))
    set_attention_implementation(layer, "dot_product_attention")
    assert layer.attention_implementation == "dot_product_attention"
    found = keras.ops.convert_to_numpy(layer(inputs, padding_mask=padding_mask))
    atol = 1e-5 if dtype == "float32" else 2e-2
    np.testing.assert_allclose(
        found.astype("float32"), expected.astype("float32"), atol=atol
    )
    assert np.isfinite(found.astype("float32")).all()


def test_fused_attention_falls_back_to_einsum_for_dropout_in_training():
    layer = BertSelfAttention(
        num_heads=2, hidden_dim=8, attention_implementation="dot_product_attention"
    )
    assert layer._use_fused_attention(training=False)
    assert not layer._use_fused_attention(training=True)
    layer = BertSelfAttention(
        num_heads=2,
        hidden_dim=8,
        dropout=0.0,
        attention_implementation="dot_product_attention",
    )
    assert layer._use_fused_attention(training=True)
    assert not BertSelfAttention(
        2, 8, attention_implementation="einsum"
    )._use_fused_attention(training=False)


def test_unknown_attention_implementation_fails():
    with pytest.raises(ValueError, match="attention_implementation"):
        BertSelfAttention(num_heads=2, hidden_dim=8, attention_implementation="flash")


@pytest.mark.parametrize("implementation", ["einsum", "dot_product_attention"])
def test_attention_mask_matches_torch_with_a_block_diagonal_mask(implementation):
    layer = BertSelfAttention(
        num_heads=4,
        hidden_dim=16,
        dropout=0.0,
        attention_implementation=implementation,
    )
    rng = np.random.default_rng(2)
    inputs = rng.normal(size=(1, 6, 16)).astype("float32")
    # Two packed instances (tokens 0-2 and 3-4) and one padding position.
    blocks = np.array([1, 1, 1, 2, 2, 0])
    attention_mask = (blocks[:, None] == blocks[None, :])[None]
    found = keras.ops.convert_to_numpy(layer(inputs, attention_mask=attention_mask))
    expected = _torch_attention(layer, inputs, attention_mask[:, None])
    np.testing.assert_allclose(found, expected, atol=1e-5)


@pytest.mark.parametrize("implementation", ["einsum", "dot_product_attention"])
@pytest.mark.parametrize("mask", ["padding_mask", "attention_mask"])
def test_first_token_only_is_torchs_first_row(implementation, mask):
    layer = BertSelfAttention(
        num_heads=4,
        hidden_dim=16,
        dropout=0.0,
        attention_implementation=implementation,
    )
    inputs = np.random.default_rng(3).normal(size=(2, 6, 16)).astype("float32")
    padding_mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], "int32")
    key_mask = np.broadcast_to(padding_mask.astype(bool)[:, None, :], (2, 6, 6))
    masks = {
        "padding_mask": {"padding_mask": padding_mask},
        "attention_mask": {"attention_mask": key_mask},
    }[mask]
    found = keras.ops.convert_to_numpy(layer(inputs, first_token_only=True, **masks))
    expected = _torch_attention(layer, inputs, key_mask[:, None])
    assert found.shape == (2, 1, 16)
    np.testing.assert_allclose(found, expected[:, :1], atol=1e-5)
