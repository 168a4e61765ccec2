import configparser
import json
import pathlib

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertBackbone
from keras_bert_impl.presets import list_presets
from keras_bert_impl.presets import preset_vocabulary
from keras_bert_impl.presets import tokenizer_from_preset
from keras_bert_impl.presets.registry import PRESETS
from keras_bert_impl.presets.registry import VOCABULARIES
from keras_bert_impl.presets.registry import backbone_parameter_count
from keras_bert_impl.presets.registry import task_head_parameter_count
from keras_bert_impl.presets.registry import write_shipped_presets
from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.preset_files import shipped_presets_dir
from keras_bert_impl.utils.vocabulary_file import (
    read_vocabulary as read_vocabulary_tokens,
)
from tests.huggingface_reference import minilm_folder

ROOT = pathlib.Path(__file__).resolve().parents[2]
# DESIGN.md's numbers; the rest are those of each release's architecture.
DOCUMENTED_PARAMETERS = {
    "bert_tiny_en_uncased": 4_385_920,
    "bert_mini_en_uncased": 11_170_560,
    "bert_small_en_uncased": 28_763_648,
    "bert_medium_en_uncased": 41_373_184,
    "bert_base_en_uncased": 109_482_240,
    "bert_base_en": 108_310_272,
    "bert_large_en_uncased": 335_141_888,
    "bert_large_en": 333_579_264,
    "bert_large_en_uncased_wwm": 335_141_888,
    "bert_base_zh": 102_267_648,
    "bert_base_multi": 177_853_440,
    "all_minilm_l6_v2": 22_713_216,
    # Task presets: the backbone plus one dense layer (hidden x outputs + bias),
    # e.g. transformers' BertForSequenceClassification(bert-base-uncased):
    # 109,483,778.
    "bert_base_en_uncased_sst2": 109_483_778,
    "bert_base_en_uncased_mrpc": 109_483_778,
    "bert_base_en_uncased_squad": 109_483_778,
    "bert_large_en_uncased_wwm_squad": 335_143_938,
    "bert_base_en_conll2003": 108_317_193,
}
TASK_PRESETS = {
    "bert_base_en_uncased_sst2": "BertClassifier",
    "bert_base_en_uncased_mrpc": "BertClassifier",
    "bert_base_en_uncased_squad": "BertQuestionAnswerer",
    "bert_large_en_uncased_wwm_squad": "BertQuestionAnswerer",
    "bert_base_en_conll2003": "BertTokenClassifier",
}
# Built for real: TINY, BASE and MiniLM. The others (LARGE: 1.3 GB and 10-30 s
# to initialize on 2 cores) are counted from their config by the arithmetic
# these builds check, which the preset generator also asserts for every preset.
BUILT = ["bert_tiny_en_uncased", "bert_base_en_uncased", "all_minilm_l6_v2"]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _shipped(name, file_name):
    return json.loads((shipped_presets_dir() / name / file_name).read_text())


def test_shipped_presets_are_the_documented_ones():
    assert shipped_presets_dir() == ROOT / "presets"
    names = sorted(p.name for p in shipped_presets_dir().iterdir() if p.is_dir())
    assert names == sorted(DOCUMENTED_PARAMETERS) == sorted(PRESETS)


@pytest.mark.parametrize("name", sorted(DOCUMENTED_PARAMETERS))
def test_parameter_count_from_config_and_metadata(name):
    config = _shipped(name, "config.json")["config"]
    parameters = backbone_parameter_count(config)
    if name in TASK_PRESETS:
        task = _shipped(name, "task.json")["config"]
        parameters += task_head_parameter_count(config["hidden_dim"], task)
    assert parameters == DOCUMENTED_PARAMETERS[name]
    assert (
        _shipped(name, "metadata.json")["parameter_count"]
        == (DOCUMENTED_PARAMETERS[name])
    )


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
        ) == _shipped(name, "config.json")


def test_every_preset_matches_its_table_entry():
    for name, entry in PRESETS.items():
        config = _shipped(name, "config.json")["config"]
        architecture = PRESETS[entry.get("backbone", name)].get("architecture")
        if architecture is not None:
            expected = {**architecture, **{"activation": entry.get("activation")}}
            if "task" not in entry:
                expected["activation"] = architecture["activation"]
            assert {k: config[k] for k in expected} == expected
        metadata = _shipped(name, "metadata.json")
        assert metadata["license"] == entry.get("license", "Apache-2.0")
        assert metadata["source"] == entry["source"]
        if entry["source"]["format"] == "google":
            assert metadata["source"]["url"].startswith(
                "https://storage.googleapis.com/bert_models/"
            )
            assert f"--preset {name}" in metadata["convert_command"]


