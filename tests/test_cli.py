"""A user's mistake on the command line is one line; --debug shows the traceback."""

import pytest

from keras_bert_impl import cli


def _create_pretraining_data_args(shared_data, tmp_path, *extra):
    return [
        "create-pretraining-data",
        f"--input_file={shared_data / 'bert_sample_text' / 'sample_text.txt'}",
        f"--output_file={tmp_path / 'out.tfrecord'}",
        f"--vocab_file={tmp_path}",
        *extra,
    ]


def test_directory_as_vocab_file_is_one_line_without_traceback(
    shared_data, tmp_path, capsys
):
    assert cli.main(_create_pretraining_data_args(shared_data, tmp_path)) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-bert create-pretraining-data: error:")
    assert f"--vocab_file {tmp_path} is a directory" in error
    assert "\n" not in error and "Traceback" not in error


def test_debug_shows_the_traceback(shared_data, tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        cli.main(_create_pretraining_data_args(shared_data, tmp_path, "--debug"))
