"""`from_preset(path)` on checkpoint folders of every format, converted once.

Folders written by transformers, by google-research/bert's TF1 layout and by
keras-hub load with outputs equal to the converters' own; a second load reads
the cache, a rewritten source is converted again.
"""

import numpy as np
import pytest

from keras_bert_impl.convert import foreign_folder
from keras_bert_impl.convert import from_google_checkpoint
from keras_bert_impl.convert import from_huggingface
from keras_bert_impl.convert import from_keras_hub
from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.tokenizers import BertTokenizer
from tests import huggingface_reference
from tests.bert_test_case import TINY_BACKBONE_CONFIG
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import assert_all_close
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import tiny_backbone
from tests.convert import google_reference

VOCABULARY = google_reference.tiny_vocabulary(
    huggingface_reference.TINY_CONFIG["vocab_size"]
)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def huggingface_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("huggingface") / "bert"
    model = huggingface_reference.random_bert_for_pretraining(folder)
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in VOCABULARY))
    return folder, model


def _batch():
    batch = huggingface_reference.random_batch(len(VOCABULARY))
    return {key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}


def test_huggingface_folder_loads_as_backbone_pretrainer_and_task(
    huggingface_folder, monkeypatch
):
    folder, _ = huggingface_folder
    batch = huggingface_reference.random_batch(len(VOCABULARY))
    backbone = BertBackbone.from_preset(folder)
    expected = from_huggingface(folder, with_heads=False)
    assert_all_close(call(backbone, _batch()), call(expected, _batch()), atol=1e-6)
    # The pretrainer asks for the heads the checkpoint has.
    pretrainer = BertPretrainer.from_preset(folder)
    assert_all_close(
        call(pretrainer, batch), call(from_huggingface(folder), batch), atol=1e-6
    )
    classifier = BertClassifier.from_preset(folder, num_classes=2)
    assert classifier.preprocessor.tokenizer.get_vocabulary() == VOCABULARY
    assert BertTokenizer.from_preset(folder).get_vocabulary() == VOCABULARY
    # Second loads read the cache: no conversion runs.
    monkeypatch.setattr(foreign_folder, "load_checkpoint", None)
    assert_all_close(
        call(BertBackbone.from_preset(folder), _batch()),
        call(expected, _batch()),
        atol=1e-6,
    )
    assert isinstance(BertPretrainer.from_preset(folder), BertPretrainer)


def test_a_rewritten_source_is_converted_again(tmp_path):
    folder = tmp_path / "bert"
    huggingface_reference.random_bert_for_pretraining(folder, seed=0)
    first = BertBackbone.from_preset(folder)
    huggingface_reference.random_bert_for_pretraining(folder, seed=1)
    second = BertBackbone.from_preset(folder)
    assert_all_close(
        call(second, _batch()),
        call(from_huggingface(folder, with_heads=False), _batch()),
        atol=1e-6,
    )
    assert not np.allclose(first.get_weights()[0], second.get_weights()[0]), (
        "the second source's weights were not loaded"
    )


def test_google_checkpoint_folder_loads(huggingface_folder, tmp_path):
    _, model = huggingface_folder
    folder = tmp_path / "google"
    google_reference.write_google_checkpoint(
        folder,
        google_reference.google_tensors(model),
        google_reference.bert_config(model.config),
        VOCABULARY,
    )
    batch = huggingface_reference.random_batch(len(VOCABULARY))
    assert_all_close(
        call(BertPretrainer.from_preset(folder), batch),
        call(from_google_checkpoint(folder), batch),
        atol=1e-6,
    )
    assert BertTokenizer.from_preset(folder).get_vocabulary() == VOCABULARY


def test_keras_hub_preset_folder_loads(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    folder = tmp_path / "keras_hub"
    config = {**TINY_BACKBONE_CONFIG, "vocabulary_size": len(TINY_VOCABULARY)}
    keras_hub.models.BertBackbone(**config).save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=TINY_VOCABULARY).save_to_preset(
        str(folder)
    )
    x = random_inputs((2, 8))
    assert_all_close(
        call(BertBackbone.from_preset(folder), x),
        call(from_keras_hub(folder), x),
        atol=1e-6,
    )
    classifier = BertClassifier.from_preset(folder, num_classes=2)
    assert classifier.preprocessor.tokenizer.get_vocabulary() == TINY_VOCABULARY


def test_run_directory_loads_its_model(tmp_path):
    backbone = tiny_backbone()
    backbone.save_to_preset(tmp_path / "run" / "model")
    x = random_inputs((2, 8))
    loaded = BertBackbone.from_preset(tmp_path / "run")
    assert_all_close(call(loaded, x), call(backbone, x), atol=1e-6)
