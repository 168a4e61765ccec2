"""keras-hub style presets: tokenizers, preprocessors and tasks from one name.

`BertTokenizer.from_preset`, `BertPreprocessor.from_preset(preset,
sequence_length=...)` and every task's `from_preset` attaching the preset's
preprocessor, checked on the real MiniLM preset against transformers'
tokenizer, and on tiny preset folders.
"""

import json

import numpy as np
import pytest

from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.models import BertTask
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor
from tests.tokenizers import reference

MINILM = "all_minilm_l6_v2"
TEXTS = ["A fine film.", "The quick brown fox jumps over the lazy dog!"]


@pytest.fixture(scope="module")
def minilm_classifier():
    return BertClassifier.from_preset(MINILM, num_classes=2)


@pytest.fixture
def tiny_backbone_preset(tmp_path):
    """A backbone preset with `tokenizer.json` + `vocab.txt`, no preprocessor.json."""
    folder = tmp_path / "tiny_backbone"
    tiny_backbone().save_to_preset(folder)
    (folder / "vocab.txt").write_text("\n".join(TINY_VOCABULARY) + "\n")
    tokenizer_config = {"vocabulary_file": "vocab.txt", "lowercase": True}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_config))
    return folder


def _ids(outputs):
    return np.asarray(outputs["token_ids"])


def test_tokenizer_from_preset_matches_transformers_on_minilm():
    tokenizer = BertTokenizer.from_preset(MINILM)
    hf = reference.hf_legacy(reference.minilm_vocab_path())
    for text in TEXTS:
        expected = hf(text, add_special_tokens=False)["input_ids"]
        assert np.asarray(tokenizer(text)).tolist() == expected


def test_preprocessor_from_preset_takes_a_length_and_a_new_one_later():
    preprocessor = BertPreprocessor.from_preset(MINILM, sequence_length=16)
    hf = reference.hf_legacy(reference.minilm_vocab_path())
    expected = hf(TEXTS, padding="max_length", max_length=16, truncation=True)
    np.testing.assert_array_equal(_ids(preprocessor(TEXTS)), expected["input_ids"])
    preprocessor.sequence_length = 8
    expected = hf(TEXTS, padding="max_length", max_length=8, truncation=True)
    np.testing.assert_array_equal(_ids(preprocessor(TEXTS)), expected["input_ids"])
    assert preprocessor.get_config()["sequence_length"] == 8
    with pytest.raises(ValueError, match="at least 3"):
        preprocessor.sequence_length = 2


def test_preprocessor_from_a_preset_without_one_uses_the_default_length(
    tiny_backbone_preset,
):
    preprocessor = BertPreprocessor.from_preset(tiny_backbone_preset)
    assert preprocessor.sequence_length == 128
    assert preprocessor.tokenizer.get_vocabulary() == TINY_VOCABULARY


def test_classifier_from_minilm_preset_predicts_strings(minilm_classifier):
    logits = minilm_classifier.predict(["a fine film"], verbose=0)
    assert logits.shape == (1, 2)
    # The strings went through the preset's own preprocessor.
    packed = minilm_classifier.preprocessor(["a fine film"])
    np.testing.assert_allclose(
        logits, minilm_classifier.predict(packed, verbose=0), atol=1e-6
    )
    assert minilm_classifier.preprocessor.tokenizer.vocabulary_size() == 30522


def test_preprocessor_none_turns_preprocessing_off(tiny_backbone_preset):
    classifier = BertClassifier.from_preset(
        tiny_backbone_preset, num_classes=2, preprocessor=None
    )
    assert classifier.preprocessor is None
    classifier = BertClassifier.from_preset(tiny_backbone_preset, num_classes=2)
    assert classifier.preprocessor.sequence_length == 128
    classifier.preprocessor = None
    with pytest.raises(ValueError, match="has no preprocessor"):
        classifier.predict(["a good movie"], verbose=0)


def test_a_preprocessor_of_another_vocabulary_size_is_refused():
    larger = BertPreprocessor(BertTokenizer(TINY_VOCABULARY + ["extra"]))
    size = len(TINY_VOCABULARY)
    message = (
        f"tokenizer has {size + 1} tokens but the backbone's vocabulary_size is {size}"
    )
    with pytest.raises(ValueError, match=message):
        BertClassifier(tiny_backbone(), num_classes=2, preprocessor=larger)
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    with pytest.raises(ValueError, match=message):
        classifier.preprocessor = larger


def test_base_class_from_preset_returns_the_class_task_json_names(
    tmp_path, tiny_backbone_preset
):
    saved = BertClassifier(tiny_backbone(), num_classes=3, preprocessor=None)
    saved.save_to_preset(tmp_path / "task")
    task = BertTask.from_preset(tmp_path / "task", load_weights=False)
    assert type(task) is BertClassifier and task.num_classes == 3
    with pytest.raises(ValueError, match="no task.json.*BertClassifier.from_preset"):
        BertTask.from_preset(tiny_backbone_preset)


def test_task_preset_keeps_its_saved_preprocessor(tmp_path):
    saved = BertClassifier(tiny_backbone(), num_classes=2)
    saved.preprocessor = tiny_preprocessor(sequence_length=10)
    saved.save_to_preset(tmp_path / "task")
    task = BertClassifier.from_preset(tmp_path / "task")
    assert task.preprocessor.sequence_length == 10
    preprocessor = BertPreprocessor.from_preset(tmp_path / "task", sequence_length=6)
    assert _ids(preprocessor(["the fox"])).shape == (1, 6)


def test_pretrainer_gets_no_text_preprocessor(tmp_path):
    # A text preprocessor makes no `mask_positions`.
    saved = BertClassifier(tiny_backbone(), num_classes=2)
    saved.preprocessor = tiny_preprocessor()
    saved.save_to_preset(tmp_path / "task")
    assert BertPretrainer.from_preset(tmp_path / "task").preprocessor is None


def test_a_vocabulary_not_on_this_machine_attaches_none_with_a_warning(
    tiny_backbone_preset,
):
    (tiny_backbone_preset / "vocab.txt").unlink()
    with pytest.warns(UserWarning, match="has no vocabulary.*pass preprocessor="):
        classifier = BertClassifier.from_preset(tiny_backbone_preset, num_classes=2)
    assert classifier.preprocessor is None
