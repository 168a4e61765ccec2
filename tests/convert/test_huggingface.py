import json

import keras
import numpy as np
import pytest

from keras_bert_impl.convert import CheckpointMismatchError
from keras_bert_impl.convert import from_huggingface
from keras_bert_impl.convert import to_huggingface
from keras_bert_impl.convert.huggingface import huggingface_labels
from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertPretrainer
from tests.convert.huggingface_task_reference import TASK_CLASSES
from tests.convert.huggingface_task_reference import random_bert_for_task
from tests.convert.huggingface_task_reference import task_outputs
from tests.huggingface_reference import huggingface_outputs
from tests.huggingface_reference import minilm_folder
from tests.huggingface_reference import random_batch
from tests.huggingface_reference import random_bert_for_pretraining


def _backbone_inputs(batch):
    return {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}


def _assert_matches_reference(ours, reference, batch, tolerance):
    padding = batch["padding_mask"].astype(bool)
    sequence = keras.ops.convert_to_numpy(ours["sequence_output"])
    expected = reference.hidden_states[-1].numpy()
    # Padded positions are never read by anything downstream; compare real tokens.
    np.testing.assert_allclose(
        sequence[padding], expected[padding], atol=tolerance, rtol=0
    )


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new"])
def test_pretrainer_matches_transformers_bert_for_pretraining(tmp_path, hidden_act):
    reference_model = random_bert_for_pretraining(tmp_path, hidden_act=hidden_act)
    pretrainer = from_huggingface(tmp_path)
    assert isinstance(pretrainer, BertPretrainer)
    batch = random_batch(vocab_size=97)
    reference = huggingface_outputs(reference_model, batch)

    ours = pretrainer.predict(batch, verbose=0)
    backbone_outputs = pretrainer.backbone.predict(_backbone_inputs(batch), verbose=0)
    _assert_matches_reference(backbone_outputs, reference, batch, 1e-5)

    rows = np.arange(batch["token_ids"].shape[0])[:, None]
    expected_mlm = reference.prediction_logits.numpy()[rows, batch["mask_positions"]]
    np.testing.assert_allclose(ours["mlm_logits"], expected_mlm, atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        ours["nsp_logits"], reference.seq_relationship_logits.numpy(), atol=1e-5, rtol=0
    )
    # The pooled output is what NSP reads: check it against BertModel's directly.
    import torch

    with torch.no_grad():
        pooled = reference_model.bert(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
        ).pooler_output.numpy()
    np.testing.assert_allclose(
        backbone_outputs["pooled_output"], pooled, atol=1e-5, rtol=0
    )


def _minilm_sentence_pairs():
    """Real MiniLM weights in transformers and a batch its tokenizer made."""
    import transformers

    folder = minilm_folder()
    tokenizer = transformers.BertTokenizerFast(
        str(folder / "vocab.txt"), do_lower_case=True
    )
    encoded = tokenizer(
        ["The quick brown fox jumps over the lazy dog.", "Short one"],
        ["Is it a question?", "Paris is the capital of France, said the tour guide."],
        padding="max_length",
        max_length=32,
        return_tensors="np",
    )
    batch = {
        "token_ids": encoded["input_ids"].astype("int32"),
        "segment_ids": encoded["token_type_ids"].astype("int32"),
        "padding_mask": encoded["attention_mask"].astype("int32"),
    }
    reference_model = transformers.BertModel.from_pretrained(str(folder)).eval()
    return folder, batch, reference_model


def test_real_minilm_weights_match_transformers_bert_model():
    folder, batch, reference_model = _minilm_sentence_pairs()
    reference = huggingface_outputs(reference_model, batch)

    backbone = from_huggingface(folder)
    assert isinstance(backbone, BertBackbone) and backbone.activation == "gelu"
    ours = backbone.predict(batch, verbose=0)
    _assert_matches_reference(ours, reference, batch, 1e-4)
    np.testing.assert_allclose(
        ours["pooled_output"], reference.pooler_output.numpy(), atol=1e-4, rtol=0
    )


