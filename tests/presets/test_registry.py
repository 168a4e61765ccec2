import json

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertBackbone
from keras_bert_impl.presets import list_presets
from keras_bert_impl.presets import preset_vocabulary
from keras_bert_impl.presets import tokenizer_from_preset
from keras_bert_impl.presets.catalog import PRESETS
from tests.huggingface_reference import minilm_folder
from tests.presets.shipped_presets import DOCUMENTED_PARAMETERS
from tests.presets.shipped_presets import TASK_PRESETS
from tests.presets.shipped_presets import shipped

# Built for real: TINY, BASE and MiniLM. The others (LARGE: 1.3 GB and 10-30 s
# to initialize on 2 cores) are counted from their config by the arithmetic
# these builds check, which the preset generator also asserts for every preset.
BUILT = ["bert_tiny_en_uncased", "bert_base_en_uncased", "all_minilm_l6_v2"]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("name", BUILT)
def test_builds_untrained_with_the_documented_parameter_count(name):
    backbone = BertBackbone.from_preset(name, load_weights=False)
    assert backbone.count_params() == DOCUMENTED_PARAMETERS[name]
    expected_activation = "gelu" if name == "all_minilm_l6_v2" else "gelu_approximate"
    assert backbone.activation == expected_activation
    if name == "bert_tiny_en_uncased":
        # config.json is exactly what serializing the built backbone writes.
        assert json.loads(
            json.dumps(keras.saving.serialize_keras_object(backbone))
        ) == shipped(name, "config.json")


def test_missing_weights_name_the_preset_and_the_command():
    with pytest.raises(FileNotFoundError) as error:
        BertBackbone.from_preset("bert_base_en_uncased")
    message = str(error.value)
    assert "Preset 'bert_base_en_uncased' has no weights" in message
    assert (
        "keras-bert convert --source path/to/uncased_L-12_H-768_A-12 "
        "--preset bert_base_en_uncased" in message
    )


def test_unknown_name_lists_close_names():
    with pytest.raises(ValueError, match="Did you mean: bert_base_en_uncased"):
        BertBackbone.from_preset("bert_base_uncased_en")


def test_minilm_preset_loads_the_package_weights_offline():
    from keras_bert_impl.convert import from_huggingface

    backbone = BertBackbone.from_preset("all_minilm_l6_v2")
    reference = from_huggingface(minilm_folder())
    for ours, theirs in zip(backbone.weights, reference.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    tokenizer = tokenizer_from_preset("all_minilm_l6_v2")
    assert tokenizer("Hello world") == [7592, 2088]


def test_vocabulary_with_the_wrong_hash_is_refused(tmp_path):
    wrong = tmp_path / "vocab.txt"
    wrong.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    with pytest.raises(ValueError, match="does not belong to preset 'bert_base_en'"):
        preset_vocabulary("bert_base_en", wrong)
    path, config = preset_vocabulary("all_minilm_l6_v2")
    assert config["lowercase"] is True and path.name == "vocab.txt"


def test_list_presets_reports_weights(cache):
    rows = {row["name"]: row for row in list_presets()}
    assert set(rows) == set(PRESETS)
    assert rows["all_minilm_l6_v2"]["weights_present"]
    assert rows["all_minilm_l6_v2"]["size_bytes"] == 90_868_376
    assert not rows["bert_large_en"]["weights_present"]
    assert rows["bert_large_en"]["parameters"] == 333_579_264
    assert rows["bert_large_en"]["size_bytes"] == 4 * 333_579_264

    # A preset saved into the cache under a shipped name wins and has weights.
    BertBackbone.from_preset("bert_tiny_en_uncased", load_weights=False).save_to_preset(
        cache / "bert_tiny_en_uncased"
    )
    row = {r["name"]: r for r in list_presets()}["bert_tiny_en_uncased"]
    assert row["weights_present"] and row["path"] == str(cache / "bert_tiny_en_uncased")
    BertBackbone.from_preset("bert_tiny_en_uncased")


# Built for real, one per task class (BASE); MRPC and the LARGE SQuAD preset
# are counted by the arithmetic (test_parameter_count.py).
@pytest.mark.parametrize(
    "name",
    [
        "bert_base_en_uncased_sst2",
        "bert_base_en_uncased_squad",
        "bert_base_en_conll2003",
    ],
)
def test_task_presets_build_untrained(name):
    from keras_bert_impl import models

    task_class = getattr(models, TASK_PRESETS[name])
    model = task_class.from_preset(name, load_weights=False)
    assert type(model) is task_class
    assert model.count_params() == DOCUMENTED_PARAMETERS[name]
    assert model.labels == shipped(name, "task.json")["labels"]
    assert model.backbone.activation == "gelu"  # transformers' exact GELU
    with pytest.raises(FileNotFoundError) as error:
        task_class.from_preset(name)
    message = str(error.value)
    assert f"Preset '{name}' has no weights" in message
    assert "keras-bert convert --source path/to/" in message
    assert PRESETS[name]["source"]["url"] in message
    with pytest.raises(FileNotFoundError, match=f"--preset {name}"):
        BertBackbone.from_preset(name)
