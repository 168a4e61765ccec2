"""Input file lists: comma-separated paths and globs, as the original flags."""

import pytest

from keras_bert_impl.data.pretraining.input_files import expand_input_files
from keras_bert_impl.data.pretraining.input_files import split_paths


def test_split_paths():
    assert split_paths("a.txt, b.txt,,") == ["a.txt", "b.txt"]
    assert split_paths(["a.txt ", "b.txt"]) == ["a.txt", "b.txt"]


def test_globs_expand_sorted_and_plain_paths_stay(tmp_path):
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("x")
    files = expand_input_files(f"{tmp_path}/*.txt,{tmp_path / 'c.md'}")
    assert files == [str(tmp_path / n) for n in ("a.txt", "b.txt", "c.md")]


def test_a_pattern_matching_nothing_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no pretraining file matches.*none"):
        expand_input_files([tmp_path / "none-*.tfrecord"], kind="pretraining")
    with pytest.raises(FileNotFoundError, match="no input file matches.*missing"):
        expand_input_files(str(tmp_path / "missing.txt"))


def test_a_folder_is_refused_with_a_glob_to_use(tmp_path):
    with pytest.raises(ValueError, match=r"--input_file: .* is a folder.*/\*'"):
        expand_input_files(str(tmp_path), kind="pretraining")