def test_real_minilm_in_bfloat16_errs_within_1_5x_transformers_bfloat16():
    # The tolerance is the peer's: transformers' own bfloat16 (torch.autocast,
    # its Trainer's --bf16) against its float32 outputs, on the same batch
    # (0.0121 here). Ours, with the residual stream in float32 as autocast
    # keeps it: 0.0127 (JAX), 0.0156 (TF), 0.0158 (torch); with the stream in
    # bfloat16 (Keras' mixed LayerNorm) it was 0.020, 0.047 and 0.030.
    import torch

    folder, batch, reference_model = _minilm_sentence_pairs()
    real = batch["padding_mask"].astype(bool)
    expected = huggingface_outputs(reference_model, batch).hidden_states[-1].numpy()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        peer = huggingface_outputs(reference_model, batch).hidden_states[-1]
    peer_error = np.abs(peer.float().numpy() - expected)[real].max()

    backbone = from_huggingface(folder, dtype="mixed_bfloat16")
    assert backbone.transformer_layers[0].attention.compute_dtype == "bfloat16"
    ours = keras.ops.convert_to_numpy(
        keras.ops.cast(backbone.predict(batch, verbose=0)["sequence_output"], "float32")
    )
    ours_error = np.abs(ours - expected)[real].max()
    assert 0 < ours_error <= 1.5 * peer_error, (ours_error, peer_error)


def test_real_minilm_weights_agree_with_keras_hub():
    keras_hub = pytest.importorskip("keras_hub")
    folder = minilm_folder()
    rng = np.random.default_rng(3)
    batch = {
        "token_ids": rng.integers(1000, 30000, size=(2, 24)).astype("int32"),
        "segment_ids": np.repeat([[0] * 12 + [1] * 12], 2, axis=0).astype("int32"),
        "padding_mask": np.array([[1] * 24, [1] * 16 + [0] * 8], "int32"),
    }
    batch["token_ids"][:, 0] = 101
    # keras-hub converts the same folder with its own converter; it always runs
    # tanh GELU, which our backbone reproduces with activation="gelu_approximate".
    reference = keras_hub.models.BertBackbone.from_preset(str(folder))
    expected = reference.predict(batch, verbose=0)
    ours = from_huggingface(folder, activation="gelu_approximate").predict(
        batch, verbose=0
    )
    padding = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(
        ours["sequence_output"][padding],
        expected["sequence_output"][padding],
        atol=1e-4,
    )
    np.testing.assert_allclose(
        ours["pooled_output"], expected["pooled_output"], atol=1e-4
    )


def test_saved_huggingface_folder_loads_in_transformers(tmp_path):
    import transformers

    reference_model = random_bert_for_pretraining(tmp_path / "source", seed=1)
    pretrainer = from_huggingface(tmp_path / "source")
    to_huggingface(pretrainer, tmp_path / "exported")
    reloaded = transformers.BertForPreTraining.from_pretrained(
        str(tmp_path / "exported")
    ).eval()
    batch = random_batch(vocab_size=97, seed=2)
    expected = huggingface_outputs(reference_model, batch)
    found = huggingface_outputs(reloaded, batch)
    np.testing.assert_allclose(
        found.prediction_logits.numpy(), expected.prediction_logits.numpy(), atol=1e-5
    )
    np.testing.assert_allclose(
        found.seq_relationship_logits.numpy(),
        expected.seq_relationship_logits.numpy(),
        atol=1e-5,
    )


def test_misshapen_tensor_is_named_with_both_shapes(tmp_path):
    from safetensors.numpy import load_file
    from safetensors.numpy import save_file

    random_bert_for_pretraining(tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    name = "bert.encoder.layer.1.attention.self.key.weight"
    tensors[name] = tensors[name][:, :16].copy()
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError) as error:
        from_huggingface(tmp_path)
    message = str(error.value)
    assert "encoder.layer.1.attention.self.key.weight" in message
    assert "(32, 16)" in message and "(32, 32)" in message