def test_regenerated_small_presets_equal_the_shipped_files(tmp_path):
    names = ["bert_tiny_en_uncased", "all_minilm_l6_v2"]
    write_shipped_presets(tmp_path, names)
    for name in names:
        for file in ("config.json", "tokenizer.json", "metadata.json"):
            assert json.loads((tmp_path / name / file).read_text()) == _shipped(
                name, file
            ), f"{name}/{file} is stale: python -m keras_bert_impl.presets --write"


def test_vocabulary_hashes_are_googles(shared_data):
    folders = {
        "uncased": "uncased",
        "cased": "cased",
        "chinese": "chinese",
        "multilingual_cased": "multilingual_cased",
    }
    for key, folder in folders.items():
        path = shared_data / "vocab" / folder / "vocab.txt"
        assert file_sha256(path) == VOCABULARIES[key]["vocabulary_sha256"]
        assert path.stat().st_size == VOCABULARIES[key]["vocabulary_bytes"]
        tokens = read_vocabulary_tokens(path)
        assert len(tokens) == VOCABULARIES[key]["vocabulary_size"]


def test_setup_cfg_installs_every_preset_folder():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    data_files = dict(parser["options.data_files"])
    for name in PRESETS:
        assert data_files[f"share/keras_bert_impl/presets/{name}"] == (
            f"presets/{name}/*.json"
        )


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


def test_task_presets_carry_their_head_labels_and_recipe():
    from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
    from keras_bert_impl.data.glue import GLUE_TASKS

    assert {n for n, e in PRESETS.items() if "task" in e} == set(TASK_PRESETS)
    for name, class_name in TASK_PRESETS.items():
        task = _shipped(name, "task.json")
        assert task["class_name"] == class_name
        assert task["fine_tuning"] == PRESETS[name]["task"]["fine_tuning"]
        recipe = task["fine_tuning"]
        assert (recipe["warmup_proportion"], recipe["weight_decay"]) == (0.1, 0.01)
        metadata = _shipped(name, "metadata.json")
        assert metadata["source"]["url"].startswith("https://huggingface.co/")
        assert metadata["convert_command"].endswith(f"--preset {name}")
        # Same vocabulary as the backbone preset it fine-tunes.
        assert _shipped(name, "tokenizer.json") == _shipped(
            PRESETS[name]["backbone"], "tokenizer.json"
        )
    assert _shipped("bert_base_en_uncased_sst2", "task.json")["labels"] == list(
        GLUE_TASKS["sst-2"].label_list
    )
    assert _shipped("bert_base_en_conll2003", "task.json")["labels"] == list(
        CONLL2003_NER_LABELS
    )
    # The paper's values (arXiv:1810.04805 sections 4.1 and 4.2).
    squad = _shipped("bert_base_en_uncased_squad", "task.json")["fine_tuning"]
    assert (squad["learning_rate"], squad["batch_size"], squad["epochs"]) == (
        5e-5,
        32,
        3,
    )
    assert (squad["max_seq_length"], squad["doc_stride"]) == (384, 128)
    glue = _shipped("bert_base_en_uncased_mrpc", "task.json")["fine_tuning"]
    assert (glue["batch_size"], glue["epochs"]) == (32, 3)
    assert glue["learning_rate_candidates"] == [5e-5, 4e-5, 3e-5, 2e-5]


# Built for real, one per task class (BASE); MRPC and the LARGE SQuAD preset
# are counted by the arithmetic above.
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
    assert model.labels == _shipped(name, "task.json")["labels"]
    assert model.backbone.activation == "gelu"  # transformers' exact GELU
    with pytest.raises(FileNotFoundError) as error:
        task_class.from_preset(name)
    message = str(error.value)
    assert f"Preset '{name}' has no weights" in message
    assert "keras-bert convert --source path/to/" in message
    assert PRESETS[name]["source"]["url"] in message
    with pytest.raises(FileNotFoundError, match=f"--preset {name}"):
        BertBackbone.from_preset(name)
