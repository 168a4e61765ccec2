import keras
import numpy as np
import pytest

from keras_bert_impl.layers import BertMaskedLMHead


def test_logits_at_mask_positions_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    embedding = keras.layers.Embedding(30, 8)
    embedding.build((None,))
    head = BertMaskedLMHead(token_embedding=embedding, hidden_dim=8)
    sequence = np.random.default_rng(2).normal(size=(2, 6, 8)).astype("float32")
    positions = np.array([[1, 4], [0, 5]], "int32")
    head(sequence, mask_positions=positions)  # builds the output bias
    head.output_bias.assign(np.arange(30, dtype="float32") / 30)
    found = keras.ops.convert_to_numpy(head(sequence, mask_positions=positions))

    def t(variable):
        return torch.tensor(variable.numpy())

    gathered = torch.tensor(sequence[np.arange(2)[:, None], positions])
    dense = head.transform_dense
    hidden = F.gelu(gathered @ t(dense.kernel) + t(dense.bias))
    norm = head.transform_layer_norm
    hidden = F.layer_norm(hidden, (8,), t(norm.gamma), t(norm.beta), eps=1e-12)
    expected = hidden @ t(embedding.embeddings).T + t(head.output_bias)
    assert found.shape == (2, 2, 30)
    np.testing.assert_allclose(found, expected.numpy(), atol=1e-5)
