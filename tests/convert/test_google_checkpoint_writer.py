"""`to_google_checkpoint`, checked by our reader and by one written independently.

The independent reader is `tf.train.load_checkpoint` plus the naming rules of
transformers' `load_tf_weights_in_bert` (`google_reference.original_name`),
loading the tensors into a `transformers.BertForPreTraining` /`BertModel`.
"""

import json

import numpy as np
import pytest

from keras_bert_impl.convert import ExactGeluWarning
from keras_bert_impl.convert import from_google_checkpoint
from keras_bert_impl.convert import from_huggingface
from keras_bert_impl.convert import to_google_checkpoint
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.models import BertQuestionAnswerer
from keras_bert_impl.models import BertTokenClassifier
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import call
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor
from tests.convert.google_reference import original_name
from tests.convert.huggingface_task_reference import assert_pretraining_outputs_equal
from tests.convert.round_trip import assert_bit_identical
from tests.convert.round_trip import real_vocabulary_batch
from tests.convert.round_trip import spread_weights
from tests.huggingface_reference import huggingface_outputs
from tests.huggingface_reference import minilm_folder
from tests.huggingface_reference import random_batch

# google-research/bert's hidden_act and transformers' name of the same function.
HIDDEN_ACT_IN_TRANSFORMERS = {"gelu": "gelu_new", "relu": "relu", "tanh": "tanh"}


def _tiny_pretrainer(**overrides):
    backbone = tiny_backbone(num_layers=2, **overrides)
    return spread_weights(BertPretrainer(backbone))


def transformers_from_google(prefix, model_class):
    """A transformers model filled from the checkpoint by the reference naming.

    Every parameter is read by its original name; every checkpoint tensor must
    be used.
    """
    import tensorflow as tf
    import torch
    import transformers

    config = json.loads((prefix.parent / "bert_config.json").read_text())
    config["hidden_act"] = HIDDEN_ACT_IN_TRANSFORMERS[config["hidden_act"]]
    model = getattr(transformers, model_class)(transformers.BertConfig(**config))
    reader = tf.train.load_checkpoint(str(prefix))
    state, used = {}, set()
    for name, parameter in model.state_dict().items():
        prefixed = name if model_class == "BertForPreTraining" else f"bert.{name}"
        mapped = original_name(prefixed)
        if mapped is None or not parameter.dtype.is_floating_point:
            continue
        google_name, transposed = mapped
        value = reader.get_tensor(google_name)
        state[name] = torch.from_numpy(value.T.copy() if transposed else value)
        used.add(google_name)
    assert used == set(reader.get_variable_to_shape_map())
    # The MLM decoder shares its weight and bias with the embeddings and bias.
    missing, _ = model.load_state_dict(state, strict=False)
    assert all(name.startswith("cls.predictions.decoder") for name in missing)
    return model.eval()


@pytest.fixture(scope="module")
def pretrainer_release(tmp_path_factory):
    pretrainer = _tiny_pretrainer(activation="gelu_approximate")
    folder = tmp_path_factory.mktemp("google") / "release"
    prefix = to_google_checkpoint(pretrainer, folder, tiny_preprocessor())
    return pretrainer, prefix


def test_release_folder_layout(pretrainer_release):
    import tensorflow as tf

    pretrainer, prefix = pretrainer_release
    assert prefix.name == "bert_model.ckpt"
    config = json.loads((prefix.parent / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu" and config["num_hidden_layers"] == 2
    assert (prefix.parent / "vocab.txt").read_text().split("\n")[:-1] == (
        TINY_VOCABULARY
    )
    shapes = dict(tf.train.list_variables(str(prefix)))
    assert shapes["bert/encoder/layer_1/attention/self/query/kernel"] == [16, 16]
    assert shapes["cls/seq_relationship/output_weights"] == [2, 16]
    assert "cls/predictions/output_bias" in shapes


def test_pretrainer_round_trips_bit_identical(pretrainer_release):
    pretrainer, prefix = pretrainer_release
    restored = from_google_checkpoint(prefix.parent)
    assert_bit_identical(pretrainer, restored)


def test_independent_reader_gets_our_outputs(pretrainer_release):
    pretrainer, prefix = pretrainer_release
    reference = transformers_from_google(prefix, "BertForPreTraining")
    batch = random_batch(vocab_size=len(TINY_VOCABULARY), length=12)
    expected = huggingface_outputs(reference, batch)
    assert_pretraining_outputs_equal(call(pretrainer, batch), expected, batch)
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    padding = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(
        call(pretrainer.backbone, inputs)["sequence_output"][padding],
        expected.hidden_states[-1].numpy()[padding],
        atol=1e-5,
        rtol=0,
    )


def test_exact_gelu_is_written_as_tanh_gelu_with_a_warning(tmp_path):
    backbone = spread_weights(tiny_backbone(activation="gelu"))
    with pytest.warns(ExactGeluWarning, match="google-research/bert runs the tanh"):
        prefix = to_google_checkpoint(backbone, tmp_path / "release")
    config = json.loads((prefix.parent / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu"
    assert not (prefix.parent / "vocab.txt").exists()
    restored = from_google_checkpoint(prefix)
    assert_bit_identical(backbone, restored, activation="gelu_approximate")


@pytest.mark.parametrize(
    "make_task, head",
    [
        (lambda b: BertClassifier(b, 3), {"output_weights": [3, 16]}),
        (lambda b: BertQuestionAnswerer(b), {"cls/squad/output_weights": [2, 16]}),
    ],
    ids=["classifier", "question_answerer"],
)
def test_fine_tuned_heads_keep_the_original_scripts_names(tmp_path, make_task, head):
    import tensorflow as tf

    task = spread_weights(make_task(tiny_backbone(activation="relu")))
    prefix = to_google_checkpoint(task, tmp_path / "release")
    shapes = dict(tf.train.list_variables(str(prefix)))
    assert {name: shapes[name] for name in head} == head
    assert json.loads((prefix.parent / "bert_config.json").read_text())[
        "hidden_act"
    ] == ("relu")
    assert_bit_identical(task.backbone, from_google_checkpoint(prefix))


@pytest.mark.parametrize(
    "make_model, message",
    [
        (lambda: BertTokenClassifier(tiny_backbone(), 3), "no head for this"),
        (lambda: tiny_backbone(activation="silu"), "activation='silu'"),
    ],
    ids=["token_classifier", "silu"],
)
def test_what_the_original_cannot_express_is_refused(tmp_path, make_model, message):
    with pytest.raises(ValueError, match=message):
        to_google_checkpoint(make_model(), tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_real_minilm_weights_through_the_independent_reader(tmp_path):
    backbone = from_huggingface(minilm_folder())
    with pytest.warns(ExactGeluWarning):
        prefix = to_google_checkpoint(backbone, tmp_path / "release")
    assert_bit_identical(
        backbone, from_google_checkpoint(prefix), activation="gelu_approximate"
    )
    reference = transformers_from_google(prefix, "BertModel")
    batch = real_vocabulary_batch()
    expected = huggingface_outputs(reference, batch)
    tanh_gelu = from_huggingface(minilm_folder(), activation="gelu_approximate")
    ours = call(tanh_gelu, batch)
    padding = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(
        ours["sequence_output"][padding],
        expected.last_hidden_state.numpy()[padding],
        atol=1e-4,
        rtol=0,
    )
    np.testing.assert_allclose(
        ours["pooled_output"], expected.pooler_output.numpy(), atol=1e-4, rtol=0
    )
