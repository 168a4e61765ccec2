import keras
import numpy as np
import pytest

from keras_bert_impl.layers import BertEmbeddings
from tests.bert_test_case import run_layer_test


def test_sum_of_three_tables_then_layer_norm_as_torch():
    torch = pytest.importorskip("torch")
    layer = BertEmbeddings(
        vocabulary_size=20, hidden_dim=8, max_sequence_length=6, dropout=0.0
    )
    token_ids = np.array([[3, 4, 5, 0]], "int32")
    segment_ids = np.array([[0, 0, 1, 1]], "int32")
    found = keras.ops.convert_to_numpy(layer(token_ids, segment_ids))
    summed = (
        layer.token_embedding.embeddings.numpy()[token_ids]
        + layer.segment_embedding.embeddings.numpy()[segment_ids]
        + layer.position_embedding.embeddings.numpy()[None, :4]
    )
    expected = torch.nn.functional.layer_norm(
        torch.tensor(summed),
        (8,),
        torch.tensor(layer.layer_norm.gamma.numpy()),
        torch.tensor(layer.layer_norm.beta.numpy()),
        eps=1e-12,
    ).numpy()
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_too_long_sequence_names_the_limit():
    layer = BertEmbeddings(vocabulary_size=20, hidden_dim=8, max_sequence_length=6)
    with pytest.raises(ValueError, match="length 7 .* max_sequence_length=6"):
        layer(np.zeros((1, 7), "int32"), np.zeros((1, 7), "int32"))


def test_layer_shapes_and_config_round_trip():
    run_layer_test(
        BertEmbeddings,
        dict(vocabulary_size=20, hidden_dim=8, num_segments=3),
        {
            "token_ids": np.array([[3, 4, 5, 0], [6, 7, 8, 9]], "int32"),
            "segment_ids": np.array([[0, 0, 2, 2], [0, 1, 1, 1]], "int32"),
        },
        expected_output_shape=(2, 4, 8),
    )


def test_position_ids_pick_rows_of_the_position_table():
    layer = BertEmbeddings(
        vocabulary_size=20, hidden_dim=8, max_sequence_length=6, dropout=0.0
    )
    token_ids = np.array([[3, 4, 5, 6, 7]], "int32")
    segment_ids = np.zeros((1, 5), "int32")
    position_ids = np.array([[0, 1, 2, 0, 1]], "int32")
    found = keras.ops.convert_to_numpy(
        layer(token_ids, segment_ids, position_ids=position_ids)
    )
    # Positions 3, 4 restarted at 0, 1: as the embeddings of tokens 6, 7 at the
    # start of a sequence of their own.
    alone = keras.ops.convert_to_numpy(layer(token_ids[:, 3:], segment_ids[:, 3:]))
    np.testing.assert_allclose(found[:, 3:], alone, atol=1e-6)
    np.testing.assert_allclose(
        found[:, :3],
        keras.ops.convert_to_numpy(layer(token_ids[:, :3], segment_ids[:, :3])),
        atol=1e-6,
    )
