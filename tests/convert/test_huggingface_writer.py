"""`to_huggingface` for every head transformers has: round trips and parity."""

import json

import numpy as np
import pytest

from keras_bert_impl.convert import from_huggingface
from keras_bert_impl.convert import to_huggingface
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertMultipleChoice
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.models import BertQuestionAnswerer
from keras_bert_impl.models import BertTokenClassifier
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import call
from tests.bert_test_case import tiny_backbone
from tests.convert.huggingface_task_reference import assert_pretraining_outputs_equal
from tests.convert.huggingface_task_reference import task_outputs
from tests.convert.round_trip import assert_bit_identical
from tests.convert.round_trip import spread_weights
from tests.huggingface_reference import huggingface_outputs
from tests.huggingface_reference import random_batch

# Our model, the transformers class that holds it, and a name for the test.
MODELS = {
    "backbone": (lambda b: b, "BertModel"),
    "pretrainer": (BertPretrainer, "BertForPreTraining"),
    "classifier": (
        lambda b: BertClassifier(b, 3, dropout=0.0),
        "BertForSequenceClassification",
    ),
    "regression": (
        lambda b: BertClassifier(b, 1, dropout=0.0),
        "BertForSequenceClassification",
    ),
    "token_classifier": (
        lambda b: BertTokenClassifier(b, 4, dropout=0.0),
        "BertForTokenClassification",
    ),
    "question_answerer": (BertQuestionAnswerer, "BertForQuestionAnswering"),
}


def _model(kind, activation="gelu"):
    make_model, _ = MODELS[kind]
    return spread_weights(make_model(tiny_backbone(activation=activation)))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_round_trip_is_bit_identical(tmp_path, kind):
    model = _model(kind)
    to_huggingface(model, tmp_path)
    assert_bit_identical(model, from_huggingface(tmp_path))


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("activation", ["gelu", "gelu_approximate"])
def test_transformers_loads_what_we_write(tmp_path, kind, activation):
    import transformers

    model = _model(kind, activation)
    to_huggingface(model, tmp_path)
    architecture = MODELS[kind][1]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == [architecture]
    reference = getattr(transformers, architecture).from_pretrained(tmp_path).eval()
    batch = random_batch(vocab_size=len(TINY_VOCABULARY), length=12)
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    padding = batch["padding_mask"].astype(bool)
    if kind == "backbone":
        found = call(model, inputs)
        expected = huggingface_outputs(reference, batch)
        pairs = [
            (
                found["sequence_output"][padding],
                expected.last_hidden_state.numpy()[padding],
            ),
            (found["pooled_output"], expected.pooler_output.numpy()),
        ]
    elif kind == "pretrainer":
        expected = huggingface_outputs(reference, batch)
        assert_pretraining_outputs_equal(call(model, batch), expected, batch)
        pairs = []
    else:
        found = call(model, inputs)
        expected = task_outputs(reference, inputs)
        if kind == "question_answerer":
            pairs = [
                (found[name][padding], expected[name][padding])
                for name in ("start_logits", "end_logits")
            ]
        elif kind == "token_classifier":
            pairs = [(found[padding], expected[padding])]
        else:
            pairs = [(found, expected)]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_regression_head_is_written_as_regression(tmp_path):
    to_huggingface(_model("regression"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {
        "0": "LABEL_0"
    }


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: BertMultipleChoice(tiny_backbone(), num_choices=2),
        lambda: BertClassifier(tiny_backbone(), 2, feature_layers=[-1]),
    ],
    ids=["multiple_choice", "feature_layers"],
)
def test_heads_transformers_cannot_hold_are_refused(tmp_path, make_model):
    with pytest.raises(ValueError, match="save its .backbone instead"):
        to_huggingface(make_model(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
