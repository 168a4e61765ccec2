"""`keras-bert convert --to FORMAT`, and what convert and export refuse to overwrite."""

import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.convert import from_google_checkpoint
from keras_bert_impl.convert import from_huggingface
from keras_bert_impl.recipes.convert_to_preset import convert_to_preset
from tests.convert.google_reference import tiny_vocabulary
from tests.huggingface_reference import random_batch
from tests.huggingface_reference import random_bert_for_pretraining


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny Hugging Face BertForPreTraining folder with its vocabulary."""
    folder = tmp_path_factory.mktemp("sources") / "huggingface"
    random_bert_for_pretraining(folder, hidden_act="gelu_new")
    (folder / "vocab.txt").write_text("\n".join(tiny_vocabulary(97)) + "\n")
    return folder


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_HOME", str(tmp_path / "home"))


def _mlm_logits(model):
    return model.predict(random_batch(vocab_size=97, seed=5), verbose=0)["mlm_logits"]


def test_to_huggingface_and_google_round_trip_through_the_cli(source, tmp_path):
    expected = _mlm_logits(from_huggingface(source))
    assert (
        main(
            [
                "convert",
                f"--source={source}",
                "--to=google",
                f"--output={tmp_path / 'google'}",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(
        _mlm_logits(from_google_checkpoint(tmp_path / "google")), expected, atol=1e-6
    )
    assert (tmp_path / "google" / "vocab.txt").read_text() == (
        source / "vocab.txt"
    ).read_text()
    assert (
        main(
            [
                "convert",
                f"--source={tmp_path / 'google'}",
                "--to=huggingface",
                f"--output={tmp_path / 'hf'}",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(
        _mlm_logits(from_huggingface(tmp_path / "hf")), expected, atol=1e-6
    )
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.BertTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert tokenizer.vocab_size == 97


def test_to_keras_hub_through_the_cli(source, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    from keras_bert_impl.convert import to_keras_hub  # noqa: F401  (the writer)

    backbone = from_huggingface(source, with_heads=False)
    assert (
        main(
            [
                "convert",
                f"--source={source}",
                "--to=keras_hub",
                f"--output={tmp_path / 'hub'}",
            ]
        )
        == 0
    )
    theirs = keras_hub.models.BertBackbone.from_preset(str(tmp_path / "hub"))
    batch = random_batch(vocab_size=97, seed=6)
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    np.testing.assert_allclose(
        np.asarray(theirs.predict(inputs, verbose=0)["sequence_output"]),
        backbone.predict(inputs, verbose=0)["sequence_output"],
        atol=1e-5,
    )


def test_wrong_flag_pairs_are_one_line_errors(source, tmp_path, capsys):
    assert (
        main(
            [
                "convert",
                f"--source={source}",
                "--to=google",
                f"--preset={tmp_path / 'x'}",
            ]
        )
        == 2
    )
    assert "--output=DIR" in capsys.readouterr().err
    assert main(["convert", f"--source={source}", f"--output={tmp_path}"]) == 2
    assert "--preset=NAME_OR_DIR" in capsys.readouterr().err


def test_convert_never_replaces_its_source_or_a_users_folder(source, tmp_path, capsys):
    # Issue 13 item 1: --preset=DIR with the source inside DIR deleted the source.
    parent = source.parent
    before = sorted(p.name for p in parent.iterdir())
    assert (
        main(["convert", f"--source={source}", f"--preset={parent}", "--overwrite"])
        == 2
    )
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.name for p in parent.iterdir()) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["convert", f"--source={source}", f"--preset={mine}"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep"
    assert (
        main(["convert", f"--source={source}", "--to=google", f"--output={mine}"]) == 2
    )
    assert (mine / "notes.txt").read_text() == "keep"
    convert_to_preset(source, str(mine), overwrite=True)
    assert (mine / "config.json").is_file()
