import numpy as np
import pytest

from keras_bert_impl.convert import CheckpointMismatchError
from keras_bert_impl.convert import from_google_checkpoint
from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertPretrainer
from tests.convert.google_reference import bert_config
from tests.convert.google_reference import google_tensors
from tests.convert.google_reference import write_google_checkpoint
from tests.convert.huggingface_task_reference import assert_pretraining_outputs_equal
from tests.huggingface_reference import huggingface_outputs
from tests.huggingface_reference import random_batch
from tests.huggingface_reference import random_bert_for_pretraining


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A random tiny tanh-GELU BertForPreTraining and its TF1 checkpoint."""
    root = tmp_path_factory.mktemp("google")
    model = random_bert_for_pretraining(root / "huggingface", hidden_act="gelu_new")
    tensors = google_tensors(model)
    config = bert_config(model.config)
    prefix = write_google_checkpoint(root / "release", tensors, config)
    return model, tensors, config, prefix


def test_checkpoint_holds_the_original_names(reference):
    import tensorflow as tf

    _, _, _, prefix = reference
    names = dict(tf.train.list_variables(str(prefix)))
    assert names["bert/encoder/layer_0/attention/self/query/kernel"] == [32, 32]
    assert names["cls/seq_relationship/output_weights"] == [2, 32]
    assert "cls/predictions/output_bias" in names
    assert not any("ATTRIBUTES" in name for name in names)


def test_pretrainer_matches_transformers(reference):
    import torch

    model, _, _, prefix = reference
    pretrainer = from_google_checkpoint(prefix.parent)
    assert isinstance(pretrainer, BertPretrainer)
    assert pretrainer.backbone.activation == "gelu_approximate"
    batch = random_batch(vocab_size=97)
    expected = huggingface_outputs(model, batch)
    ours = pretrainer.predict(batch, verbose=0)
    assert_pretraining_outputs_equal(ours, expected, batch)
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    backbone_outputs = pretrainer.backbone.predict(inputs, verbose=0)
    padding = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(
        backbone_outputs["sequence_output"][padding],
        expected.hidden_states[-1].numpy()[padding],
        atol=1e-5,
        rtol=0,
    )
    with torch.no_grad():
        pooled = model.bert(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
        ).pooler_output.numpy()
    np.testing.assert_allclose(
        backbone_outputs["pooled_output"], pooled, atol=1e-5, rtol=0
    )


def test_prefix_and_backbone_only(reference):
    _, tensors, _, prefix = reference
    backbone = from_google_checkpoint(prefix, with_heads=False, dropout=0.0)
    assert isinstance(backbone, BertBackbone) and backbone.dropout == 0.0
    np.testing.assert_array_equal(
        backbone.embeddings.token_embedding.embeddings.numpy(),
        tensors["bert/embeddings/word_embeddings"],
    )


def _rewrite(tmp_path, reference, change=None, **config_overrides):
    model, tensors, _, _ = reference
    tensors = dict(tensors)
    if change is not None:
        change(tensors)
    config = bert_config(model.config, **config_overrides)
    return write_google_checkpoint(tmp_path / "release", tensors, config)


def test_misshapen_tensor_is_named_with_both_shapes(tmp_path, reference):
    name = "bert/encoder/layer_1/attention/self/key/kernel"

    def change(tensors):
        tensors[name] = tensors[name][:, :16].copy()

    prefix = _rewrite(tmp_path, reference, change)
    with pytest.raises(CheckpointMismatchError) as error:
        from_google_checkpoint(prefix.parent)
    message = str(error.value)
    assert name in message and "(32, 16)" in message and "(32, 32)" in message


def test_missing_tensor_is_named(tmp_path, reference):
    def change(tensors):
        del tensors["cls/predictions/transform/LayerNorm/beta"]

    prefix = _rewrite(tmp_path, reference, change)
    with pytest.raises(
        CheckpointMismatchError,
        match="missing tensor 'cls/predictions/transform/LayerNorm/beta'",
    ):
        from_google_checkpoint(prefix.parent)


def test_config_with_fewer_layers_than_the_checkpoint_is_reported(tmp_path, reference):
    prefix = _rewrite(tmp_path, reference, num_hidden_layers=1)
    with pytest.raises(CheckpointMismatchError, match="bert/encoder/layer_1/"):
        from_google_checkpoint(prefix.parent)


def test_config_with_other_shapes_is_reported(tmp_path, reference):
    prefix = _rewrite(tmp_path, reference, intermediate_size=48)
    with pytest.raises(CheckpointMismatchError, match="intermediate/dense/kernel"):
        from_google_checkpoint(prefix.parent)


def test_truncated_data_file_is_a_clear_error(tmp_path, reference):
    prefix = _rewrite(tmp_path, reference)
    (data,) = prefix.parent.glob("bert_model.ckpt.data-*")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(CheckpointMismatchError, match="bert_model.ckpt"):
        from_google_checkpoint(prefix.parent)


def test_folder_without_config_or_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="TF checkpoints"):
        from_google_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        from_google_checkpoint(tmp_path / "nothing.ckpt")
