import configparser

import pytest

from keras_bert_impl.presets.catalog import PRESETS
from keras_bert_impl.presets.catalog import VOCABULARIES
from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.preset_files import shipped_presets_dir
from keras_bert_impl.utils.vocabulary_file import read_vocabulary
from tests.presets.shipped_presets import DOCUMENTED_PARAMETERS
from tests.presets.shipped_presets import ROOT
from tests.presets.shipped_presets import TASK_PRESETS
from tests.presets.shipped_presets import shipped


def test_shipped_presets_are_the_documented_ones():
    assert shipped_presets_dir() == ROOT / "presets"
    names = sorted(p.name for p in shipped_presets_dir().iterdir() if p.is_dir())
    assert names == sorted(DOCUMENTED_PARAMETERS) == sorted(PRESETS)


def test_every_preset_matches_its_table_entry():
    for name, entry in PRESETS.items():
        config = shipped(name, "config.json")["config"]
        architecture = PRESETS[entry.get("backbone", name)].get("architecture")
        if architecture is not None:
            expected = {**architecture, **{"activation": entry.get("activation")}}
            if "task" not in entry:
                expected["activation"] = architecture["activation"]
            assert {k: config[k] for k in expected} == expected
        metadata = shipped(name, "metadata.json")
        assert metadata["license"] == entry.get("license", "Apache-2.0")
        assert metadata["source"] == entry["source"]
        if entry["source"]["format"] == "google":
            assert metadata["source"]["url"].startswith(
                "https://storage.googleapis.com/bert_models/"
            )
            assert f"--preset {name}" in metadata["convert_command"]


@pytest.mark.parametrize("vocabulary", sorted(VOCABULARIES))
def test_vocabulary_hashes_are_googles(shared_data, vocabulary):
    path = shared_data / "vocab" / vocabulary / "vocab.txt"
    assert file_sha256(path) == VOCABULARIES[vocabulary]["vocabulary_sha256"]
    assert path.stat().st_size == VOCABULARIES[vocabulary]["vocabulary_bytes"]
    tokens = read_vocabulary(path)
    assert len(tokens) == VOCABULARIES[vocabulary]["vocabulary_size"]


def test_setup_cfg_installs_every_preset_folder():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    data_files = dict(parser["options.data_files"])
    for name in PRESETS:
        assert data_files[f"share/keras_bert_impl/presets/{name}"] == (
            f"presets/{name}/*.json"
        )


def test_every_label_list_is_the_readers():
    # The catalog writes the label lists out (the package imports no task
    # reader); here they must equal, in class-id order, what the readers define.
    from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
    from keras_bert_impl.data.glue import GLUE_TASKS

    reader_labels = {
        "bert_base_en_uncased_sst2": GLUE_TASKS["sst-2"].label_list,
        "bert_base_en_uncased_mrpc": GLUE_TASKS["mrpc"].label_list,
        "bert_base_en_conll2003": CONLL2003_NER_LABELS,
    }
    labelled = {name for name, e in PRESETS.items() if e.get("task", {}).get("labels")}
    assert labelled == set(reader_labels)
    for name, labels in reader_labels.items():
        task = PRESETS[name]["task"]
        assert task["labels"] == list(labels), name
        assert task["arguments"]["num_classes"] == len(labels), name


def test_task_presets_carry_their_head_labels_and_recipe():
    assert {n for n, e in PRESETS.items() if "task" in e} == set(TASK_PRESETS)
    for name, class_name in TASK_PRESETS.items():
        task = shipped(name, "task.json")
        assert task["class_name"] == class_name
        assert task["labels"] == PRESETS[name]["task"]["labels"]
        assert task["fine_tuning"] == PRESETS[name]["task"]["fine_tuning"]
        recipe = task["fine_tuning"]
        assert (recipe["warmup_proportion"], recipe["weight_decay"]) == (0.1, 0.01)
        metadata = shipped(name, "metadata.json")
        assert metadata["source"]["url"].startswith("https://huggingface.co/")
        assert metadata["convert_command"].endswith(f"--preset {name}")
        # Same vocabulary as the backbone preset it fine-tunes.
        assert shipped(name, "tokenizer.json") == shipped(
            PRESETS[name]["backbone"], "tokenizer.json"
        )
    # The paper's values (arXiv:1810.04805 sections 4.1 and 4.2).
    squad = shipped("bert_base_en_uncased_squad", "task.json")["fine_tuning"]
    assert (squad["learning_rate"], squad["batch_size"], squad["epochs"]) == (
        5e-5,
        32,
        3,
    )
    assert (squad["max_seq_length"], squad["doc_stride"]) == (384, 128)
    glue = shipped("bert_base_en_uncased_mrpc", "task.json")["fine_tuning"]
    assert (glue["batch_size"], glue["epochs"]) == (32, 3)
    assert glue["learning_rate_candidates"] == [5e-5, 4e-5, 3e-5, 2e-5]
