"""Inputs given as URLs are read from local copies, refreshed where they changed.

`file://` URLs take the same `tf.io.gfile` calls as `gs://` without a bucket.
"""

import os
import pathlib

import keras
import numpy as np
import pytest

from keras_bert_impl.utils.remote_inputs import local_copies
from keras_bert_impl.utils.remote_inputs import local_copy
from tests.utils.recorded_gfile import recorded_copies

pytest.importorskip("tensorflow")


@pytest.fixture(autouse=True)
def host_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def downloads(monkeypatch):
    """The names of the files downloaded."""
    return recorded_copies(monkeypatch, "source")


def _touch_later(path):
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))


def test_a_local_path_is_itself():
    assert local_copy("runs/sst2") == "runs/sst2"
    assert local_copy(None) is None
    assert local_copies("a.txt,b.txt") == "a.txt,b.txt"


def test_a_folder_is_copied_and_later_only_what_changed(tmp_path, downloads):
    bucket = tmp_path / "bucket" / "run"
    (bucket / "model").mkdir(parents=True)
    (bucket / "model" / "task.weights.h5").write_text("weights 1")
    (bucket / "run_config.json").write_text("{}")
    (bucket / "eval_results.json").write_text("{}")
    local = local_copy(f"file://{bucket}", "--model")
    assert local.is_dir() and not str(local).startswith(str(bucket))
    assert (local / "model" / "task.weights.h5").read_text() == "weights 1"
    assert sorted(downloads) == ["eval_results.json", "run_config.json"] + [
        "task.weights.h5"
    ]
    # The run was trained further (same size, newer) and lost a file.
    (bucket / "model" / "task.weights.h5").write_text("weights 2")
    _touch_later(bucket / "model" / "task.weights.h5")
    (bucket / "eval_results.json").unlink()
    downloads.clear()
    assert local_copy(f"file://{bucket}/") == local
    assert downloads == ["task.weights.h5"]
    assert (local / "model" / "task.weights.h5").read_text() == "weights 2"
    assert not (local / "eval_results.json").exists()


def test_a_runs_checkpoints_are_left_where_only_its_model_is_read(tmp_path, downloads):
    run = tmp_path / "bucket" / "run"
    for name in ("model/task.weights.h5", "checkpoints/ckpt-9.weights.h5", "vocab.txt"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(name)
    local = local_copy(f"file://{run}", "--model", skip=("checkpoints", "logs"))
    assert sorted(downloads) == ["task.weights.h5", "vocab.txt"]
    assert not (local / "checkpoints").exists()


def test_a_file_is_copied(tmp_path, downloads):
    (tmp_path / "inputs.jsonl").write_text('{"text_a": "fine"}\n')
    local = local_copy(f"file://{tmp_path}/inputs.jsonl")
    assert local.read_text() == '{"text_a": "fine"}\n'
    local_copy(f"file://{tmp_path}/inputs.jsonl")
    assert downloads == ["inputs.jsonl"]


def test_a_checkpoint_prefix_comes_with_its_config_and_vocabulary(tmp_path):
    import tensorflow as tf

    release = tmp_path / "bucket" / "uncased_L-2_H-32"
    release.mkdir(parents=True)
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    tf.train.Checkpoint(kernel=tf.Variable(kernel)).write(
        str(release / "bert_model.ckpt")
    )
    (release / "bert_config.json").write_text('{"hidden_size": 32}')
    (release / "vocab.txt").write_text("[PAD]\n")
    (release / "other_model.ckpt.index").write_text("another checkpoint")
    local = local_copy(f"file://{release}/bert_model.ckpt", "--init_checkpoint")
    assert local.name == "bert_model.ckpt"
    assert sorted(p.name for p in local.parent.iterdir() if p.name[0] != ".") == [
        "bert_config.json",
        "bert_model.ckpt.data-00000-of-00001",
        "bert_model.ckpt.index",
        "vocab.txt",
    ]
    reader = tf.train.load_checkpoint(str(local))
    np.testing.assert_array_equal(
        reader.get_tensor("kernel/.ATTRIBUTES/VARIABLE_VALUE"), kernel
    )


def test_nothing_there_is_an_error_naming_the_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^--model=file://.*/gone: expected"):
        local_copy(f"file://{tmp_path}/gone", "--model")


def test_comma_separated_urls_are_each_copied(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    copied = local_copies(f"file://{tmp_path}/a.txt,{tmp_path}/b.txt", "--corpus")
    first, second = copied.split(",")
    assert pathlib.Path(first).read_text() == "a.txt"
    assert second == f"{tmp_path}/b.txt"


def test_a_preset_in_a_bucket_loads_as_from_its_folder(tmp_path):
    from keras_bert_impl.models import BertBackbone
    from tests.bert_test_case import tiny_backbone

    backbone = tiny_backbone()
    backbone.save_to_preset(tmp_path / "bucket" / "tiny")
    loaded = BertBackbone.from_preset(f"file://{tmp_path}/bucket/tiny")
    for saved, read in zip(backbone.weights, loaded.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(read)
        )