def test_missing_tensor_is_named(tmp_path):
    from safetensors.numpy import load_file
    from safetensors.numpy import save_file

    random_bert_for_pretraining(tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    del tensors["bert.encoder.layer.0.output.LayerNorm.bias"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(
        CheckpointMismatchError, match=r"missing tensor .*layer.0.output.LayerNorm.bias"
    ):
        from_huggingface(tmp_path)


def test_config_that_does_not_match_the_weights_is_reported(tmp_path):
    random_bert_for_pretraining(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["intermediate_size"] = 48
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match="intermediate.dense.weight"):
        from_huggingface(tmp_path)


def test_truncated_weight_file_is_a_clear_error(tmp_path):
    random_bert_for_pretraining(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointMismatchError, match="model.safetensors"):
        from_huggingface(tmp_path)


def _loss_and_gradients(pretrainer, x, y, weights):
    """Our training loss and its gradients, per variable path, on either backend."""
    backend = keras.backend.backend()
    variables = pretrainer.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = pretrainer.compute_loss(
                x, y, pretrainer(x, training=False), weights, training=False
            )
        gradients = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        def loss_fn(trainable_values):
            y_pred, _ = pretrainer.stateless_call(
                trainable_values,
                [v.value for v in pretrainer.non_trainable_variables],
                x,
                training=False,
            )
            return pretrainer.compute_loss(x, y, y_pred, weights, training=False)

        loss, gradients = jax.value_and_grad(loss_fn)([v.value for v in variables])
    else:
        pretrainer.zero_grad()
        loss = pretrainer.compute_loss(
            x, y, pretrainer(x, training=False), weights, training=False
        )
        loss.backward()
        loss = loss.detach()
        gradients = [v.value.grad for v in variables]
    return float(loss), {
        v.path: keras.ops.convert_to_numpy(g) for v, g in zip(variables, gradients)
    }


def test_pretraining_loss_and_gradients_match_transformers(tmp_path):
    import torch

    from keras_bert_impl.convert.weight_map import backbone_weight_map
    from keras_bert_impl.convert.weight_map import pretraining_heads_weight_map

    reference_model = random_bert_for_pretraining(tmp_path, seed=4)
    pretrainer = from_huggingface(tmp_path)
    x = random_batch(vocab_size=97, seed=4)
    rng = np.random.default_rng(4)
    masked_ids = rng.integers(5, 97, size=x["mask_positions"].shape).astype("int32")
    next_sentence = np.array([0, 1, 0], "int32")
    labels = np.full(x["token_ids"].shape, -100)
    labels[np.arange(3)[:, None], x["mask_positions"]] = masked_ids
    reference_model.zero_grad()
    reference = reference_model(
        input_ids=torch.tensor(x["token_ids"], dtype=torch.long),
        token_type_ids=torch.tensor(x["segment_ids"], dtype=torch.long),
        attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long),
        labels=torch.tensor(labels),
        next_sentence_label=torch.tensor(next_sentence, dtype=torch.long),
    )
    reference.loss.backward()
    reference_gradients = {
        name: parameter.grad.numpy()
        for name, parameter in reference_model.named_parameters()
    }

    loss, gradients = _loss_and_gradients(
        pretrainer,
        x,
        {"mlm_logits": masked_ids, "nsp_logits": next_sentence},
        {"mlm_logits": np.ones(masked_ids.shape, "float32")},
    )
    assert abs(loss - reference.loss.item()) <= 1e-5
    specs = [
        (s, "bert." + s.huggingface_name)
        for s in backbone_weight_map(pretrainer.backbone)
    ] + [(s, s.huggingface_name) for s in pretraining_heads_weight_map(pretrainer)]
    for spec, name in specs:
        expected = reference_gradients[name]
        if spec.huggingface_transposed:
            expected = expected.T
        np.testing.assert_allclose(
            gradients[spec.variable.path], expected, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize("architecture", sorted(TASK_CLASSES))
def test_fine_tuned_heads_match_transformers(tmp_path, architecture):
    labels = {"id2label": {0: "B-X", 1: "O", 2: "I-X"}, "label2id": None}
    labels["label2id"] = {v: k for k, v in labels["id2label"].items()}
    extra = {} if architecture == "BertForQuestionAnswering" else labels
    reference_model = random_bert_for_task(tmp_path, architecture, **extra)
    model = from_huggingface(tmp_path)
    assert type(model).__name__ == TASK_CLASSES[architecture]
    batch = _backbone_inputs(random_batch(vocab_size=97))
    expected = task_outputs(reference_model, batch)
    found = model.predict(batch, verbose=0)
    padding = batch["padding_mask"].astype(bool)
    if architecture == "BertForSequenceClassification":
        np.testing.assert_allclose(found, expected, atol=1e-5, rtol=0)
    elif architecture == "BertForTokenClassification":
        np.testing.assert_allclose(found[padding], expected[padding], atol=1e-5, rtol=0)
    else:
        for name in ("start_logits", "end_logits"):
            np.testing.assert_allclose(
                found[name][padding], expected[name][padding], atol=1e-5, rtol=0
            )
    config = json.loads((tmp_path / "config.json").read_text())
    expected_labels = None if not extra else ["B-X", "O", "I-X"]
    assert huggingface_labels(config) == expected_labels


def test_placeholder_labels_name_no_classes():
    assert huggingface_labels({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}) is None
    assert huggingface_labels({}) is None
