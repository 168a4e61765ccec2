import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from keras_bert_impl.convert import CheckpointMismatchError
from keras_bert_impl.convert import detect_source_format
from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.recipes.convert_to_preset import convert_to_preset
from keras_bert_impl.utils.file_io import file_sha256
from tests.bert_test_case import TINY_BACKBONE_CONFIG
from tests.bert_test_case import TINY_VOCABULARY
from tests.convert.google_reference import bert_config
from tests.convert.google_reference import google_tensors
from tests.convert.google_reference import tiny_vocabulary
from tests.convert.google_reference import write_google_checkpoint
from tests.convert.huggingface_task_reference import random_bert_for_task
from tests.convert.huggingface_task_reference import task_outputs
from tests.huggingface_reference import minilm_folder
from tests.huggingface_reference import random_batch
from tests.huggingface_reference import random_bert_for_pretraining


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_BERT_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A tiny Hugging Face folder and the same weights as a Google release."""
    root = tmp_path_factory.mktemp("sources")
    model = random_bert_for_pretraining(root / "huggingface", hidden_act="gelu_new")
    vocabulary = tiny_vocabulary(97)
    (root / "huggingface" / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    write_google_checkpoint(
        root / "google", google_tensors(model), bert_config(model.config), vocabulary
    )
    return root


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_detects_each_format(sources, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")

    assert detect_source_format(sources / "google") == "google"
    assert detect_source_format(sources / "google" / "bert_model.ckpt") == "google"
    assert detect_source_format(sources / "huggingface") == "huggingface"
    keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_VOCABULARY), **TINY_BACKBONE_CONFIG
    ).save_to_preset(str(tmp_path / "hub"))
    assert detect_source_format(tmp_path / "hub") == "keras_hub"
    with pytest.raises(ValueError, match="Cannot tell which checkpoint format"):
        detect_source_format(tmp_path)


def test_google_release_into_the_cache(sources, cache):
    path = convert_to_preset(sources / "google", "my_tiny_bert")
    assert path == cache / "my_tiny_bert"
    assert _leftovers(cache) == ["my_tiny_bert"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    files = set(_leftovers(path))
    assert {"config.json", "task.json", "task.weights.h5", "vocab.txt"} <= files
    assert {"tokenizer.json", "metadata.json"} <= files
    metadata = json.loads((path / "metadata.json").read_text())
    weights = (path / "task.weights.h5").read_bytes()
    assert metadata["weights"]["sha256"] == hashlib.sha256(weights).hexdigest()
    assert metadata["converted_from"]["format"] == "google"
    assert metadata["converted_from"]["activation"] == "gelu_approximate"
    tokenizer = json.loads((path / "tokenizer.json").read_text())
    assert tokenizer["vocabulary_size"] == 97 and tokenizer["lowercase"] is True

    # Loads back by name, with the pretraining heads and as a bare backbone.
    batch = random_batch(vocab_size=97)
    pretrainer = BertPretrainer.from_preset("my_tiny_bert")
    from keras_bert_impl.convert import from_google_checkpoint

    expected = from_google_checkpoint(sources / "google").predict(batch, verbose=0)
    found = pretrainer.predict(batch, verbose=0)
    np.testing.assert_allclose(found["nsp_logits"], expected["nsp_logits"], atol=1e-6)
    np.testing.assert_allclose(found["mlm_logits"], expected["mlm_logits"], atol=1e-6)
    backbone = BertBackbone.from_preset("my_tiny_bert")
    np.testing.assert_array_equal(
        backbone.get_weights()[0], pretrainer.backbone.get_weights()[0]
    )
    if (path / "preprocessor.json").is_file():
        from keras_bert_impl.utils.preset_io import load_serialized

        preprocessor = load_serialized(path / "preprocessor.json")
        assert preprocessor.tokenizer.vocabulary_size() == 97


def test_huggingface_folder_into_a_directory(sources, tmp_path, cache):
    path = convert_to_preset(sources / "huggingface", str(tmp_path / "out" / "hf"))
    assert path == tmp_path / "out" / "hf" and not cache.exists()
    batch = random_batch(vocab_size=97, seed=3)
    restored = BertPretrainer.from_preset(str(path)).predict(batch, verbose=0)
    from keras_bert_impl.convert import from_huggingface

    expected = from_huggingface(sources / "huggingface").predict(batch, verbose=0)
    np.testing.assert_allclose(
        restored["mlm_logits"], expected["mlm_logits"], atol=1e-6
    )


def test_real_minilm_into_its_known_preset_name(cache):
    path = convert_to_preset(minilm_folder(), "all_minilm_l6_v2")
    assert path == cache / "all_minilm_l6_v2"
    metadata = json.loads((path / "metadata.json").read_text())
    assert metadata["license"] == "Apache-2.0" and "weights_source" not in metadata
    rng = np.random.default_rng(0)
    batch = {
        "token_ids": rng.integers(1000, 30000, size=(2, 12)).astype("int32"),
        "segment_ids": np.zeros((2, 12), "int32"),
        "padding_mask": np.ones((2, 12), "int32"),
    }
    # The cached conversion and the package-backed shipped preset agree.
    cached = BertBackbone.from_preset("all_minilm_l6_v2")
    shutil.rmtree(path)
    shipped = BertBackbone.from_preset("all_minilm_l6_v2")
    np.testing.assert_allclose(
        cached.predict(batch, verbose=0)["pooled_output"],
        shipped.predict(batch, verbose=0)["pooled_output"],
        atol=1e-6,
    )


def test_vocabulary_with_the_wrong_hash_leaves_nothing(sources, cache):
    with pytest.raises(ValueError, match="does not belong to preset 'bert_tiny_en"):
        convert_to_preset(sources / "google", "bert_tiny_en_uncased")
    assert _leftovers(cache) == []


def test_architecture_that_is_not_the_presets_leaves_nothing(sources, tmp_path, cache):
    # The right (uncased) vocabulary, but a 97-token, 32-wide model.
    with pytest.raises(ValueError, match="vocabulary_size: checkpoint 97, preset"):
        convert_to_preset(
            sources / "google",
            "bert_tiny_en_uncased",
            vocabulary=minilm_folder() / "vocab.txt",
        )
    assert _leftovers(cache) == []


def test_failure_while_writing_keeps_the_previous_preset(sources, cache, monkeypatch):
    convert_to_preset(sources / "huggingface", "tiny")
    before = (cache / "tiny" / "metadata.json").read_bytes()

    from keras_bert_impl.recipes import convert_to_preset as preset_conversion

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(preset_conversion, "file_sha256", fail)
    with pytest.raises(OSError, match="disk full"):
        convert_to_preset(sources / "google", "tiny")
    assert _leftovers(cache) == ["tiny"]
    assert (cache / "tiny" / "metadata.json").read_bytes() == before


def test_damaged_checkpoint_leaves_nothing(sources, tmp_path, cache):
    damaged = shutil.copytree(sources / "google", tmp_path / "damaged")
    (data,) = damaged.glob("bert_model.ckpt.data-*")
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(CheckpointMismatchError):
        convert_to_preset(damaged, "damaged")
    assert _leftovers(cache) == []


def test_truncated_or_corrupt_preset_weights_are_clear_errors(sources, cache):
    path = convert_to_preset(sources / "huggingface", "tiny")
    weights = path / "task.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or replaced.*keras-bert convert"):
        BertBackbone.from_preset("tiny")
    weights.write_bytes(b"\0" * len(data))
    with pytest.raises(ValueError, match="corrupt, truncated or does not fit"):
        BertBackbone.from_preset("tiny")


# A tiny stand-in for the shipped task presets: the generator writes it from
# table entries like PRESETS' (architecture and vocabulary of the test sources).
TINY_LABELS = ["O", "B-X", "I-X"]


@pytest.fixture
def task_presets(tmp_path, monkeypatch, sources):
    from keras_bert_impl.presets import catalog
    from keras_bert_impl.recipes import convert_to_preset as preset_conversion
    from keras_bert_impl.recipes import shipped_preset_conversion
    from keras_bert_impl.utils import preset_files
    from tests.huggingface_reference import TINY_CONFIG
    from tests.presets.shipped_presets import write_presets

    vocabulary = sources / "huggingface" / "vocab.txt"
    monkeypatch.setitem(
        catalog.VOCABULARIES,
        "tiny",
        {
            "vocabulary_sha256": file_sha256(vocabulary),
            "vocabulary_size": 97,
            "vocabulary_bytes": vocabulary.stat().st_size,
        },
    )
    architecture = {
        "vocabulary_size": 97,
        "num_layers": TINY_CONFIG["num_hidden_layers"],
        "num_heads": TINY_CONFIG["num_attention_heads"],
        "hidden_dim": TINY_CONFIG["hidden_size"],
        "intermediate_dim": TINY_CONFIG["intermediate_size"],
        "max_sequence_length": TINY_CONFIG["max_position_embeddings"],
    }
    monkeypatch.setitem(
        catalog.PRESETS,
        "tiny_base",
        {"architecture": architecture, "vocabulary": "tiny", "lowercase": True},
    )
    tasks = {
        "tiny_sst2": ("BertClassifier", {"num_classes": 2}, ["0", "1"]),
        "tiny_ner": ("BertTokenClassifier", {"num_classes": 3}, TINY_LABELS),
        "tiny_squad": ("BertQuestionAnswerer", {}, None),
    }
    for name, (class_name, arguments, labels) in tasks.items():
        task = {
            "class_name": class_name,
            "arguments": arguments,
            "labels": labels,
            "dataset": "tiny",
            "fine_tuning": {**catalog.SQUAD_RECIPE, "max_seq_length": 24},
            "citations": ["test"],
        }
        entry = catalog.fine_tuned_preset(
            "tiny_base", f"someone/{name}", task, "MIT", f"{name} for tests"
        )
        monkeypatch.setitem(catalog.PRESETS, name, entry)
    shipped = write_presets.write_shipped_presets(tmp_path / "shipped", list(tasks))
    for module in (preset_conversion, shipped_preset_conversion, preset_files):
        monkeypatch.setattr(module, "shipped_presets_dir", lambda: shipped)
    return shipped


def _huggingface_task(folder, architecture, vocabulary_folder, **config):
    model = random_bert_for_task(folder, architecture, seed=1, **config)
    shutil.copy(vocabulary_folder / "vocab.txt", folder / "vocab.txt")
    return model


def test_huggingface_tagger_into_a_task_preset(sources, task_presets, tmp_path, cache):
    from keras_bert_impl.models import BertTokenClassifier

    # The checkpoint numbers its classes in another order than the preset.
    id2label = {0: "B-X", 1: "O", 2: "I-X"}
    reference = _huggingface_task(
        tmp_path / "ner",
        "BertForTokenClassification",
        sources / "huggingface",
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    untrained = BertTokenClassifier.from_preset("tiny_ner", load_weights=False)
    assert (
        untrained.labels == TINY_LABELS
        and untrained.count_params()
        == (
            json.loads((task_presets / "tiny_ner" / "metadata.json").read_text())[
                "parameter_count"
            ]
        )
    )
    with pytest.raises(FileNotFoundError, match="--preset tiny_ner.*someone/tiny_ner"):
        BertTokenClassifier.from_preset("tiny_ner")

    path = convert_to_preset(tmp_path / "ner", "tiny_ner")
    assert path == cache / "tiny_ner" and _leftovers(cache) == ["tiny_ner"]
    assert {"task.json", "task.weights.h5", "vocab.txt"} <= set(_leftovers(path))
    task_json = json.loads((path / "task.json").read_text())
    assert task_json["labels"] == TINY_LABELS
    assert task_json["fine_tuning"]["max_seq_length"] == 24
    metadata = json.loads((path / "metadata.json").read_text())
    assert metadata["converted_from"]["task"] == "BertTokenClassifier"
    assert metadata["parameter_count"] == untrained.count_params()

    tagger = BertTokenClassifier.from_preset("tiny_ner")
    assert tagger.labels == TINY_LABELS
    assert tagger.preprocessor.sequence_length == 24
    batch = {k: v for k, v in random_batch(97, seed=5).items() if k != "mask_positions"}
    padding = batch["padding_mask"].astype(bool)
    expected = task_outputs(reference, batch)[..., [1, 0, 2]]  # as TINY_LABELS
    found = tagger.predict(batch, verbose=0)
    np.testing.assert_allclose(found[padding], expected[padding], atol=1e-5, rtol=0)
    backbone = BertBackbone.from_preset("tiny_ner")
    np.testing.assert_array_equal(
        backbone.get_weights()[0], tagger.backbone.get_weights()[0]
    )


def test_question_answerer_into_a_task_preset(sources, task_presets, tmp_path):
    from keras_bert_impl.models import BertQuestionAnswerer

    reference = _huggingface_task(
        tmp_path / "qa", "BertForQuestionAnswering", sources / "huggingface"
    )
    convert_to_preset(tmp_path / "qa", "tiny_squad")
    answerer = BertQuestionAnswerer.from_preset("tiny_squad")
    batch = {k: v for k, v in random_batch(97, seed=6).items() if k != "mask_positions"}
    padding = batch["padding_mask"].astype(bool)
    expected = task_outputs(reference, batch)
    found = answerer.predict(batch, verbose=0)
    for name in ("start_logits", "end_logits"):
        np.testing.assert_allclose(
            found[name][padding], expected[name][padding], atol=1e-5, rtol=0
        )


def test_head_of_the_wrong_shape_leaves_nothing(sources, task_presets, tmp_path, cache):
    _huggingface_task(
        tmp_path / "three",
        "BertForSequenceClassification",
        sources / "huggingface",
        num_labels=3,
    )
    with pytest.raises(
        CheckpointMismatchError,
        match=r"tensor 'classifier.weight' has shape \(3, 32\), expected \(2, 32\)",
    ):
        convert_to_preset(tmp_path / "three", "tiny_sst2")
    assert _leftovers(cache) == []
    with pytest.raises(ValueError, match="holds a BertClassifier head; preset "):
        convert_to_preset(tmp_path / "three", "tiny_ner")
    assert _leftovers(cache) == []


def test_finetune_run_into_a_task_preset(sources, task_presets, tmp_path, cache):
    from keras_bert_impl.models import BertClassifier

    source = _huggingface_task(
        tmp_path / "sst2", "BertForSequenceClassification", sources / "huggingface"
    )
    # A run directory as `keras-bert finetune` writes it: model/ (a task
    # preset), run_config.json and vocab.txt beside it.
    run = tmp_path / "run"
    trained = convert_to_preset(tmp_path / "sst2", str(tmp_path / "converted"))
    shutil.copytree(trained, run / "model")
    shutil.copy(sources / "huggingface" / "vocab.txt", run / "vocab.txt")
    (run / "model" / "vocab.txt").unlink()
    (run / "run_config.json").write_text(
        json.dumps({"label_list": ["0", "1"], "lowercase": True})
    )
    assert detect_source_format(run) == "keras_bert"
    convert_to_preset(run, "tiny_sst2")
    classifier = BertClassifier.from_preset("tiny_sst2")
    assert classifier.labels == ["0", "1"]
    batch = {k: v for k, v in random_batch(97, seed=7).items() if k != "mask_positions"}
    np.testing.assert_allclose(
        classifier.predict(batch, verbose=0),
        task_outputs(source, batch),
        atol=1e-5,
        rtol=0,
    )


def test_unknown_task_preset_lists_close_names():
    from keras_bert_impl.models import BertClassifier

    with pytest.raises(ValueError, match="Did you mean: bert_base_en_uncased_sst2"):
        BertClassifier.from_preset("bert_base_en_uncased_sst")


def test_google_release_in_a_bucket_into_a_preset_in_a_bucket(
    sources, tmp_path, cache, monkeypatch, capsys
):
    # google-research/bert's `--init_checkpoint=gs://.../bert_model.ckpt`:
    # a prefix whose config and vocabulary sit beside it.
    from keras_bert_impl.cli import main
    from keras_bert_impl.convert import from_google_checkpoint

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shutil.copytree(sources / "google", tmp_path / "bucket" / "release")
    source = f"file://{tmp_path}/bucket/release/bert_model.ckpt"
    preset = f"file://{tmp_path}/bucket/presets/tiny"
    assert main(["convert", f"--source={source}", f"--preset={preset}"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"preset": preset}
    assert (tmp_path / "bucket" / "presets" / "tiny" / "task.weights.h5").is_file()
    batch = random_batch(vocab_size=97)
    found = BertPretrainer.from_preset(preset).predict(batch, verbose=0)
    expected = from_google_checkpoint(sources / "google").predict(batch, verbose=0)
    np.testing.assert_allclose(found["mlm_logits"], expected["mlm_logits"], atol=1e-6)


@pytest.mark.parametrize("source_format", ["huggingface", "google"])
def test_a_checkpoint_folder_in_a_bucket_loads_through_from_preset(
    source_format, sources, tmp_path, cache, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shutil.copytree(sources / source_format, tmp_path / "bucket" / source_format)
    batch = random_batch(vocab_size=97, seed=5)
    found = BertPretrainer.from_preset(f"file://{tmp_path}/bucket/{source_format}")
    expected = BertPretrainer.from_preset(str(sources / source_format))
    np.testing.assert_allclose(
        found.predict(batch, verbose=0)["mlm_logits"],
        expected.predict(batch, verbose=0)["mlm_logits"],
        atol=1e-6,
    )
